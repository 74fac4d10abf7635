"""The replay's own bookkeeping: what it does for speed must not show in its results."""

from __future__ import annotations

import gc
from datetime import timedelta
from pathlib import Path

from replay.runner import fold, write_outputs

from tests.helpers import T0, at, contact, delivery, lines, tick

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample.jsonl"


def test_replay_leaves_the_garbage_collector_as_it_found_it(tmp_path):
    assert gc.isenabled()
    result = fold(SAMPLE.read_bytes().splitlines())
    assert gc.isenabled() and gc.get_freeze_count() == 0
    write_outputs(result, tmp_path)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        fold(SAMPLE.read_bytes().splitlines())
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_one_contact_record_equals_its_line_among_all():
    replayed = fold(SAMPLE.read_bytes().splitlines())
    cards = [card for _, card in replayed.contact_records()]
    assert len(cards) == len(replayed.contacts) > 0
    assert any(card.messages for card in cards)
    for card in cards:
        assert replayed.contact_record(card.contact_id) == card


def test_an_address_written_several_ways_is_one_address_and_ids_are_per_address():
    replayed = fold(lines([
        delivery("Anna@Example.com", "m-1", "soft_bounce", at(0), event_id="ev-1"),
        delivery(" anna@example.com ", "m-2", "soft_bounce", at(1), event_id="ev-2"),
        delivery("ANNA@EXAMPLE.COM", "m-2", "soft_bounce", at(1), event_id="ev-2"),  # a duplicate
        delivery("bo@example.com", "m-3", "soft_bounce", at(1), event_id="ev-2"),  # same id, other address
    ]))
    assert sorted(replayed.addresses) == ["email:anna@example.com", "email:bo@example.com"]
    assert replayed.addresses["email:anna@example.com"].record().soft_bounces == 2
    assert replayed.addresses["email:bo@example.com"].record().soft_bounces == 1


def test_a_deadline_moved_earlier_fires_once_at_the_earlier_time():
    replayed = fold(lines([
        delivery("anna@example.com", "m-1", "deferred", at(5), contact_id="c-1"),
        delivery("anna@example.com", "m-1", "deferred", at(0)),  # a late report: the deadline moves to 72 h
        tick(at(72)),
        tick(at(100)),  # passes the first deadline (77 h), now stale
        contact("c-1", at(0), emails=["anna@example.com"]),
    ]))
    card = replayed.contact_record("c-1")
    assert [(m.status, m.updated_at) for m in card.messages] == [("soft_bounce", T0 + timedelta(hours=72))]
    assert card.addresses[0].soft_bounces == 1
