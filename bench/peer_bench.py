"""Bounceback beside its peers, in one run on one Apache Kafka 4.1 (streams/kafka_local.py):
200,000 delivery events over 20,000 addresses (bench/pipeline_bench.py's log), keyed by
address, 4 partitions, pre-loaded; then, one after the other on that broker:

- the limit: aiokafka consuming the topic and msgspec decoding each event, no logic;
- faust delivering batches to an agent that does nothing (bench/naive_agent.py);
- a Quix Streams app doing the per-address job (bench/quix_peer.py), both guarantees;
- the bounceback worker, both guarantees, and two workers sharing the partitions
  (exactly-once);

each in events/s from its first event to its last, with its ratio to Quix under the same
guarantee. Then the latency: with the exactly-once worker fed at half its throughput, a
hard bounce published to the inbound topic until its suppression record, and its
contact's card, are readable (read_committed): p50 and p99; and, once the workers' lag
metric says they have caught up, whether the cards are there.

    pip install -e '.[bench]'
    python -m bench.peer_bench [--events 200000] [--runs 1] [--workers 2] [--latency-seconds 20]
                               [--profile DIR] [--skip-peers] [--only exactly_once]

Quix Streams is only needed here (`.[bench]`); `--skip-peers` runs without it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import msgspec

from bench.pipeline_bench import applied_rate, generate, measure_marked, measure_naive
from streams.local_workers import LocalWorker
from partitions.routing import partition_for
from schemas.events import decode_event, encode_event
from streams.admin import ensure_topics
from streams.kafka_local import LocalKafka
from streams.settings import Settings, Topics

SHARED = "peer.events"  # the log the limit, faust and Quix read; each bounceback run has a copy


def keyed(lines: list[bytes], partitions: int) -> list[tuple[bytes, int, bytes]]:
    """(key, partition, value) per event: keyed by address, on the partition that owns it."""
    records = []
    for line in lines:
        event = decode_event(line)
        key = f"{event.channel}:{event.address}"
        records.append((key.encode(), partition_for(key, partitions), encode_event(event)))
    return records


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if name not in set(await admin.list_topics()):
            await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def load(bootstrap: str, topic: str, records) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    try:
        pending = []
        for key, partition, value in records:
            pending.append(await producer.send(topic, value, key=key, partition=partition))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def measure_limit(bootstrap: str, topic: str, partitions: int, expected: int) -> float:
    """aiokafka consume + msgspec decode of every event, read_committed, no logic."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                                isolation_level="read_committed", max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        seen, first = 0, None
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if first is None and batches:
                first = time.perf_counter()
            for records in batches.values():
                for record in records:
                    decode_event(record.value)
                seen += sum(len(records) for records in batches.values())
        return expected / (time.perf_counter() - first)
    finally:
        await consumer.stop()


def measure_quix(bootstrap: str, guarantee: str, expected: int, workdir: Path) -> float:
    name = f"quix-{guarantee}-{workdir.name}"
    env = dict(os.environ, BROKER=bootstrap, TOPIC=SHARED, OUTPUT=f"{name}.suppressions", GROUP=name,
               STATE_DIR=str(workdir / f"{name}-state"), EXPECTED=str(expected), GUARANTEE=guarantee)
    return measure_marked([sys.executable, "-m", "bench.quix_peer"], env, workdir / f"{name}.log", expected)


