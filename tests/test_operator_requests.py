"""What the operator API checks before it publishes anything (streams/operator_api.py): the
fields of an unblock and their limits, the pipeline's own event limit, and a producer that
fails (a 503, never a 500). The endpoints on a real broker: tests/integration/test_operator_api.py."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

import schemas.events
from schemas.events import Unblock, decode_event
from ingress.publisher import InboundPublisher
from partitions.routing import Router
from projections.normalise import AddressNormaliser
from streams.operator_api import (
    ACTOR_MAX_CHARS,
    NOTE_MAX_CHARS,
    Refused,
    answered,
    from_broker,
    read_body,
    unblock_event,
)

AT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def unblock(body) -> tuple[Unblock, bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return unblock_event("email", "anna@example.com", raw, now=AT, event_id="unblock-1")


def refusal(body) -> tuple[int, str]:
    with pytest.raises(Refused) as caught:
        unblock(body)
    return caught.value.status, caught.value.reason


def test_an_unblock_the_pipeline_accepts_as_it_was_asked():
    event, raw = unblock({"actor": " ops@shop.example ", "note": " mailbox restored\n", "extra": 1})
    assert (event.actor, event.note) == ("ops@shop.example", "mailbox restored")
    assert decode_event(raw) == event


def test_a_70_kb_note_is_refused_naming_the_field_and_the_limit():
    assert refusal({"actor": "ops", "note": "x" * 70_000}) == (
        400, f"note is 70000 characters, over the limit of {NOTE_MAX_CHARS} - at `$.note`")


def test_a_note_at_the_limit_is_accepted_and_far_below_the_event_limit():
    # the worst case for the event's size: characters JSON writes as six bytes each
    event, raw = unblock({"actor": "\x01" * ACTOR_MAX_CHARS, "note": "\x01" * NOTE_MAX_CHARS})
    assert len(raw) < schemas.events.MAX_EVENT_BYTES / 2
    assert decode_event(raw) == event


def test_an_actor_over_its_limit_is_refused():
    assert refusal({"actor": "a" * (ACTOR_MAX_CHARS + 1), "note": "n"}) == (
        400, f"actor is {ACTOR_MAX_CHARS + 1} characters, over the limit of {ACTOR_MAX_CHARS} - at `$.actor`")


@pytest.mark.parametrize("body, field", [
    ({"actor": "ops"}, "note"),
    ({"actor": "ops", "note": None}, "note"),
    ({"actor": "ops", "note": "  \n "}, "note"),
    ({"note": "why"}, "actor"),
    ({"actor": "", "note": "why"}, "actor"),
])
def test_the_note_and_the_actor_are_required(body, field):
    assert refusal(body) == (400, f"{field} is required - at `${'.' + field}`")


@pytest.mark.parametrize("body, where", [
    (b"not json", "JSON"),
    (b"[1, 2]", "Expected `object`, got `array`"),
    (b'{"actor": 7, "note": "n"}', "$.actor"),
])
def test_a_body_that_is_not_the_object_is_refused(body, where):
    status, reason = refusal(body)
    assert status == 400 and where in reason


def test_an_event_over_the_pipeline_s_limit_is_refused_with_that_limit(monkeypatch):
    # the check is the worker's own decoder: lower its limit to reach it with legal fields
    monkeypatch.setattr(schemas.events, "MAX_EVENT_BYTES", 200)
    status, reason = refusal({"actor": "ops", "note": "n" * 150})
    assert status == 400
    assert reason.startswith("the pipeline would refuse this unblock event: event is ")
    assert reason.endswith("bytes, over the limit of 200")


def test_a_body_over_the_limit_is_refused_413():
    class Content:
        async def iter_chunked(self, n):
            for _ in range(20):
                yield b"x" * n

    with pytest.raises(Refused) as caught:
        asyncio.run(read_body(Content(), limit=100_000))
    assert caught.value.status == 413 and "100000 bytes" in caught.value.reason


@pytest.mark.parametrize("error", [KafkaConnectionError("no broker at 127.0.0.1:1"),
                                   MessageSizeTooLargeError(), OSError("connection reset")])
def test_a_producer_error_is_a_503_with_its_reason(error):
    async def send():
        raise error

    with pytest.raises(Refused) as caught:
        asyncio.run(from_broker(send()))
    assert caught.value.status == 503
    assert caught.value.reason.startswith(f"the broker did not take the event ({type(error).__name__}")


def test_a_broker_that_never_acknowledges_is_a_503():
    async def never():
        await asyncio.Event().wait()

    with pytest.raises(Refused) as caught:
        asyncio.run(from_broker(never(), timeout=0.05))
    assert caught.value.status == 503 and "TimeoutError" in caught.value.reason


def test_an_acknowledgement_is_passed_on():
    async def ack():
        return "record metadata"

    assert asyncio.run(from_broker(ack())) == "record metadata"


@pytest.mark.parametrize("fails", ["sending", "acknowledging"])
def test_a_producer_error_through_the_publisher_is_a_503_with_its_reason(fails):
    async def send(topic, value, partition, headers):
        if fails == "sending":
            raise KafkaConnectionError("no broker at 127.0.0.1:1")
        ack = asyncio.get_running_loop().create_future()
        ack.set_exception(MessageSizeTooLargeError())
        return ack

    async def publish():
        sends = InboundPublisher(answered(send), "events", Router(4, AddressNormaliser())).window()
        await sends.publish(unblock({"actor": "ops", "note": "restored"})[0])
        await sends.flush()

    with pytest.raises(Refused) as caught:
        asyncio.run(publish())
    error = "KafkaConnectionError" if fails == "sending" else "MessageSizeTooLargeError"
    assert caught.value.status == 503
    assert caught.value.reason.startswith(f"the broker did not take the event ({error}")
