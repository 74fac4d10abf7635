"""Every JSON example of the contract decodes, and bad input is rejected naming the field."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from schemas.events import (
    BounceList,
    Contact,
    Delivery,
    InvalidEvent,
    Resubscribe,
    Tick,
    Unblock,
    Unsubscribe,
    decode_event,
)
from schemas.records import AddressRecord, ContactRecord

CONTRACT = Path(__file__).resolve().parent.parent / "docs" / "CONTRACT.md"
EXAMPLES = re.findall(r"```json\n(.*?)```", CONTRACT.read_text(), re.S)
INBOUND = {"delivery": Delivery, "unsubscribe": Unsubscribe, "resubscribe": Resubscribe, "unblock": Unblock,
           "bounce_list": BounceList, "contact": Contact, "tick": Tick}


def test_contract_has_all_examples():
    assert len(EXAMPLES) == 8


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.split('"')[3] if e.startswith('{"type"') else e[:20])
def test_every_contract_example_decodes(example):
    obj = msgspec.json.decode(example)
    if "type" in obj:
        event = decode_event(example.encode())
        assert type(event) is INBOUND[obj["type"]]
        assert msgspec.to_builtins(event)["type"] == obj["type"]
    elif "contact_id" in obj:
        record = msgspec.json.decode(example, type=ContactRecord)
        # the example leaves out `messages_total` (RULES.md §7), which the text describes
        assert msgspec.json.decode(msgspec.json.encode(record)) == {"messages_total": 0, **obj}
    else:
        record = msgspec.json.decode(example, type=AddressRecord)
        assert msgspec.json.decode(msgspec.json.encode(record)) == obj


def test_the_resubscribe_event_decodes_like_unsubscribe():
    event = decode_event(b'{"type":"resubscribe","event_id":"e","occurred_at":"2026-03-01T10:00:00Z",'
                         b'"channel":"email","address":"a@example.com"}')
    assert type(event) is Resubscribe


GOOD = {"type": "delivery", "event_id": "ev-1", "occurred_at": "2026-03-01T10:00:00Z", "channel": "email",
        "address": "a@example.com", "message_id": "m-1", "status": "delivered"}


def test_unknown_fields_are_ignored_and_optional_fields_may_be_null():
    event = decode_event(msgspec.json.encode(dict(GOOD, extra={"x": 1}, sendout_id=None, contact_id=None)))
    assert event.sendout_id is None and event.message_id == "m-1"


def test_offsets_are_read_as_instants():
    event = decode_event(msgspec.json.encode(dict(GOOD, occurred_at="2026-03-01T11:30:00+01:30")))
    assert msgspec.json.encode(event.occurred_at) == b'"2026-03-01T10:00:00Z"'


@pytest.mark.parametrize("change,field", [
    ({"event_id": 5}, "$.event_id"),
    ({"event_id": ""}, "$.event_id"),
    ({"occurred_at": "yesterday"}, "$.occurred_at"),
    ({"occurred_at": "2026-03-01T10:00:00"}, "$.occurred_at"),
    ({"channel": "fax"}, "$.channel"),
    ({"status": "bounced"}, "$.status"),
    ({"channel": "sms", "status": "opened"}, "$.status"),
    ({"channel": "sms", "status": "deferred"}, "$.status"),
    ({"channel": "sms", "status": "complained"}, "$.status"),
    ({"channel": "email", "status": "undelivered"}, "$.status"),
    ({"type": "bounce"}, "$.type"),
    ({"sendout_id": 7}, "$.sendout_id"),
    ({"contact_id": ""}, "$.contact_id"),
])
def test_invalid_event_is_rejected_naming_the_field(change, field):
    with pytest.raises(InvalidEvent) as exc:
        decode_event(msgspec.json.encode(dict(GOOD, **change)))
    assert field in str(exc.value)


@pytest.mark.parametrize("missing", ["event_id", "occurred_at", "channel", "address", "message_id", "status"])
def test_missing_required_field_is_named(missing):
    body = {k: v for k, v in GOOD.items() if k != missing}
    with pytest.raises(InvalidEvent, match=f"`{missing}`"):
        decode_event(msgspec.json.encode(body))


def test_missing_type_not_json_and_huge_payloads_are_rejected():
    with pytest.raises(InvalidEvent, match="`type`"):
        decode_event(b'{"event_id": "x"}')
    with pytest.raises(InvalidEvent, match="not valid JSON"):
        decode_event(b'{"type": "delivery",')
    with pytest.raises(InvalidEvent, match="over the limit"):
        decode_event(msgspec.json.encode(dict(GOOD, padding="x" * 70_000)))


def test_bounce_list_requires_every_field_and_a_known_list():
    base = {"type": "bounce_list", "event_id": "e", "occurred_at": "2026-03-01T08:00:00Z", "channel": "sms",
            "address": "+46701234567", "list": "bounced", "source": "x.csv"}
    with pytest.raises(InvalidEvent, match=r"\$.list"):
        decode_event(msgspec.json.encode(dict(base, list="spam")))
    with pytest.raises(InvalidEvent, match="`source`"):
        decode_event(msgspec.json.encode({k: v for k, v in base.items() if k != "source"}))
