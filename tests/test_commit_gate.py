"""The commit gate: faust's commits never fall between a batch's sends and its acks."""

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


def test_guard_routes_the_consumers_commits_through_the_gate_once_and_flushes_first():
    class Consumer:
        calls = 0

        async def force_commit(self, topics=None):
            self.calls += 1
            return True

    async def scenario():
        gate, consumer, flushed = CommitGate(), Consumer(), []

        async def flush():
            flushed.append(consumer.calls)

        gate.guard(consumer, flush)
        gate.guard(consumer, flush)
        await gate.enter()
        pending = asyncio.create_task(consumer.force_commit())
        await asyncio.sleep(0.01)
        assert consumer.calls == 0, "the commit waits while a batch is in flight"
        gate.leave()
        assert await pending is True
        return consumer.calls, flushed

    assert asyncio.run(scenario()) == (1, [0]), "one commit, flushed once before it"
