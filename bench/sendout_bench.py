"""The send-out side at scale, on the embedded broker: a suppression topic of 1,000,000
suppressed addresses (half email addresses, half phone numbers) and an audience of
1,000,000 contacts per channel.

- SuppressionClient catch-up (records/s, from start() to the caught-up signal, with a fresh
  store) beside aiokafka reading the same topic with the same fetch settings and no logic.
- The planner (contacts/s: read, normalise, look up, deduplicate, draw, write the files),
  for an email audience and for an SMS audience, each beside reading and splitting the
  same CSV with the csv module and no logic.

    python -m bench.sendout_bench [--records 1000000] [--audience 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ingress.kafka import publish_lines
from projections.normalise import AddressNormaliser
from projections.sendout import SendoutPlan
from sendout.client import SuppressionClient
from sendout.planner import EVENTS, plan_audience
from partitions.routing import partition_for
from streams.tansu import EmbeddedBroker

REASONS = [["hard_bounce"], ["soft_bounce_limit"], ["bounce_list"], ["unsubscribed"], ["complaint"],
           ["hard_bounce", "unsubscribed"]]
STATE = {"hard_bounce": "blocked", "soft_bounce_limit": "blocked", "bounce_list": "blocked",
         "unsubscribed": "unsubscribed", "complaint": "unsubscribed"}
AT = datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)


def suppressed_address(i: int) -> str:
    return f"blocked{i}@example.com"


def phone_number(i: int) -> str:
    """A valid Swedish mobile number of its own for every i below 10,000,000, E.164."""
    return f"+4670{i:07d}"


def suppressed(i: int) -> tuple[str, str]:
    """The i-th record of the topic: even ones email addresses, odd ones phone numbers."""
    return ("email", suppressed_address(i)) if i % 2 == 0 else ("sms", phone_number(i))


# how people write a Swedish number in an audience export
SPELLINGS = (lambda n: n, lambda n: f"0{n[3:5]}-{n[5:8]} {n[8:10]} {n[10:]}", lambda n: "0" + n[3:],
             lambda n: f"+46 {n[3:5]} {n[5:8]} {n[8:10]} {n[10:]}")


async def load_topic(bootstrap: str, topic: str, records: int, partitions: int) -> dict[int, int]:
    """Address records straight onto a compacted topic, keyed and partitioned as the pipeline
    does; returns the record count per partition (the end offsets)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs={"cleanup.policy": "compact"})])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20,
                                max_request_size=8 << 20)
    await producer.start()
    encode = msgspec.json.encode
    counts = dict.fromkeys(range(partitions), 0)
    batches = {p: producer.create_batch() for p in range(partitions)}
    sends = []
    try:
        for i in range(records):
            channel, address = suppressed(i)
            key = f"{channel}:{address}"
            reasons = REASONS[i % len(REASONS)]
            value = encode({"channel": channel, "address": address, "state": STATE[reasons[0]], "reasons": reasons,
                            "soft_bounces": 10 if reasons[0] == "soft_bounce_limit" else 0,
                            "updated_at": "2026-03-01T10:00:00Z"})
            p = partition_for(key, partitions)
            counts[p] += 1
            if batches[p].append(key=key.encode(), value=value, timestamp=None) is None:
                sends.append(await producer.send_batch(batches[p], topic, partition=p))
                batches[p] = producer.create_batch()
                batches[p].append(key=key.encode(), value=value, timestamp=None)
        for p, batch in batches.items():
            if batch.record_count():
                sends.append(await producer.send_batch(batch, topic, partition=p))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return counts


