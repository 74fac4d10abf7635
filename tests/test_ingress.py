"""The one publisher to the inbound topic (ingress/), on a producer that records what it is
given and acknowledges when the test says so: where each event goes, what is refused
before anything is sent, the window of unacknowledged sends, and the order of events and
dead letters. On a real broker: the integration tests of every command and route that
publishes (publish, demo, gateway, import-bounce-list, ingest-receipts, plan-sendout,
the operator API)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

import schemas.events
from ingress.bounce_list import import_rows
from ingress.publisher import DeadLetter, InboundPublisher
from partitions.routing import Router, partition_for
from projections.bounce_list import BounceListReader
from projections.normalise import AddressNormaliser, address_key
from schemas.events import InvalidEvent, decode_event
from tests.helpers import T0, at, contact, delivery, lines, tick

PARTITIONS = 4


class Producer:
    """A producer's `send`: records (topic, value, partition, headers); each acknowledgement
    is a future the test resolves (or fails) with `acknowledge`."""

    def __init__(self, auto: bool = True) -> None:
        self.records: list[tuple] = []
        self.acks: list[asyncio.Future] = []
        self.auto = auto

    async def send(self, topic, value, partition, headers):
        self.records.append((topic, value, partition, headers))
        ack = asyncio.get_running_loop().create_future()
        if self.auto:
            ack.set_result(len(self.records))
        self.acks.append(ack)
        return ack

    def unacknowledged(self) -> int:
        return sum(not ack.done() for ack in self.acks)

    def acknowledge(self, error: Exception | None = None) -> None:
        for ack in self.acks:
            if not ack.done():
                ack.set_exception(error) if error else ack.set_result(None)

    def to(self, topic: str) -> list[tuple]:
        return [r for r in self.records if r[0] == topic]


def run(coroutine):
    """Run a test's coroutine; one that waits for an acknowledgement never given fails."""
    return asyncio.run(asyncio.wait_for(coroutine, 10))


async def until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.001)


def publisher(producer: Producer, window: int = 1000, **kwargs) -> InboundPublisher:
    return InboundPublisher(producer.send, "events", Router(PARTITIONS, AddressNormaliser()), "dead-letters",
                            window=window, **kwargs)


def decoded(event: dict):
    return decode_event(msgspec.json.encode(event))


def test_each_event_goes_to_the_partition_that_owns_it_normalised_and_a_tick_to_every_partition():
    producer = Producer()
    log = [delivery(" Anna@Example.com ", "m-1", "hard_bounce", at(0)),
           delivery("070-123 45 67", "m-2", "delivered", at(1), channel="sms"),
           contact("c-7", at(2), emails=["Bob@Example.org"]),
           tick(at(3))]
    published, rejected = run(publisher(producer).publish_lines(lines(log)))
    assert (published, rejected) == (4, [])
    sent = [(msgspec.json.decode(value), partition) for _, value, partition, _ in producer.to("events")]
    anna, phone, card = sent[0], sent[1], sent[2]
    assert anna == (dict(log[0], address="anna@example.com", sendout_id=None, contact_id=None, bounce_reason=None,
                         bounce_code=None), partition_for(address_key("email", "anna@example.com"), PARTITIONS))
    assert phone[0]["address"] == "+46701234567"
    assert phone[1] == partition_for(address_key("sms", "+46701234567"), PARTITIONS)
    assert card[0]["emails"] == ["bob@example.org"] and card[1] == partition_for("c-7", PARTITIONS)
    assert [(event["type"], p) for event, p in sent[3:]] == [("tick", p) for p in range(PARTITIONS)]


def test_invalid_lines_are_reported_with_their_number_and_reason_and_nothing_of_them_is_sent():
    producer = Producer()
    log = lines([delivery("a@example.com", "m-1", "sent", at(0))]) + [
        b"", b'{"type": "delivery"', msgspec.json.encode(delivery("not-an-address", "m-2", "sent", at(1))),
        msgspec.json.encode(delivery("+46701234567", "m-3", "opened", at(1), channel="sms")),
        msgspec.json.encode(contact("c-1", at(2), phones=["12"]))]
    published, rejected = run(publisher(producer).publish_lines(log))
    assert published == 1 and len(producer.records) == 1
    assert [r.line for r in rejected] == [3, 4, 5, 6]
    assert "not valid JSON" in rejected[0].error
    assert rejected[1].error.endswith("at `$.address`")
    assert "$.status" in rejected[2].error
    assert rejected[3].error.endswith("at `$.phones[0]`")


