"""The suppression topic is compacted: a send-out service that starts late reads it from
the beginning and ends with one current record per address, equal to replay."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.integration.conftest import BROKER
from tests.integration.test_live_equals_replay import SAMPLE

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(BROKER != "kafka", reason="the embedded broker does not compact topics "
                                                 "(BOUNCEBACK_TEST_BROKER=kafka)"),
]


async def _admin(bootstrap: str, work):
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return await work(admin)
    finally:
        await admin.close()


def cleanup_policies(cluster, topics: list[str]) -> dict[str, str]:
    async def describe(admin):
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics]
        policies = {}
        for response in await admin.describe_configs(resources):
            for _error, _message, _type, name, entries in response.resources:
                policies[name] = next(entry[1] for entry in entries if entry[0] == "cleanup.policy")
        return policies

    return asyncio.run(_admin(cluster.bootstrap, describe))


def unblock_and_block_again(cluster, suppressions: list[bytes], round_: int):
    """Every suppressed address unblocked, then hard-bounced again: two more records each."""
    lines = []
    for n, line in enumerate(suppressions):
        record = msgspec.json.decode(line)
        address = {"channel": record["channel"], "address": record["address"]}
        lines.append(msgspec.json.encode({"type": "unblock", "event_id": f"cmp{round_}-u-{n}", "actor": "test",
                                          "occurred_at": f"2026-04-{2 * round_ + 1:02d}T00:00:00Z", **address}))
        lines.append(msgspec.json.encode({"type": "delivery", "event_id": f"cmp{round_}-h-{n}",
                                          "message_id": f"cmp{round_}-{n}", "status": "hard_bounce",
                                          "occurred_at": f"2026-04-{2 * round_ + 2:02d}T00:00:00Z", **address}))
    path = cluster.workdir / f"again-{round_}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_a_new_consumer_of_the_suppression_topic_ends_with_one_record_per_address_equal_to_replay(cluster):
    suppressions = cluster.topic("suppressions")
    # small segments, so the log cleaner compacts while the test runs (the broker checks every second)
    asyncio.run(_admin(cluster.bootstrap, lambda admin: admin.create_topics([NewTopic(
        suppressions, cluster.partitions, 1, topic_configs={
            "cleanup.policy": "compact", "segment.ms": "300", "min.cleanable.dirty.ratio": "0.01",
            "min.compaction.lag.ms": "0"})])))
    worker = cluster.worker("w1")
    cluster.wait_ready()
    cluster.cli("publish", str(SAMPLE))
    cluster.wait_idle()
    first = cluster.replay(SAMPLE, "replay-first")[0]
    full = cluster.workdir / "full.jsonl"
    full.write_bytes(SAMPLE.read_bytes())
    for round_ in range(3):
        time.sleep(1)  # past segment.ms: the next records start a new segment, the older ones can be cleaned
        again = unblock_and_block_again(cluster, first, round_)
        cluster.cli("publish", str(again))
        cluster.wait_idle()
        full.write_bytes(full.read_bytes() + again.read_bytes())
    expected = cluster.replay(full, "replay")
    addresses = {(r["channel"], r["address"]): r for r in map(msgspec.json.decode,
                 (cluster.workdir / "replay" / "addresses.jsonl").read_bytes().splitlines())}

    status, metrics = worker.get("/metrics")
    written = sum(int(float(line.rsplit(" ", 1)[1])) for line in metrics.decode().splitlines()
                  if line.startswith("bounceback_suppression_changes_total"))
    deadline = time.monotonic() + 60
    while True:
        records = [r for rs in cluster.read("suppressions").values() for r in rs]
        if len(records) < written or time.monotonic() > deadline:
            break
        time.sleep(2)
    latest = {key: value for key, value, _ in records}
    print(f"[compaction] {written} suppression records written, {len(records)} read after compaction, "
          f"{len(latest)} addresses")
    assert len(records) < written, "the log cleaner compacted the suppression topic"
    assert sorted(v for v in latest.values() if msgspec.json.decode(v)["reasons"]) == expected[0]
    for key, value in latest.items():
        record = msgspec.json.decode(value)
        assert key.decode() == f"{record['channel']}:{record['address']}"
        assert record == addresses[(record["channel"], record["address"])], "a lifted suppression is current too"

    policies = cleanup_policies(cluster, [suppressions, cluster.topic("contact-status"),
                                          *(f"{cluster.prefix}-{t}-changelog" for t in ("addresses", "contacts", "clocks"))])
    assert set(policies.values()) == {"compact"}, policies
