"""Issue 15, items 1 and 2: the suppression view never answers from the wrong topic or
from a broker it can no longer reach. Each test starts a broker of its own (of the lane's
kind: BOUNCEBACK_TEST_BROKER), so it can restart or stop it:

- a topic recreated under the same name (the embedded broker restarted, which keeps its
  topics in memory; on Apache Kafka the topic deleted and created again) with more records
  than before, so every partition's end passes the offsets the store holds: the store is
  reloaded, not resumed, by `plan-sendout --store` and by a running client;
- a broker that dies while a client follows it, and one that is not there at the start:
  the client says so within a bounded time, logs it once, answers stale only when asked
  to, tries again and catches up when the broker is back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from sendout.client import BrokerUnreachable, NotCaughtUp, SuppressionClient
from streams.kafka_local import LocalKafka
from streams.tansu import EmbeddedBroker
from tests.integration.cluster import ROOT

pytestmark = pytest.mark.integration
KAFKA = os.environ.get("BOUNCEBACK_TEST_BROKER", "tansu") == "kafka"
PARTITIONS = 4
PREFIX = "p15"
TOPIC = f"{PREFIX}.suppressions"


@pytest.fixture
def broker(tmp_path):
    broker = LocalKafka(tmp_path / "kafka") if KAFKA else EmbeddedBroker(log_path=str(tmp_path / "tansu.log"))
    yield broker
    broker.stop()


def _run(coro):
    return asyncio.run(coro)


async def _create(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + 60
        while True:  # Kafka deletes a topic in the background: its name is taken until then
            try:
                await admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1, topic_configs={"cleanup.policy": "compact"})])
                return
            except TopicAlreadyExistsError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


def recreate(broker) -> None:
    """The suppression topic gone and created again, empty, under its name."""
    if KAFKA:
        async def delete():
            from aiokafka.admin import AIOKafkaAdminClient

            admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
            await admin.start()
            try:
                await admin.delete_topics([TOPIC])
            finally:
                await admin.close()

        old = _run(_metadata(broker.bootstrap))
        _run(delete())
        _wait_for_metadata(broker.bootstrap, lambda topic: topic is None)
        _run(_create(broker.bootstrap))
        _wait_for_metadata(broker.bootstrap, lambda topic: topic is not None and topic.id != old.id)
    else:  # the embedded broker keeps its topics in memory: a restart loses them
        broker.stop()
        broker.start()
        _run(_create(broker.bootstrap))


async def _metadata(bootstrap: str):
    from aiokafka import AIOKafkaConsumer

    from sendout.topic_metadata import topic_metadata

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return await topic_metadata(consumer._client, TOPIC)
    finally:
        await consumer.stop()


def _wait_for_metadata(bootstrap: str, done, timeout: float = 60) -> None:
    """Until the broker's metadata of the topic is as asked (Kafka deletes and creates a
    topic in the background, after the admin request has returned)."""
    deadline = time.monotonic() + timeout
    while not done(_run(_metadata(bootstrap))):
        assert time.monotonic() < deadline, "the topic's metadata did not change"
        time.sleep(0.5)


def record(address: str, reasons: list[str]) -> tuple[bytes, bytes]:
    return (f"email:{address}".encode(), msgspec.json.encode({
        "channel": "email", "address": address, "state": "blocked" if reasons else "active", "reasons": reasons,
        "soft_bounces": 0, "updated_at": "2026-03-01T10:00:00Z"}))


def produce(bootstrap: str, records: list[tuple[bytes, bytes]]) -> dict[int, int]:
    """Records onto the topic, spread over its partitions by key (the producer's own
    partitioner: the client reads every partition alike); returns the end offset of every
    partition afterwards."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    async def run():
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for key, value in records:
                await producer.send_and_wait(TOPIC, value=value, key=key)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
            return {tp.partition: end for tp, end in (await consumer.end_offsets(tps)).items()}
        finally:
            await consumer.stop()

    return _run(run())