async def raw_read(bootstrap: str, topic: str, ends: dict[int, int]) -> float:
    """Seconds for aiokafka to read the topic from the beginning to its end: no decoding, no store."""
    started = time.perf_counter()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed",
                                max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        read = 0
        while read < sum(ends.values()):
            batch = await consumer.getmany(timeout_ms=200)
            read += sum(len(messages) for messages in batch.values())
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def write_audience(path: Path, channel: str, contacts: int, suppressed_records: int, seed: int = 7) -> None:
    """1 contact in 5 on a suppressed address, 1 in 50 invalid, 1 in 30 a repeat of an
    earlier contact's address in another spelling, the rest an address of its own (phone
    numbers in the four usual spellings)."""
    rng = random.Random(seed)
    sms = channel == "sms"
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(("contact_id", "address", "name"))
        for i in range(contacts):
            roll = rng.random()
            if roll < 0.2:
                j = rng.randrange(suppressed_records // 2) * 2 + sms  # a record of this channel
                address = suppressed(j)[1]
                if sms:
                    address = SPELLINGS[j % 4](address)
            elif roll < 0.22:
                address = f"070-{i} x" if sms else f"broken{i}@@example"
            elif roll < 0.253 and i:
                j = rng.randrange(i)
                address = SPELLINGS[(j + 1) % 4](phone_number(5_000_000 + j)) if sms else f"Person{j}@Example.com"
            else:
                address = SPELLINGS[i % 4](phone_number(5_000_000 + i)) if sms else f"person{i}@example.com"
            out.writerow((f"c-{i}", address, f"Contact {i}"))


def raw_csv(path: Path) -> float:
    started = time.perf_counter()
    with open(path, newline="") as f:
        for _ in csv.reader(f):
            pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="suppressed addresses on the topic")
    parser.add_argument("--audience", type=int, default=1_000_000, help="contacts in the audience")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bounceback-sendout-bench-"))
    broker = EmbeddedBroker(log_path=str(workdir / "broker.log")).start()
    topic = "bench.suppressions"
    try:
        t = time.perf_counter()
        ends = asyncio.run(load_topic(broker.bootstrap, topic, args.records, args.partitions))
        print(f"loaded {args.records:,} address records onto {topic} in {time.perf_counter() - t:.1f}s "
              f"({args.partitions} partitions, embedded broker)")

        raw = args.records / asyncio.run(raw_read(broker.bootstrap, topic, ends))
        print(f"aiokafka reading the topic, no logic          : {raw:>11,.0f} records/s   (baseline, run 1)")
        client = SuppressionClient(broker.bootstrap, workdir / "store", topic).start()
        try:
            if not client.wait_caught_up(1800):
                raise RuntimeError(f"the client did not catch up: {client.error!r}")
            stats = client.stats
            assert stats.records_read == args.records and stats.malformed == 0, stats
            rate = args.records / stats.caught_up_after
            print(f"SuppressionClient catch-up into RocksDB       : {rate:>11,.0f} records/s "
                  f"= {rate / raw:.2f}x the baseline   (goal: >= 100,000; {stats.caught_up_after:.2f}s)")
        finally:
            client.stop()
        # the broker may serve a topic faster once it has been read: the baseline again, after
        again = args.records / asyncio.run(raw_read(broker.bootstrap, topic, ends))
        print(f"aiokafka reading the topic, no logic          : {again:>11,.0f} records/s   (baseline, run 2)")

        # the planner as `plan-sendout` runs it a second time: on a view resumed from its store
        client = SuppressionClient(broker.bootstrap, workdir / "store", topic).start()
        try:
            if not client.wait_caught_up(600):
                raise RuntimeError(f"the client did not catch up: {client.error!r}")
            print(f"client restarted on its store: caught up in {client.stats.caught_up_after:.2f}s, "
                  f"{client.stats.records_read:,} records read again")
            for channel in ("email", "sms"):
                audience = workdir / f"audience-{channel}.csv"
                write_audience(audience, channel, args.audience, args.records)
                csv_rate = args.audience / raw_csv(audience)
                plan = SendoutPlan("so-bench", channel, "marketing", 10.0, client.reasons_of_key, AddressNormaliser())
                t = time.perf_counter()
                summary = plan_audience(str(audience), plan, workdir / f"plan-{channel}", AT)
                elapsed = time.perf_counter() - t
                rate = args.audience / elapsed
                print(f"{channel:<5} csv module reading+splitting the audience: {csv_rate:>11,.0f} contacts/s  (baseline)")
                print(f"{channel:<5} planner (normalise, look up, dedupe, draw, write): {rate:>8,.0f} contacts/s "
                      f"= {rate / csv_rate:.2f}x the baseline   (goal: >= 150,000; {elapsed:.2f}s)")
                print(f"      audience {summary.audience:,}: invalid {summary.invalid:,}, suppressed "
                      f"{summary.suppressed:,} {summary.suppressed_by_reason}, duplicate addresses "
                      f"{summary.duplicate_addresses:,}, control group {summary.control_group:,}, "
                      f"to send {summary.to_send:,}")
        finally:
            client.stop()

        t = time.perf_counter()
        with open(workdir / "plan-email" / EVENTS, "rb") as lines:
            published, _ = asyncio.run(publish_lines(lines, broker.bootstrap, "bench.events", args.partitions))
        elapsed = time.perf_counter() - t
        print(f"publishing the {published:,} control_group events (publish_lines): {published / elapsed:,.0f} events/s "
              f"(not part of the planner's rate)")
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