class Profiler:
    """py-spy sampling a worker process (with its threads) while it runs."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        self.process = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
                                         "--nonblocking", "--output", str(out)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(60)


def top_of_profile(raw: Path, n: int = 15) -> str:
    """From py-spy's collapsed stacks: the share of samples by package (at the top of the
    stack), the functions most often at the top (self) and on the stack below the event
    loop (inclusive, less the frames that enclose most of the run)."""
    inclusive, own, packages, total = Counter(), Counter(), Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        count = int(count)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples; self, by package:"]
    lines += [f"  {c / total:6.1%}  {name}" for name, c in packages.most_common(12)]
    lines += ["self, by function:"]
    lines += [f"  {c / total:6.1%}  {f}" for f, c in own.most_common(n)]
    lines += ["inclusive (frames on the stack in less than 50% of the samples):"]
    lines += [f"  {c / total:6.1%}  {f}" for f, c in inclusive.most_common() if c < total / 2][:2 * n]
    return "\n".join(lines)


def _package(frame: str) -> str:
    """The package of a collapsed-stack frame `function (package/file.py:line)`."""
    top = frame.rpartition("(")[2].split("/", 1)[0]
    if top.endswith(")") or top.startswith("<"):
        return "python (stdlib, builtins)"
    if top in ("streams", "partitions", "projections", "schemas", "bounceback", "replay"):
        return f"bounceback {top}/"
    return top


def measure_workers(bootstrap: str, prefix: str, partitions: int, expected: int, workdir: Path, guarantee: str,
                    workers: int = 1, profile: Path | None = None) -> tuple[float, list[LocalWorker]]:
    """Events/s of `workers` bounceback workers from the first event applied to the last
    (state written, outputs acknowledged), read from their /metrics. Returns them running."""
    started = [LocalWorker(bootstrap, prefix, partitions, workdir / f"{prefix}-{i}-state",
                           workdir / f"{prefix}-{i}.log", embedded=False, name=f"{prefix}-{i}")
               .start(env={"BOUNCEBACK_PROCESSING_GUARANTEE": guarantee}) for i in range(workers)]
    profiler = None
    try:
        profiler = Profiler(started[0].process.pid, profile) if profile else None
        rate = applied_rate(started, expected)
    finally:
        if profiler:
            profiler.stop()
    if rate is None:
        for worker in started:
            worker.stop()
        raise RuntimeError("the workers did not finish:\n" + "\n".join(w.log_tail() for w in started))
    return rate, started


PROBE_DOMAIN = "latency.example"


def timings(workers: list[LocalWorker]) -> Counter:
    """The sums and counts of the workers' batch and commit time histograms (/metrics)."""
    totals: Counter = Counter()
    for worker in workers:
        try:
            _, body = worker.get("/metrics")
        except OSError:
            continue
        for line in body.decode().splitlines():
            name, _, value = line.rpartition(" ")
            if name.startswith(("bounceback_batch_seconds_", "bounceback_commit_seconds_")) and \
                    name.split("{")[0].endswith(("_sum", "_count")):
                totals[name] += float(value)
    return totals


def timing_line(before: Counter, after: Counter) -> str:
    def mean(prefix: str, labels: str = "") -> str:
        count = after[f"{prefix}_count{labels}"] - before[f"{prefix}_count{labels}"]
        total = after[f"{prefix}_sum{labels}"] - before[f"{prefix}_sum{labels}"]
        return f"{count:,.0f} x {total / count * 1000:,.0f} ms" if count else "none"

    gate, commit = '{phase="gate"}', '{phase="commit"}'
    return (f"batches {mean('bounceback_batch_seconds')}; commits: waiting for the batch in flight "
            f"{mean('bounceback_commit_seconds', gate)}, committing {mean('bounceback_commit_seconds', commit)}")