def plan(bootstrap: str, audience: Path, out: Path, store: Path) -> tuple[dict, str]:
    cmd = [sys.executable, "-m", "bounceback.cli", "plan-sendout", str(audience), "--sendout-id", "so-15",
           "--channel", "email", "--out", str(out), "--broker", bootstrap, "--partitions", str(PARTITIONS),
           "--topic-prefix", PREFIX, "--store", str(store), "--catch-up-timeout", "120"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    return msgspec.json.decode((out / "summary.json").read_bytes()), result.stderr.decode()


OLD = [f"old{i}@example.com" for i in range(20)]
NEW = [f"hb{i}@example.com" for i in range(1, 41)]


def test_plan_sendout_reloads_a_store_of_a_topic_that_was_recreated(broker, tmp_path):
    broker.start()
    _run(_create(broker.bootstrap))
    before = produce(broker.bootstrap, [record(a, ["hard_bounce"]) for a in OLD])
    audience = tmp_path / "audience.csv"
    audience.write_text("contact_id,address\n" + "".join(f"c-{a},{a}\n" for a in OLD + NEW))
    store = tmp_path / "store"
    summary, _ = plan(broker.bootstrap, audience, tmp_path / "first", store)
    assert (summary["suppressed"], summary["to_send"]) == (20, 40)

    recreate(broker)
    # the 40 new hard bounces first, then the old log again: every partition ends past
    # where the store stopped, so no offset lies outside the new topic
    after = produce(broker.bootstrap, [record(a, ["hard_bounce"]) for a in NEW + OLD])
    assert all(after[p] > before[p] for p in before), (before, after)

    summary, stderr = plan(broker.bootstrap, audience, tmp_path / "second", store)
    assert "resumed from stored offsets" not in stderr
    assert "60 records read this run" in stderr
    assert (summary["suppressed"], summary["to_send"]) == (60, 0), summary
    sent = (tmp_path / "second" / "recipients.csv").read_text().splitlines()[1:]
    assert sent == []


def test_a_running_client_reloads_when_the_topic_is_recreated_under_it(broker, tmp_path):
    broker.start()
    _run(_create(broker.bootstrap))
    produce(broker.bootstrap, [record(a, ["hard_bounce"]) for a in OLD])
    client = SuppressionClient(broker.bootstrap, tmp_path / "view", TOPIC, stale_after=3, retry_max=2,
                               recheck_every=1).start()
    try:
        assert client.wait_caught_up(60), client.error
        assert client.is_suppressed("email", "old0@example.com")
        recreate(broker)
        produce(broker.bootstrap, [record(a, ["hard_bounce"]) for a in NEW] + [record("old0@example.com", [])])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if client.caught_up and client.stats.rebuilds and client.sync(5):
                break
            time.sleep(0.2)
        assert client.stats.rebuilds >= 1, client.stats
        assert sorted(r.address for r in client.suppressions()) == sorted(NEW)
        assert not client.is_suppressed("email", "old0@example.com")
        assert client.is_suppressed("email", "hb1@example.com")
    finally:
        client.stop()


def _outage_lines(records: list[logging.LogRecord]) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in records
            if r.levelno >= logging.WARNING and (r.name.startswith("aiokafka") or r.name.startswith("sendout"))]


def test_a_client_whose_broker_dies_says_so_within_bounded_time_and_catches_up_when_it_is_back(
        broker, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    broker.start()
    _run(_create(broker.bootstrap))
    produce(broker.bootstrap, [record(a, ["hard_bounce"]) for a in OLD])
    client = SuppressionClient(broker.bootstrap, tmp_path / "view", TOPIC, stale_after=2, retry_max=2).start()
    try:
        assert client.wait_caught_up(60), client.error
        assert client.caught_up and client.lag == 0 and client.error is None
        caplog.clear()
        broker.stop()
        stopped = time.monotonic()
        while client.caught_up and time.monotonic() - stopped < 30:
            time.sleep(0.1)
        noticed = time.monotonic() - stopped
        assert noticed < 2 + 3, f"the view still claimed to be caught up {noticed:.1f} s after the broker died"
        assert isinstance(client.error, BrokerUnreachable), client.error
        assert client.lag is None
        verdict = client.check("email", "old0@example.com")
        assert verdict.caught_up is False and verdict.suppressed is True
        with pytest.raises(NotCaughtUp, match="cannot reach"):
            client.is_suppressed("email", "old0@example.com")
        assert client.is_suppressed("email", "old0@example.com", allow_stale=True) is True
        assert client.reasons("email", "old0@example.com", allow_stale=True) == ["hard_bounce"]
        assert not client.sync(1)
        time.sleep(10)  # several retries
        assert not client.caught_up and isinstance(client.error, BrokerUnreachable)
        lines = _outage_lines(caplog.records)
        assert len(lines) == 1 and "cannot reach" in lines[0], lines

        broker.start()
        if not KAFKA:  # the embedded broker came back empty: the pipeline would create the topic again
            _run(_create(broker.bootstrap))
            produce(broker.bootstrap, [record(a, ["hard_bounce"]) for a in OLD])
        assert client.wait_caught_up(90), client.error
        assert client.sync(30)
        assert client.error is None and client.stats.reconnects >= 1
        assert client.is_suppressed("email", "old0@example.com")
        produce(broker.bootstrap, [record("late@example.com", ["hard_bounce"])])
        assert client.sync(30)
        assert client.is_suppressed("email", "late@example.com")
    finally:
        client.stop()


def test_a_client_started_while_its_broker_is_down_tries_again_until_it_is_up(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    broker = LocalKafka(tmp_path / "kafka") if KAFKA else EmbeddedBroker(log_path=str(tmp_path / "tansu.log"))
    client = SuppressionClient(broker.bootstrap, tmp_path / "view", TOPIC, stale_after=2, retry_max=2).start()
    try:
        deadline = time.monotonic() + 10
        while client.error is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert isinstance(client.error, BrokerUnreachable), client.error
        assert not client.caught_up and not client.wait_caught_up(1)
        assert client.check("email", "old0@example.com").caught_up is False
        assert client.is_suppressed("email", "old0@example.com", allow_stale=True) is False
        with pytest.raises(NotCaughtUp):
            client.reasons("email", "old0@example.com")
        time.sleep(6)
        assert len(_outage_lines(caplog.records)) == 1, _outage_lines(caplog.records)

        broker.start()
        _run(_create(broker.bootstrap))
        produce(broker.bootstrap, [record(a, ["hard_bounce"]) for a in OLD])
        assert client.wait_caught_up(90), client.error
        assert client.sync(30)
        assert client.is_suppressed("email", "old0@example.com")
        assert client.error is None
    finally:
        client.stop()
        broker.stop()
