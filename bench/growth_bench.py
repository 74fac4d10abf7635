"""Does the cost of an event grow with the age of its address? One run on Apache Kafka (the
Kafka lane's broker), one worker at a time, weekly send-outs with a tick a day, about the
same number of delivery events per shape:

    2,000 addresses for 10 weeks, 200 for 100 weeks, 20 for 1,000 weeks

and, for comparison, shapes with no tick that span a day (nothing is ever forgotten there:
5, 200 and 1,000 events per address). For each: events/s from the first event applied to the
last, the mean and the largest record the address table wrote to its changelog, and the
largest record of the contact table and of the contact-status topic.

    python -m bench.growth_bench [--deliveries 40000] [--guarantee at_least_once]

Goal (issue 19): each long history within 10% of the short one's events/s; its mean and
largest address record within 1.5x of the short one's, the largest under 8 kB; the contact
records no larger than a card of 100 messages needs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import msgspec

from ingress.kafka import publish_lines
from streams.export import read_topic
from streams.local_workers import LocalWorker
from schemas.records import CARD_MESSAGES, AddressRecord, ContactRecord, MessageRecord
from streams.admin import ensure_topics
from streams.kafka_local import LocalKafka
from streams.settings import Settings, Topics
from tests.helpers import at

STATUSES = ["delivered"] * 6 + ["opened"] * 2 + ["soft_bounce", "deferred"]


def weekly(addresses: int, weeks: int) -> tuple[list[bytes], int]:
    """Every address mailed once a week (sent and one report), a tick a day; returns the lines
    and how many the worker applies (ticks once per partition)."""
    encode = msgspec.json.encode
    lines, ticks = [], 0
    for week in range(weeks):
        start = week * 168
        for a in range(addresses):
            base = {"type": "delivery", "channel": "email", "address": f"user{a}@example.com",
                    "message_id": f"m-{week}-{a}", "sendout_id": f"so-{week}", "contact_id": f"c-{a}"}
            lines.append(encode(dict(base, event_id=f"e-{week}-{a}-s", occurred_at=at(start), status="sent")))
            lines.append(encode(dict(base, event_id=f"e-{week}-{a}-r", occurred_at=at(start, minutes=30),
                                     status=STATUSES[(week + a) % len(STATUSES)])))
        for day in range(7):
            lines.append(encode({"type": "tick", "at": at(start + 24 * day + 12)}))
            ticks += 1
    return lines, ticks


def one_day(addresses: int, per_address: int) -> tuple[list[bytes], int]:
    """The pipeline bench's shape: sends and reports within one day, no tick."""
    encode = msgspec.json.encode
    lines = []
    for i in range(addresses * per_address // 2):
        a = i % addresses
        base = {"type": "delivery", "channel": "email", "address": f"user{a}@example.com", "message_id": f"m-{i}",
                "sendout_id": f"so-{i // 10000}", "contact_id": f"c-{a}"}
        lines.append(encode(dict(base, event_id=f"e-{i}-s", occurred_at=at(minutes=i / 100), status="sent")))
        lines.append(encode(dict(base, event_id=f"e-{i}-r", occurred_at=at(minutes=i / 100 + 5),
                                 status=STATUSES[i % len(STATUSES)])))
    return lines, 0


def _applied(worker: LocalWorker) -> int:
    try:
        _, body = worker.get("/metrics")
    except OSError:
        return 0
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in body.decode().splitlines()
               if line.startswith(("bounceback_events_total{", "bounceback_duplicate_events_total ")))


