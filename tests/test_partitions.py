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

from partitions.address import AddressEntry, AddressProcessor, pending_deadlines
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


def run_pipeline(lines: list[bytes], partitions: int, rng: random.Random, restarts: bool = True, keep: int = 0):
    """Route a log through address and contact partitions like the live pipeline does. With
    `keep`, the address tables hold encoded entries, as RocksDB does, and the processors keep
    that many decoded between batches, as the worker's do."""
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

    def processor(p: int, clock=None, deadlines=None) -> AddressProcessor:
        table = address_tables[p]
        if not keep:
            return AddressProcessor(policy, table.get, clock, deadlines)

        def load(key):
            value = table.get(key)
            return _decode_entry(value) if value is not None else None

        return AddressProcessor(policy, load, clock, deadlines, keep=keep)

    def store(p: int, entries) -> None:
        address_tables[p].update({k: msgspec.json.encode(e) for k, e in entries.items()} if keep else entries)

    def stored(p: int):
        table = address_tables[p]
        return ((k, _decode_entry(v)) for k, v in table.items()) if keep else table.items()

    processors = [processor(p) for p in range(partitions)]
    suppression_topic: dict[str, msgspec.Struct] = {}
    contact_topic: dict[str, msgspec.Struct] = {}
    while any(address_q) or any(contact_q):
        queues = [("a", p) for p in range(partitions) if address_q[p]] + [("c", p) for p in range(partitions) if contact_q[p]]
        side, p = rng.choice(queues)
        source = address_q[p] if side == "a" else contact_q[p]
        batch = [source.popleft() for _ in range(min(len(source), rng.randint(1, 8)))]
        if side == "a":
            if restarts and rng.random() < 0.05:  # a restart: clock and deadlines from the tables
                processors[p] = processor(p, processors[p].clock, pending_deadlines(stored(p)))
            result = processors[p].process(batch)
            store(p, result.entries)
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
    return suppression_topic, contact_topic, [dict(stored(p)) for p in range(partitions)]


_decode_entry = msgspec.json.Decoder(AddressEntry).decode


def assert_equals_replay(lines, partitions, seed, keep=0):
    suppressions, cards, tables = run_pipeline(lines, partitions, random.Random(seed), keep=keep)
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


@settings(max_examples=50, deadline=None)
@given(mixed_logs(), st.integers(1, 3), st.integers(0, 1000), st.integers(1, 4))
def test_entries_kept_between_batches_change_nothing(events, partitions, seed, keep):
    """The worker's processors keep the latest entries they changed decoded, instead of
    reading them back; stored entries are encoded, as in RocksDB."""
    assert_equals_replay([msgspec.json.encode(e) for e in events], partitions, seed, keep=keep)


def test_a_processor_keeps_the_latest_entries_it_changed():
    loads = []
    policy = Policy()

    def load(key):
        loads.append(key)
        return None

    processor = AddressProcessor(policy, load, keep=2)

    def sent(n: int, address: str):
        return decode_event(msgspec.json.encode({
            "type": "delivery", "event_id": f"e-{n}", "occurred_at": "2026-03-01T10:00:00Z", "channel": "email",
            "address": address, "message_id": f"m-{n}", "status": "sent"}))

    first = processor.process([sent(1, "a@example.com"), sent(2, "b@example.com"), sent(3, "c@example.com")])
    assert list(processor.kept) == ["email:b@example.com", "email:c@example.com"]
    assert processor.kept["email:c@example.com"] is first.entries["email:c@example.com"]
    loads.clear()
    processor.process([sent(4, "c@example.com"), sent(5, "a@example.com")])
    assert loads == ["email:a@example.com"]  # c was kept; a, the oldest, was not
    assert list(processor.kept) == ["email:c@example.com", "email:a@example.com"]


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