def probes_and_load(count: int, seed: int, load: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Contacts each holding one fresh address, a hard bounce for each, and background
    delivery reports (new event ids) for the addresses of the pre-loaded log."""
    contacts, bounces = [], []
    for i in range(count):
        address = f"probe{seed}-{i}@{PROBE_DOMAIN}"
        contacts.append(msgspec.json.encode({"type": "contact", "event_id": f"probe-contact-{seed}-{i}",
                                             "occurred_at": "2026-03-01T00:00:00Z", "contact_id": f"probe-{seed}-{i}",
                                             "emails": [address], "phones": []}))
        bounces.append(msgspec.json.encode({"type": "delivery", "event_id": f"probe-bounce-{seed}-{i}",
                                            "occurred_at": "2026-03-02T00:00:00Z", "channel": "email",
                                            "address": address, "message_id": f"probe-m-{seed}-{i}",
                                            "status": "hard_bounce", "contact_id": f"probe-{seed}-{i}"}))
    load = [line.replace(b'"e-', f'"l{seed}-'.encode()).replace(b'"m-', f'"lm{seed}-'.encode())
            for line in generate(load, 20_000, seed=seed)]
    return contacts, bounces, load


async def measure_latency(bootstrap: str, topics: Topics, partitions: int, rate: float, seconds: float,
                          workers: list[LocalWorker], seed: int) -> dict[str, list[float]]:
    """Publish to visible, read_committed: a hard bounce published to the inbound topic
    (10 a second, among background reports at `rate` events/s in all) until its suppression
    record, and its contact's card showing it, can be read. Then, once every worker's lag
    metric says it has caught up, how many of the cards were already visible."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    probes = int(seconds * 10)
    contacts, bounces, load = probes_and_load(probes, seed, int(rate * seconds * 1.2) + 1000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
    await producer.start()
    watcher = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                               enable_auto_commit=False)
    await watcher.start()
    sent: dict[bytes, float] = {}
    seen: dict[str, dict[bytes, float]] = {"suppression": {}, "contact card": {}}
    try:
        outputs = [TopicPartition(t, p) for t in (topics.suppressions, topics.contact_status) for p in range(partitions)]
        watcher.assign(outputs)
        await watcher.seek_to_end(*outputs)

        def keyed(value: bytes) -> tuple[bytes, int, bytes]:
            event = decode_event(value)
            key = event.contact_id if type(event).__name__ == "Contact" else f"{event.channel}:{event.address}"
            return key.encode(), partition_for(key, partitions), encode_event(event)

        for value in contacts:  # the probes' contacts first, with the cards they make
            key, partition, value = keyed(value)
            await producer.send(topics.inbound, value, key=key, partition=partition)
        await producer.flush()
        await asyncio.sleep(3)

        async def watch() -> None:
            while True:
                for tp, records in (await watcher.getmany(timeout_ms=200)).items():
                    now = time.perf_counter()
                    kind = "suppression" if tp.topic == topics.suppressions else "contact card"
                    for record in records:
                        if PROBE_DOMAIN.encode() in record.value and b"hard_bounce" in record.value:
                            seen[kind].setdefault(record.key, now)

        watching = asyncio.create_task(watch())
        before = timings(workers)
        started = time.perf_counter()
        published = 0
        background = iter(load)
        for i in range(probes):
            # the background load up to this instant, then the probe
            due = int(rate * (time.perf_counter() - started))
            while published < due:
                key, partition, value = keyed(next(background))
                await producer.send(topics.inbound, value, key=key, partition=partition)
                published += 1
            key, partition, value = keyed(bounces[i])
            sent[key] = time.perf_counter()
            sent[f"probe-{seed}-{i}".encode()] = sent[key]
            await producer.send(topics.inbound, value, key=key, partition=partition)
            await asyncio.sleep(max(0.0, started + (i + 1) / 10 - time.perf_counter()))
        await producer.flush()
        during = timing_line(before, timings(workers))
        # caught up by the lag metric: are the cards there?
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(w.lag() == 0 for w in workers):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # what the watcher fetched by then
        caught_up = len(seen["contact card"])
        await asyncio.sleep(5)
        watching.cancel()
        print(f"  latency: {published:,} background events at {rate:,.0f}/s with {probes} hard bounces over "
              f"{seconds:.0f} s; when every worker's lag said caught up, {caught_up} of {probes} contact cards "
              f"were visible ({len(seen['contact card'])} 5 s later); meanwhile {during}", flush=True)
    finally:
        await producer.stop()
        await watcher.stop()
    return {kind: sorted(at - sent[key] for key, at in times.items() if key in sent) for kind, times in seen.items()}


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def latency_line(latencies: dict[str, list[float]], probes: int) -> str:
    return "; ".join(f"{kind} p50 {percentile(v, 0.5) * 1000:,.0f} ms, p99 {percentile(v, 0.99) * 1000:,.0f} ms "
                     f"({len(v)} of {probes} seen)" for kind, v in latencies.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--addresses", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="py-spy the bounceback worker (of several, the first); "
                        "collapsed stacks go here")
    parser.add_argument("--skip-peers", action="store_true", help="only the limit and the bounceback worker")
    parser.add_argument("--only", choices=["at_least_once", "exactly_once"], help="one guarantee only")
    parser.add_argument("--workers", type=int, default=2, help="also this many workers sharing the partitions")
    parser.add_argument("--latency-seconds", type=float, default=20, help="0: no latency measurement")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bounceback-peer-"))
    records = keyed(generate(args.events, args.addresses), args.partitions)
    expected = len(records)
    kafka = LocalKafka(workdir / "kafka", heap="1g").start()
    print(f"Apache Kafka 4.1 on {kafka.bootstrap}; {expected:,} delivery events over {args.addresses:,} addresses, "
          f"{args.partitions} partitions; work in {workdir}", flush=True)
    guarantees = [args.only] if args.only else ["at_least_once", "exactly_once"]
    try:
        asyncio.run(create_topic(kafka.bootstrap, SHARED, args.partitions))
        asyncio.run(load(kafka.bootstrap, SHARED, records))
        for run in range(1, args.runs + 1):
            results = Results()
            rundir = workdir / f"r{run}"
            rundir.mkdir()
            results["limit"] = asyncio.run(measure_limit(kafka.bootstrap, SHARED, args.partitions, expected))
            if not args.skip_peers:
                results["faust empty agent"] = measure_naive(kafka.bootstrap, SHARED, args.partitions, expected, rundir,
                                                             "empty", embedded=False, app_id=f"faust-empty-{run}")
                for guarantee in guarantees:
                    results[f"quix {guarantee}"] = measure_quix(
                        kafka.bootstrap, guarantee.replace("_", "-"), expected, rundir)
            latencies = {}
            runs = [(guarantee, 1) for guarantee in guarantees]
            if "exactly_once" in guarantees and args.workers > 1:
                runs.append(("exactly_once", args.workers))
            for guarantee, count in runs:
                kind = "eos" if guarantee == "exactly_once" else "alo"
                prefix = f"bb{run}-{kind}" + (f"-{count}" if count > 1 else "")
                settings = Settings(broker=kafka.bootstrap, partitions=args.partitions, topics=Topics(prefix))
                asyncio.run(ensure_topics(settings))
                asyncio.run(load(kafka.bootstrap, settings.topics.inbound, records))
                profile = args.profile / f"{prefix}.txt" if args.profile else None  # of several workers: the first
                if profile:
                    profile.parent.mkdir(parents=True, exist_ok=True)
                rate, workers = measure_workers(kafka.bootstrap, prefix, args.partitions, expected, rundir, guarantee,
                                                workers=count, profile=profile)
                name = "bounceback" + (f" {count} workers" if count > 1 else "")
                results[f"{name} {guarantee}"] = rate
                try:
                    if profile:
                        print(f"profile of {prefix} ({guarantee}):\n{top_of_profile(profile)}", flush=True)
                    if guarantee == "exactly_once" and args.latency_seconds:
                        latencies[name] = asyncio.run(measure_latency(
                            kafka.bootstrap, settings.topics, args.partitions, rate / 2, args.latency_seconds,
                            workers, seed=run * 10 + count))
                        print(f"  {name}, exactly-once, at half its throughput: "
                              f"{latency_line(latencies[name], int(args.latency_seconds * 10))}", flush=True)
                finally:
                    for worker in workers:
                        worker.stop()
            results.report(run)
            for name, latency in latencies.items():
                print(f"  latency, {name}, exactly-once, at half its throughput (publish to visible, "
                      f"read_committed): {latency_line(latency, int(args.latency_seconds * 10))}", flush=True)
    finally:
        kafka.stop()


class Results(dict):
    """events/s by name, printed as they come and as a table at the end of a run."""

    def __setitem__(self, name: str, rate: float) -> None:
        super().__setitem__(name, rate)
        print(f"  {name}: {rate:,.0f} events/s", flush=True)

    def report(self, run: int) -> None:
        limit = self["limit"]
        print(f"\nrun {run}: events/s (ratio to Quix Streams under the same guarantee; share of the limit)")
        for name, rate in self.items():
            quix = self.get(f"quix {name.rsplit(' ', 1)[-1]}")
            versus = f"{rate / quix:5.2f}x Quix" if quix and not name.startswith("quix") else ""
            print(f"  {name:<30} {rate:>9,.0f}  {versus:<11} 1/{limit / rate:.1f} of the limit", flush=True)


if __name__ == "__main__":
    main()