def test_an_event_the_worker_would_refuse_is_refused_before_anything_is_sent(monkeypatch):
    # the check is the worker's own decoder, limit included: lower the limit to reach it
    monkeypatch.setattr(schemas.events, "MAX_EVENT_BYTES", 200)
    producer = Producer()
    event = schemas.events.BounceList(event_id="e-1", occurred_at=T0, channel="email", address="a@example.com",
                                      list="bounced", source="s" * 300)

    async def publish():
        await publisher(producer).window().publish(event)

    with pytest.raises(InvalidEvent, match="over the limit of 200"):
        run(publish())
    assert producer.records == []


def test_no_more_than_the_window_is_unacknowledged_and_flush_waits_for_every_acknowledgement():
    producer = Producer(auto=False)
    most = []

    async def publish():
        sends = publisher(producer, window=3).window()
        for i in range(10):
            task = asyncio.ensure_future(sends.publish(decoded(delivery(f"u{i}@example.com", f"m-{i}", "sent", at(i)))))
            await asyncio.sleep(0)
            most.append(producer.unacknowledged())
            producer.acknowledge() if producer.unacknowledged() >= 3 else None
            await task
        flushed = asyncio.ensure_future(sends.flush())
        await asyncio.sleep(0)
        assert not flushed.done(), "flush returned with records unacknowledged"
        producer.acknowledge()
        await flushed
        return sends.acknowledged

    assert run(publish()) == 10
    assert max(most) == 3


def test_two_callers_wait_each_for_their_own_acknowledgements():
    producer = Producer(auto=False)

    async def two():
        shared = publisher(producer)
        first, second = shared.window(), shared.window()
        await first.publish(decoded(delivery("a@example.com", "m-1", "sent", at(0))))
        await second.publish(decoded(delivery("b@example.com", "m-2", "sent", at(0))))
        producer.acks[0].set_result(None)  # only the first caller's record
        await first.flush()
        waiting = asyncio.ensure_future(second.flush())
        await asyncio.sleep(0)
        assert not waiting.done(), "the second caller was answered on the first one's acknowledgement"
        producer.acks[1].set_result(None)
        await waiting
        return first.acknowledged, second.acknowledged

    assert run(two()) == (1, 1)


def test_a_batch_sends_its_events_acknowledged_before_its_dead_letters():
    producer = Producer(auto=False)
    letter = DeadLetter(b"{bad", "event 1: not valid JSON", "gateway /events event 1")

    async def batch():
        shared = publisher(producer)
        routed = [shared.route(decoded(delivery("a@example.com", "m-1", "sent", at(0))))]
        task = asyncio.ensure_future(shared.publish_batch(routed, [letter]))
        await asyncio.sleep(0.05)
        assert [r[0] for r in producer.records] == ["events"], "a dead letter went out before the events were acknowledged"
        producer.acknowledge()
        await until(lambda: len(producer.records) == 2)
        assert not task.done()
        producer.acknowledge()
        await task

    run(batch())
    assert producer.to("dead-letters") == [("dead-letters", b"{bad", None, [
        ("reason", b"event 1: not valid JSON"), ("source", b"gateway /events event 1")])]


def test_a_failed_acknowledgement_fails_the_flush():
    producer = Producer(auto=False)

    async def failing():
        sends = publisher(producer).window()
        await sends.publish(decoded(delivery("a@example.com", "m-1", "sent", at(0))))
        producer.acknowledge(ConnectionError("broker gone"))
        await sends.flush()

    with pytest.raises(ConnectionError):
        run(failing())


def test_with_a_memo_limit_the_router_starts_again_and_routes_the_same():
    producer = Producer()
    shared = publisher(producer, memo_limit=3)
    first = shared.router
    addresses = [f"user{i}@example.com" for i in range(10)]

    async def publish():
        sends = shared.window()
        for i, address in enumerate(addresses):
            await sends.publish(decoded(delivery(address, f"m-{i}", "sent", at(i))))
        await sends.flush()

    run(publish())
    assert shared.router is not first
    assert [p for _, _, p, _ in producer.records] == [
        partition_for(address_key("email", a), PARTITIONS) for a in addresses]


def test_a_bounce_list_is_published_row_by_row_and_invalid_rows_reported(tmp_path):
    producer = Producer()
    path = tmp_path / "list.csv"
    path.write_bytes(b"email\nAnna@Example.com\nnot-an-address\nbob@example.org\nanna@example.com\n")
    reader = BounceListReader("bounced", "auto", "list.csv", T0, AddressNormaliser())
    invalid = []

    async def read():
        with open(path, "rb") as f:
            return await import_rows(f, reader, publisher(producer).window(), invalid.append)

    summary = run(read())
    assert (summary.imported, summary.invalid, summary.duplicates) == (2, 1, 1)
    assert [i.line for i in invalid] == [3]
    sent = [(msgspec.json.decode(v)["address"], p) for _, v, p, _ in producer.to("events")]
    assert sent == [(a, partition_for(address_key("email", a), PARTITIONS)) for a in ("anna@example.com", "bob@example.org")]
