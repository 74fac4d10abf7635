"""The send-out side on a real broker: SuppressionClient against the pipeline's
suppression topic, and `bounceback plan-sendout` feeding control_group events back into
the pipeline."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from projections.sendout import message_id
from sendout.client import NotCaughtUp, SuppressionClient
from tests.helpers import address_event, at, contact, delivery, unblock
from tests.integration.cluster import ROOT
from tests.integration.test_live_equals_replay import SAMPLE

pytestmark = pytest.mark.integration
encode = msgspec.json.encode


def _write(path: Path, events) -> Path:
    path.write_bytes(b"".join(encode(e) + b"\n" for e in events))
    return path


def _view(client: SuppressionClient) -> list[bytes]:
    return sorted(encode(record) for record in client.suppressions())


def _client(cluster, name: str) -> SuppressionClient:
    return SuppressionClient(cluster.bootstrap, cluster.workdir / name, cluster.topic("suppressions")).start()


def _topic_records(cluster) -> int:
    return sum(len(records) for records in cluster.read("suppressions").values())


def test_a_client_started_before_and_one_started_after_the_changes_agree_with_replay(cluster):
    cluster.worker("w1")
    cluster.wait_ready()
    before = _client(cluster, "before")
    try:
        assert before.wait_caught_up(60), before.error
        assert _view(before) == []
        cluster.cli("publish", str(SAMPLE))
        cluster.wait_idle()
        assert before.sync(60)
        after = _client(cluster, "after")
        try:
            assert after.wait_caught_up(60), after.error
            expected, _ = cluster.replay(SAMPLE, "replay")
            assert expected, "the sample log suppresses addresses"
            assert _view(before) == expected
            assert _view(after) == expected
            total = _topic_records(cluster)
            assert before.stats.records_read == after.stats.records_read == total
            assert before.positions() == after.positions()
            # lookups normalise like the pipeline does
            assert after.reasons("email", "  Mats.Lindqvist@Example.NET") == ["soft_bounce_limit"]
            assert after.is_suppressed("email", "MATS.LINDQVIST@example.net", purpose="transactional")
        finally:
            after.stop()
    finally:
        before.stop()


def test_a_restarted_client_resumes_from_its_stored_offsets_and_an_unblock_lifts_a_suppression(cluster):
    first = [contact("c-1", at(0), emails=["hard@example.com", "opt@example.com"]),
             delivery("hard@example.com", "m-1", "hard_bounce", at(1)),
             address_event("unsubscribe", "opt@example.com", at(1)),
             delivery("+46701234567", "m-2", "hard_bounce", at(1), channel="sms")]
    first += [delivery(f"user{i}@example.com", f"m-u{i}", "hard_bounce", at(2)) for i in range(20)]
    second = [unblock("Hard@Example.com", at(3), note="mailbox fixed"),
              delivery("late@example.com", "m-3", "hard_bounce", at(4))]
    cluster.worker("w1")
    cluster.wait_ready()
    client = _client(cluster, "view")
    try:
        assert client.wait_caught_up(60), client.error
        cluster.cli("publish", str(_write(cluster.workdir / "first.jsonl", first)))
        cluster.wait_idle()
        assert client.sync(60)
        assert client.is_suppressed("email", "hard@example.com")
        assert client.reasons("email", "opt@example.com") == ["unsubscribed"]
        assert client.is_suppressed("email", "opt@example.com", purpose="marketing")
        assert not client.is_suppressed("email", "opt@example.com", purpose="transactional")
        assert client.is_suppressed("sms", "070-123 45 67", purpose="transactional")
        stored = client.positions()
        read_first = client.stats.records_read
        # offsets count records and, under exactly-once, transaction markers too
        assert read_first == _topic_records(cluster) == 23 <= sum(stored.values())
    finally:
        client.stop()

    cluster.cli("publish", str(_write(cluster.workdir / "second.jsonl", second)))
    cluster.wait_idle()
    client = _client(cluster, "view")
    try:
        assert client.stats.resumed_from == stored
        assert client.wait_caught_up(60), client.error
        assert client.sync(60)
        # only the records published while it was stopped were read again
        assert client.stats.records_read == _topic_records(cluster) - read_first == 2
        assert sum(client.positions().values()) > sum(stored.values())
        assert client.stats.lifted == 1 and client.stats.suppressed == 1
        assert not client.is_suppressed("email", "hard@example.com")
        assert client.reasons("email", "hard@example.com") == []
        assert client.record("email", "hard@example.com") is None
        assert client.reasons("email", "late@example.com") == ["hard_bounce"]
        assert client.reasons("email", "opt@example.com") == ["unsubscribed"]
        log = _write(cluster.workdir / "all.jsonl", first + second)
        assert _view(client) == cluster.replay(log, "replay")[0]
    finally:
        client.stop()


def test_a_client_never_answers_from_a_view_that_has_not_reached_the_end(cluster, tmp_path):
    client = SuppressionClient(cluster.bootstrap, tmp_path / "view", cluster.topic("no-such-topic")).start()
    try:
        assert not client.wait_caught_up(2)
        assert not client.caught_up
        with pytest.raises(NotCaughtUp, match="still loading"):
            client.is_suppressed("email", "anyone@example.com")
        with pytest.raises(NotCaughtUp):
            client.reasons("email", "anyone@example.com")
        verdict = client.check("email", " Anyone@Example.com")
        assert verdict.caught_up is False and verdict.suppressed is False and verdict.address == "anyone@example.com"
        assert client.is_suppressed("email", "anyone@example.com", allow_stale=True) is False
    finally:
        client.stop()
    with pytest.raises(ValueError, match="holds the view of"):
        SuppressionClient(cluster.bootstrap, tmp_path / "view", cluster.topic("another")).start()


def _plan(cluster, audience: Path, out: Path, *extra: str) -> str:
    cmd = [sys.executable, "-m", "bounceback.cli", "plan-sendout", str(audience), "--sendout-id", "so-42",
           "--channel", "email", "--control-group", "50", "--out", str(out), "--broker", cluster.bootstrap,
           "--partitions", str(cluster.partitions), "--topic-prefix", cluster.prefix,
           "--store", str(cluster.workdir / "store"), *extra]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode() + result.stderr.decode()


def test_the_planners_control_group_events_appear_on_the_contact_cards(cluster):
    contacts = [f"c-{i}" for i in range(20)]
    events = [contact(c, at(0), emails=[f"{c}@example.com"]) for c in contacts]
    events.append(contact("c-shared", at(0), emails=["c-0@example.com"]))
    events += [delivery("c-1@example.com", "m-1", "hard_bounce", at(1)),
               address_event("unsubscribe", "c-2@example.com", at(1))]
    cluster.worker("w1")
    cluster.wait_ready()
    cluster.cli("publish", str(_write(cluster.workdir / "log.jsonl", events)))
    cluster.wait_idle()

    audience = cluster.workdir / "audience.csv"
    audience.write_text("contact_id,address\n" + "".join(f"{c},{c.upper()}@Example.com\n" for c in contacts)
                        + "c-shared,c-0@example.com\nc-bad,not-an-address\n")
    output = _plan(cluster, audience, cluster.workdir / "plan", "--at", "2026-03-02T09:00:00Z", "--emit-sent")
    cluster.wait_idle()
    summary = msgspec.json.decode((cluster.workdir / "plan" / "summary.json").read_bytes())
    assert summary["audience"] == 22 and summary["invalid"] == 1 and summary["duplicate_addresses"] == 1
    assert summary["suppressed_by_reason"] == {"hard_bounce": 1, "unsubscribed": 1}
    assert 0 < summary["control_group"] < 18 and summary["control_group"] + summary["to_send"] == 18
    assert f"published {summary['control_group'] + summary['to_send']} events" in output

    rows = list(csv.DictReader((cluster.workdir / "plan" / "excluded.csv").open()))
    drawn = {r["contact_id"] for r in rows if r["outcome"] == "control_group"}
    sent = {r["contact_id"] for r in csv.DictReader((cluster.workdir / "plan" / "recipients.csv").open())}
    _, cards = cluster.live_outputs()
    for contact_id in contacts:
        messages = cards[contact_id]["messages"]
        if contact_id in drawn:
            assert [(m["message_id"], m["sendout_id"], m["status"], m["label"]) for m in messages] == [
                (message_id("so-42", contact_id, f"{contact_id}@example.com"), "so-42", "control_group",
                 "Included in a control group")]
            # a control-group message was never sent: the address counts nothing
            assert cards[contact_id]["addresses"][0]["state"] == "active"
        elif contact_id in sent:
            assert [(m["status"], m["label"]) for m in messages] == [("unknown", "Unknown")]
        else:  # suppressed: no message planned
            assert contact_id in ("c-1", "c-2")
            assert [m["sendout_id"] for m in messages if m["sendout_id"] == "so-42"] == []
    assert cards["c-shared"]["messages"] == []

    # planning the same send-out again (later, resuming the stored view) publishes the same
    # event ids: the pipeline applies nothing new
    output = _plan(cluster, audience, cluster.workdir / "again", "--at", "2026-03-03T09:00:00Z", "--emit-sent")
    assert "resumed from stored offsets" in output
    cluster.wait_idle()
    assert (cluster.workdir / "again" / "excluded.csv").read_bytes() == (cluster.workdir / "plan" / "excluded.csv").read_bytes()
    assert cluster.live_outputs()[1] == cards


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    import asyncio

    from aiokafka import AIOKafkaProducer

    from partitions.routing import partition_for

    async def produce():
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for key, value in records:
                await producer.send_and_wait(topic, value=value, key=key, partition=partition_for(key.decode(), 2))
        finally:
            await producer.stop()

    asyncio.run(produce())


def _record(address: str, reasons: list[str]) -> tuple[bytes, bytes]:
    return (f"email:{address}".encode(), encode({
        "channel": "email", "address": address, "state": "blocked" if reasons else "active", "reasons": reasons,
        "soft_bounces": 0, "updated_at": "2026-03-01T10:00:00Z"}))


def test_malformed_records_and_tombstones_and_a_store_ahead_of_the_topic(cluster, tmp_path):
    import asyncio

    from rocksdict import Options, Rdict

    from streams.admin import ensure_topics
    from streams.settings import Settings, Topics

    asyncio.run(ensure_topics(Settings(broker=cluster.bootstrap, partitions=2, topics=Topics(cluster.prefix))))
    topic = cluster.topic("suppressions")
    _produce(cluster.bootstrap, topic, [
        _record("a@example.com", ["hard_bounce"]), _record("b@example.com", ["unsubscribed"]),
        (b"email:c@example.com", b"{not json"),  # skipped, counted
        (b"email:someone-else@example.com", _record("d@example.com", ["hard_bounce"])[1]),  # key does not match
        (b"email:b@example.com", None),  # a tombstone lifts b
    ])
    client = SuppressionClient(cluster.bootstrap, tmp_path / "view", topic).start()
    try:
        assert client.wait_caught_up(60), client.error
        assert [r.address for r in client.suppressions()] == ["a@example.com"]
        assert (client.stats.records_read, client.stats.malformed, client.stats.lifted) == (5, 2, 1)
        ends = client.positions()
    finally:
        client.stop()
    # a store whose offsets lie beyond the topic's end was built from another topic of that
    # name (an in-memory broker restarted, a topic recreated): it is reloaded, not trusted
    options = Options(raw_mode=True)
    db = Rdict(str(tmp_path / "view"), options, column_families={"meta": Options(raw_mode=True)})
    db.put(b"email:ghost@example.com", _record("ghost@example.com", ["hard_bounce"])[1])
    for partition, end in ends.items():
        db.get_column_family("meta").put(b"offset:%d" % partition, (end + 1000).to_bytes(8, "big"))
    db.close()
    client = SuppressionClient(cluster.bootstrap, tmp_path / "view", topic).start()
    try:
        assert client.wait_caught_up(60), client.error
        assert client.stats.rebuilds == 1
        assert [r.address for r in client.suppressions()] == ["a@example.com"]
        assert client.positions() == ends
    finally:
        client.stop()
