"""The intake (streams/intake.py): an agent's records, in batches, in fetch order."""

from __future__ import annotations

import asyncio

from streams.intake import Intake


def test_a_batch_waits_for_the_first_record_then_the_window_and_keeps_each_partitions_order():
    async def scenario():
        intake = Intake(high=100)
        taking = asyncio.create_task(intake.take(5, within=0.2))
        await asyncio.sleep(0.01)
        assert not taking.done(), "nothing to take yet"
        intake.put("a", [1, 2])
        await asyncio.sleep(0.01)
        assert not taking.done(), "the window is open for more"
        intake.put("b", [10])
        intake.put("a", [3, 4])
        batch = await taking
        assert batch == [("a", [1, 2, 3, 4]), ("b", [10])]
        assert len(intake) == 0

        intake.put("a", [5, 6, 7])
        intake.put("b", [11, 12])
        assert await intake.take(4, within=0) == [("a", [5, 6, 7]), ("b", [11])], "never more than asked"
        assert await intake.take(4, within=0) == [("b", [12])]
        intake.put("a", [8])
        intake.put("a", [9])
        assert await intake.take(1, within=0) == [("a", [8])]
        assert await intake.take(1, within=0) == [("a", [9])]

    asyncio.run(scenario())


def test_a_partition_piling_up_is_reported_full_and_drained_once_taken_or_cleared():
    events = []

    async def scenario():
        intake = Intake(high=4, on_full=lambda tp: events.append(("full", tp)),
                        on_drained=lambda tp: events.append(("drained", tp)))
        intake.put("a", [1, 2, 3])
        intake.put("a", [4, 5])
        intake.put("b", [1])
        assert events == [("full", "a")]
        await intake.take(10, within=0)
        assert events == [("full", "a"), ("drained", "a")]
        intake.put("b", [2, 3, 4, 5])
        intake.clear()
        assert events[-2:] == [("full", "b"), ("drained", "b")]
        assert len(intake) == 0
        taking = asyncio.create_task(intake.take(10, within=0))
        await asyncio.sleep(0.01)
        assert not taking.done(), "cleared: nothing left to take"
        intake.put("c", [1])
        assert await taking == [("c", [1])]

    asyncio.run(scenario())
