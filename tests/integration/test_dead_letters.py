"""Bad input lands in the dead-letter topic with its reason; the good events around it
are all applied and the worker keeps running."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from aiokafka import AIOKafkaProducer

from ingress.publisher import route
from partitions.routing import Router
from projections.normalise import AddressNormaliser
from schemas.events import decode_event
from tests.helpers import at, delivery, tick

pytestmark = pytest.mark.integration

GOOD = {"type": "delivery", "event_id": "x", "occurred_at": "2026-03-01T10:00:00Z", "channel": "email",
        "address": "bad@example.com", "message_id": "m-bad", "status": "delivered"}
BAD = {
    "invalid JSON": b'{"type": "delivery", "event_id": ',
    "not an object": b'["delivery"]',
    "wrong type of a field": msgspec.json.encode(dict(GOOD, event_id=17)),
    "unknown status": msgspec.json.encode(dict(GOOD, status="bounced")),
    "status not allowed for the channel": msgspec.json.encode(dict(GOOD, channel="sms", address="+46701234567", status="opened")),
    "bad email": msgspec.json.encode(dict(GOOD, address="not-an-address")),
    "bad phone": msgspec.json.encode(dict(GOOD, channel="sms", address="12")),
    "missing field": msgspec.json.encode({k: v for k, v in GOOD.items() if k != "message_id"}),
    "unknown type": msgspec.json.encode(dict(GOOD, type="bounce")),
    "timestamp without offset": msgspec.json.encode(dict(GOOD, occurred_at="2026-03-01T10:00:00")),
    "huge payload": msgspec.json.encode(dict(GOOD, padding="x" * 100_000)),
    "not UTF-8": b'{"type": "tick", "at": "\xff\xfe"}',
    "empty": b"",
}
REASON = {
    "invalid JSON": "not valid JSON", "not an object": "Expected `object`", "wrong type of a field": "$.event_id",
    "unknown status": "$.status", "status not allowed for the channel": "$.status", "bad email": "$.address",
    "bad phone": "$.address", "missing field": "`message_id`", "unknown type": "$.type",
    "timestamp without offset": "$.occurred_at", "huge payload": "over the limit", "not UTF-8": "",
    "empty": "",
}


def test_each_kind_of_bad_input_is_dead_lettered_with_a_reason_and_good_events_are_applied(cluster):
    good = []
    for i in range(30):
        good.append(delivery(f"user{i % 5}@example.com", f"m-{i}", "soft_bounce" if i % 3 else "hard_bounce", at(i)))
    good.append(tick(at(100)))
    good_lines = [msgspec.json.encode(e) for e in good]
    cluster.worker("w1")
    cluster.wait_ready()

    async def produce():
        producer = AIOKafkaProducer(bootstrap_servers=cluster.bootstrap, max_batch_size=1, max_request_size=2_000_000)
        await producer.start()
        try:
            router = Router(cluster.partitions, AddressNormaliser())
            bad = list(BAD.items())
            for i, line in enumerate(good_lines):
                for p in route(decode_event(line), router).partitions:
                    await producer.send_and_wait(cluster.topic("events"), line, partition=p)
                if i < len(bad):
                    await producer.send_and_wait(cluster.topic("events"), bad[i][1], key=bad[i][0].encode(),
                                                 partition=i % cluster.partitions)
        finally:
            await producer.stop()

    asyncio.run(produce())
    cluster.wait_idle()

    letters = {}
    for records in cluster.read("dead-letters").values():
        for key, value, headers in records:
            letters[key.decode()] = (value, dict(headers))
    assert letters.keys() == BAD.keys()
    for kind, raw in BAD.items():
        value, headers = letters[kind]
        assert value == raw, kind
        assert headers["reason"] and REASON[kind].encode() in headers["reason"], (kind, headers["reason"])
        assert headers["source"].startswith(cluster.topic("events").encode())

    log = cluster.workdir / "good.jsonl"
    log.write_bytes(b"\n".join(good_lines) + b"\n")
    cluster.cli("replay", str(log), "--out", str(cluster.workdir / "replay"))
    expected = sorted((cluster.workdir / "replay" / "suppressions.jsonl").read_bytes().splitlines())
    assert len(expected) == 5
    assert cluster.live_outputs()[0] == expected
