"""The commit gate: faust's commits never fall between a batch's sends and its bookkeeping."""

import asyncio

from streams.commit_gate import CommitGate


def test_a_commit_waits_for_the_batch_in_flight_and_a_new_batch_waits_for_the_commit():
    async def scenario():
        gate, log = CommitGate(), []

        async def batch(name: str, steps: int) -> None:
            await gate.enter()
            try:
                for _ in range(steps):
                    log.append(name)
                    await asyncio.sleep(0)
            finally:
                gate.leave()

        async def commit() -> str:
            log.append("commit")
            return "done"

        first = asyncio.create_task(batch("first", 5))
        await asyncio.sleep(0)
        committing = asyncio.create_task(gate.commit(commit))
        await asyncio.sleep(0)
        second = asyncio.create_task(batch("second", 2))
        await asyncio.gather(first, second)
        assert await committing == "done"
        return log

    assert asyncio.run(scenario()) == ["first"] * 5 + ["commit"] + ["second"] * 2