def run_shape(kafka: LocalKafka, name: str, lines: list[bytes], ticks: int, partitions: int, guarantee: str,
              workdir: Path) -> dict:
    topics = Topics(f"growth-{name}")
    settings = Settings(broker=kafka.bootstrap, partitions=partitions, topics=topics)
    asyncio.run(ensure_topics(settings))
    published, rejected = asyncio.run(publish_lines(lines, kafka.bootstrap, topics.inbound, partitions))
    assert not rejected, rejected[:3]
    expected = published - ticks + ticks * partitions
    os.environ["BOUNCEBACK_PROCESSING_GUARANTEE"] = guarantee
    worker = LocalWorker(kafka.bootstrap, topics.prefix, partitions, workdir / f"{name}-state", workdir / f"{name}.log",
                         embedded=False).start()
    first = last = None
    try:
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline and worker.running:
            done = _applied(worker)
            now = time.perf_counter()
            if done and first is None:
                first = now
            if done >= expected:
                last = now
                break
            time.sleep(0.05)
        time.sleep(3 if guarantee == "at_least_once" else 8)  # the last writes reach the changelogs
    finally:
        worker.stop()
    if last is None:
        raise RuntimeError(f"{name} did not finish:\n{worker.log_tail()}")
    sizes = {}
    for topic in (f"{topics.prefix}-addresses-changelog", f"{topics.prefix}-contacts-changelog", topics.contact_status):
        records = asyncio.run(read_topic(kafka.bootstrap, topic))
        sizes[topic.rsplit("-", 2)[-2] if topic.endswith("changelog") else "contact-status"] = [
            len(v) for rs in records.values() for _, v, _ in rs if v is not None]
    deliveries = published - ticks
    return {"events_per_s": expected / (last - first), "deliveries": deliveries,
            "address_mean": statistics.mean(sizes["addresses"]), "address_max": max(sizes["addresses"]),
            "address_per_delivery": sum(sizes["addresses"]) / deliveries,
            "contact_max": max(sizes["contacts"]), "card_max": max(sizes["contact-status"])}


def full_card_size() -> int:
    """The encoded size of a contact record listing 100 messages (one address), for scale."""
    message = MessageRecord("m-0000000000-0000", "email", "user00000@example.com", "so-0000", "soft_bounce",
                            "Soft bounce", None, None, datetime(2026, 3, 1, tzinfo=timezone.utc))
    address = AddressRecord("email", "user00000@example.com", "active", [], 0, message.updated_at)
    return len(msgspec.json.encode(ContactRecord("c-00000", [address], [message] * CARD_MESSAGES, 1000)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=40_000, help="delivery events per weekly shape")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--guarantee", default="at_least_once", choices=["at_least_once", "exactly_once"])
    parser.add_argument("--one-day", action="store_true", help="also the no-tick shapes of 100,000 events")
    args = parser.parse_args()
    # a topic just created has no leader for a moment: aiokafka retries, and says so at length
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    workdir = Path(tempfile.mkdtemp(prefix="bounceback-growth-"))
    per_week = args.deliveries // 2
    shapes = [(f"{per_week // weeks}x{weeks}w", *weekly(per_week // weeks, weeks)) for weeks in (10, 100, 1000)]
    if args.one_day:
        shapes += [(f"{100_000 // n}x{n}ev", *one_day(100_000 // n, n)) for n in (5, 200, 1000)]
    kafka = LocalKafka(workdir / "kafka").start()
    print(f"Apache Kafka on {kafka.bootstrap}; one worker, {args.guarantee}, {args.partitions} partitions")
    print(f"{'shape':<14}{'deliveries':>11}{'events/s':>10}{'addr mean B':>13}{'addr max B':>12}"
          f"{'addr B/delivery':>17}{'contact max B':>15}{'card max B':>12}")
    results = {}
    try:
        for name, lines, ticks in shapes:
            r = results[name] = run_shape(kafka, name, lines, ticks, args.partitions, args.guarantee, workdir)
            print(f"{name:<14}{r['deliveries']:>11,}{r['events_per_s']:>10,.0f}{r['address_mean']:>13,.0f}"
                  f"{r['address_max']:>12,}{r['address_per_delivery']:>17,.0f}{r['contact_max']:>15,}{r['card_max']:>12,}",
                  flush=True)
    finally:
        kafka.stop()
    short, *longer = [results[name] for name, *_ in shapes[:3]]
    for (name, *_), r in zip(shapes[1:3], longer):
        print(f"{name}: {r['events_per_s'] / short['events_per_s']:.2f}x the short history's events/s (goal >= 0.90); "
              f"address record mean {r['address_mean'] / short['address_mean']:.2f}x, largest "
              f"{r['address_max'] / short['address_max']:.2f}x (goal <= 1.5x, largest < 8 kB)")
    print(f"a card of {CARD_MESSAGES} messages: {full_card_size():,} B (contact records may not be larger)")


if __name__ == "__main__":
    main()
