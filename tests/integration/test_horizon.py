"""RULES.md §7 live: a report too late is dead-lettered and counted, and an address mailed
weekly for a long time writes changelog records no larger than it did after ten weeks."""

from __future__ import annotations

import asyncio
import urllib.request

import msgspec
import pytest

from streams.export import read_topic
from tests.helpers import at, delivery, tick, weekly_mailing

pytestmark = pytest.mark.integration

ANNA = b"email:anna@example.com"


def _publish(cluster, tmp_path, name: str, events: list[dict]) -> None:
    log = tmp_path / f"{name}.jsonl"
    log.write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for e in events))
    cluster.cli("publish", str(log))


def _changelog(cluster, table: str) -> list[tuple[bytes, bytes]]:
    records = asyncio.run(read_topic(cluster.bootstrap, f"{cluster.prefix}-{table}-changelog"))
    return [(key, value) for partition in records.values() for key, value, _ in partition]


def test_an_address_mailed_weekly_writes_records_no_larger_than_after_ten_weeks(cluster, tmp_path):
    cluster.worker("w1")
    cluster.wait_ready()
    _publish(cluster, tmp_path, "first-ten-weeks", weekly_mailing(10))
    cluster.wait_idle()
    after_ten_weeks = max(len(v) for k, v in _changelog(cluster, "addresses") if k == ANNA)
    _publish(cluster, tmp_path, "two-years", weekly_mailing(104)[10 * 9:])
    cluster.wait_idle()
    written = [len(v) for k, v in _changelog(cluster, "addresses") if k == ANNA and v is not None]
    print(f"address changelog records: {len(written)}; largest in the first ten weeks {after_ten_weeks} B, "
          f"largest over two years {max(written)} B, last {written[-1]} B")
    # forgetting runs at most once per H/2, so a record holds up to 2.5H of messages (eleven
    # weekly ones at H = 30 days) and a batch may apply weeks before it runs: a few messages
    # more than after ten weeks, where a history of two years would be ten times as large
    assert max(written) <= after_ten_weeks * 1.5
    assert max(written) < 8 * 1024
    # the audit trail is a table of its own: small records, one per entry
    trail = [len(v) for k, v in _changelog(cluster, "trails") if k.startswith(ANNA) and v is not None]
    assert trail and max(trail) < 1024


def test_a_report_too_late_is_dead_lettered_counted_and_changes_nothing(cluster, tmp_path):
    worker = cluster.worker("w1")
    cluster.wait_ready()
    _publish(cluster, tmp_path, "late", [
        tick(at(24 * 40)),
        delivery("anna@example.com", "m-late", "hard_bounce", at(24 * 9)),  # 31 days behind: too late
        delivery("bo@example.com", "m-ok", "hard_bounce", at(24 * 11)),  # 29 days behind: blocks
        {"type": "unsubscribe", "event_id": "u-1", "occurred_at": at(-24 * 365), "channel": "email",
         "address": "cy@example.com"},  # a year old, and no report: applies
        {"type": "contact", "event_id": "c-ev-1", "occurred_at": at(0), "contact_id": "c-1",
         "emails": ["bo@example.com"], "phones": []},
    ])
    cluster.wait_idle()
    letters = [(value, dict(headers)) for partition in cluster.read("dead-letters").values()
               for _, value, headers in partition]
    assert len(letters) == 1
    value, headers = letters[0]
    assert msgspec.json.decode(value)["message_id"] == "m-late"
    assert headers["reason"].decode().startswith("too late")
    suppressions, _ = cluster.live_outputs()
    suppressed = {msgspec.json.decode(s)["address"]: msgspec.json.decode(s)["reasons"] for s in suppressions}
    assert suppressed == {"bo@example.com": ["hard_bounce"], "cy@example.com": ["unsubscribed"]}
    metrics = urllib.request.urlopen(f"{worker.url}/metrics", timeout=10).read().decode()
    assert 'bounceback_too_late_events_total{status="hard_bounce",type="delivery"} 1.0' in metrics
    # every type applied is counted: contact events, and ticks (once in each partition)
    assert 'bounceback_events_total{status="",type="contact"} 1.0' in metrics
    assert f'bounceback_events_total{{status="",type="tick"}} {float(cluster.partitions)}' in metrics
