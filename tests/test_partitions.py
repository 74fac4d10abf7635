"""The partition processors as the live topology drives them, routed in memory: whatever
the interleaving of partitions, the batch sizes and the restarts, the published
suppressions and contact cards equal replay (which drives the same processors in log order)."""

from __future__ import annotations

import random
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

import msgspec
import pytest

from partitions.address import AddressProcessor, pending_deadlines
from partitions.commands import MessageUpdate
from partitions.contact import ContactProcessor
from partitions.routing import ADDRESS, CONTACT, Router, partition_for
from projections.normalise import AddressNormaliser
from projections.policy import Policy
from replay.runner import fold
from schemas.events import decode_event
from schemas.records import MessageRecord
from tests.test_properties import mixed_logs

from hypothesis import given, settings
from hypothesis import strategies as st

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample.jsonl"


def run_pipeline(lines: list[bytes], partitions: int, rng: random.Random, restarts: bool = True):
    """Route a log through address and contact partitions like the live pipeline does."""
    policy = Policy()
    router = Router(partitions, AddressNormaliser())
    address_q = [deque() for _ in range(partitions)]
    contact_q = [deque() for _ in range(partitions)]
    for raw in lines:
        try:
            event = decode_event(raw)
            where, p = router.route(event)
        except Exception:
            continue
        if where is ADDRESS:
            address_q[p].append(event)
        elif where is CONTACT:
            contact_q[p].append(event)
        else:
            for q in address_q:
                q.append(event)

    address_tables = [{} for _ in range(partitions)]
    contact_tables = [{} for _ in range(partitions)]
    processors = [AddressProcessor(policy, table.get) for table in address_tables]
    suppression_topic: dict[str, msgspec.Struct] = {}
    contact_topic: dict[str, msgspec.Struct] = {}
    while any(address_q) or any(contact_q):
        queues = [("a", p) for p in range(partitions) if address_q[p]] + [("c", p) for p in range(partitions) if contact_q[p]]
        side, p = rng.choice(queues)
        source = address_q[p] if side == "a" else contact_q[p]
        batch = [source.popleft() for _ in range(min(len(source), rng.randint(1, 8)))]
        if side == "a":
            if restarts and rng.random() < 0.05:  # a restart: clock and deadlines from the tables
                processors[p] = AddressProcessor(policy, address_tables[p].get, processors[p].clock,
                                                 pending_deadlines(address_tables[p].items()))
            result = processors[p].process(batch)
            address_tables[p].update(result.entries)
            for record in result.suppressions:
                suppression_topic[f"{record.channel}:{record.address}"] = record
            for contact_id, command in result.contact_commands:
                contact_q[partition_for(contact_id, partitions)].append(command)
        else:
            result = ContactProcessor(contact_tables[p].get).process(batch)
            contact_tables[p].update(result.entries)
            for card in result.cards:
                contact_topic[card.contact_id] = card
            for link in result.links:
                address_q[partition_for(f"{link.channel}:{link.address}", partitions)].append(link)
    return suppression_topic, contact_topic, address_tables


def assert_equals_replay(lines, partitions, seed):
    suppressions, cards, tables = run_pipeline(lines, partitions, random.Random(seed))
    replayed = fold(lines)  # its own partition count: the outputs do not depend on it
    addresses = dict(replayed.address_records())
    assert {k: r for k, r in suppressions.items() if r.reasons} == {k: r for k, r in addresses.items() if r.reasons}
    live_addresses = {k: e.state.record() for t in tables for k, e in t.items() if e.state is not None}
    assert live_addresses == addresses
    assert dict(replayed.contact_records()) == cards


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("partitions", [1, 3])
def test_the_sample_log_through_partitions_equals_replay(partitions, seed):
    assert_equals_replay(SAMPLE.read_bytes().splitlines(), partitions, seed)


@settings(max_examples=100, deadline=None)
@given(mixed_logs(), st.integers(1, 4), st.integers(0, 1000))
def test_any_log_through_partitions_equals_replay(events, partitions, seed):
    assert_equals_replay([msgspec.json.encode(e) for e in events], partitions, seed)


def test_a_new_message_said_twice_is_counted_once():
    """A batch of the address partition processed again says `new` again (at-least-once, or a
    restart that read its offsets before their transaction completed)."""
    stored = {}
    record = MessageRecord("m-1", "email", "anna@example.com", None, "sent", "Sent", None, None,
                           datetime(2026, 3, 1, tzinfo=timezone.utc))
    update = MessageUpdate("c-1", "email:anna@example.com", record, new=True)
    for _ in range(2):
        result = ContactProcessor(stored.get).process([update])
        stored.update(result.entries)
    assert stored["c-1"].messages_total == 1
