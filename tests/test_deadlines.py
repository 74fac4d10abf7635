"""A tick's cost follows the deadlines it fires, not the ones pending."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from projections.addresses import new_address
from projections.messages import MessageState
from projections.policy import Policy
from schemas.events import Tick
from partitions.address import AddressEntry, AddressProcessor, pending_deadlines

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _table(addresses: int, per_address: int) -> dict[str, AddressEntry]:
    table = {}
    for i in range(addresses):
        state = new_address("email", f"user{i}@example.com", T0)
        for m in range(per_address):
            state.messages[f"m-{m}"] = MessageState(pending="deferred", pending_at=T0,
                                                    deadline=T0 + timedelta(hours=72, seconds=i * per_address + m))
        table[f"email:user{i}@example.com"] = AddressEntry(state=state)
    return table


def test_a_tick_loads_only_the_addresses_whose_deadlines_are_due():
    table = _table(20_000, 5)  # 100,000 pending deadlines
    queue = pending_deadlines(table.items())
    assert len(queue) == 100_000
    loads = []

    def load(key):
        loads.append(key)
        return table.get(key)

    processor = AddressProcessor(Policy(), load, None, queue)
    result = processor.process([Tick(at=T0 + timedelta(hours=72, seconds=9))])  # the first 10 deadlines are due
    assert result.deadlines_fired == 10
    assert len(loads) == 2 and len(result.entries) == 2
    assert len(queue) == 100_000 - 10
    fired = [m for e in result.entries.values() for m in e.state.messages.values() if m.status == "soft_bounce"]
    assert len(fired) == 10
