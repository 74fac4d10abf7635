"""The pipeline's partition processors, routed in memory: whatever the interleaving of
partitions and the batch sizes, the published suppressions and contact cards equal replay."""

from __future__ import annotations

import random
from collections import deque
from pathlib import Path

import msgspec
import pytest

from bounceback.replay import fold_log
from projections.intake import normalise_event
from projections.normalize import AddressNormalizer
from projections.policy import Policy
from schemas.events import Contact, Tick, decode_event
from streams.address_partition import AddressBatch, pending_deadlines
from streams.contact_partition import ContactBatch
from streams.partitioning import partition_for
from tests.test_properties import mixed_logs

from hypothesis import given, settings
from hypothesis import strategies as st

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample.jsonl"


def run_pipeline(lines: list[bytes], partitions: int, rng: random.Random, restarts: bool = True):
    """Route a log through address and contact partitions like the live pipeline does."""
    policy = Policy()
    normalise = AddressNormalizer()
    address_q = [deque() for _ in range(partitions)]
    contact_q = [deque() for _ in range(partitions)]
    for raw in lines:
        try:
            event = normalise_event(decode_event(raw), normalise)
        except Exception:
            continue
        if type(event) is Tick:
            for q in address_q:
                q.append(event)
        elif type(event) is Contact:
            contact_q[partition_for(event.contact_id, partitions)].append(event)
        else:
            address_q[partition_for(f"{event.channel}:{event.address}", partitions)].append(event)

    address_tables = [{} for _ in range(partitions)]
    contact_tables = [{} for _ in range(partitions)]
    clocks = [None] * partitions
    deadlines = [pending_deadlines([]) for _ in range(partitions)]
    suppression_topic: dict[str, msgspec.Struct] = {}
    contact_topic: dict[str, msgspec.Struct] = {}
    while any(address_q) or any(contact_q):
        queues = [("a", p) for p in range(partitions) if address_q[p]] + [("c", p) for p in range(partitions) if contact_q[p]]
        side, p = rng.choice(queues)
        source = address_q[p] if side == "a" else contact_q[p]
        batch = [source.popleft() for _ in range(min(len(source), rng.randint(1, 8)))]
        if side == "a":
            if restarts and rng.random() < 0.05:  # a restart: the deadline index is rebuilt from the table
                deadlines[p] = pending_deadlines(address_tables[p].items())
            work = AddressBatch(policy, address_tables[p].get, clocks[p], deadlines[p])
            for command in batch:
                work.apply(command)
            result = work.finish()
            address_tables[p].update(result.entries)
            clocks[p] = result.clock
            for record in result.suppressions:
                suppression_topic[f"{record.channel}:{record.address}"] = record
            for contact_id, command in result.contact_commands:
                contact_q[partition_for(contact_id, partitions)].append(command)
        else:
            work = ContactBatch(contact_tables[p].get)
            for command in batch:
                work.apply(command)
            result = work.finish()
            contact_tables[p].update(result.entries)
            for card in result.cards:
                contact_topic[card.contact_id] = card
            for link in result.links:
                address_q[partition_for(f"{link.channel}:{link.address}", partitions)].append(link)
    return suppression_topic, contact_topic, address_tables


def assert_equals_replay(lines, partitions, seed):
    suppressions, cards, tables = run_pipeline(lines, partitions, random.Random(seed))
    ledger = fold_log(lines).ledger
    expected = {k: r for k, r in ledger.address_records().items() if r.reasons}
    assert {k: r for k, r in suppressions.items() if r.reasons} == expected
    live_addresses = {k: e.state.record() for t in tables for k, e in t.items() if e.state is not None}
    assert live_addresses == ledger.address_records()
    assert {c.contact_id: c for c in ledger.contact_records()} == cards


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("partitions", [1, 3])
def test_the_sample_log_through_partitions_equals_replay(partitions, seed):
    assert_equals_replay(SAMPLE.read_bytes().splitlines(), partitions, seed)


@settings(max_examples=100, deadline=None)
@given(mixed_logs(), st.integers(1, 4), st.integers(0, 1000))
def test_any_log_through_partitions_equals_replay(events, partitions, seed):
    assert_equals_replay([msgspec.json.encode(e) for e in events], partitions, seed)
