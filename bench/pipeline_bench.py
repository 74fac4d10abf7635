"""Pipeline throughput on the embedded broker: 200,000 delivery events over 20,000
addresses pre-loaded into the inbound topic, then one worker started; events per second
from the first event applied to the last (state written, outputs produced), beside the
naive baseline (bench/naive_agent.py) run on the same topic in the same run.

    python -m bench.pipeline_bench [--events 200000] [--addresses 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec

from ingress.kafka import publish_lines
from streams.local_workers import LocalWorker
from streams.admin import ensure_topics
from streams.settings import Settings, Topics
from streams.tansu import EmbeddedBroker

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 1, tzinfo=timezone.utc)


def generate(events: int, addresses: int, seed: int = 3) -> list[bytes]:
    rng = random.Random(seed)
    outcomes = ["delivered"] * 70 + ["opened"] * 15 + ["soft_bounce"] * 10 + ["hard_bounce"] * 2 + ["deferred"] * 3
    lines = []
    for i in range(events // 2):
        address = f"user{rng.randrange(addresses)}@example.com"
        at = START + timedelta(seconds=i)
        base = {"type": "delivery", "channel": "email", "address": address, "message_id": f"m-{i}",
                "sendout_id": f"so-{i // 10000}"}
        lines.append(msgspec.json.encode(dict(base, event_id=f"e-{i}-s", occurred_at=at.isoformat(), status="sent")))
        lines.append(msgspec.json.encode(dict(base, event_id=f"e-{i}-r", occurred_at=(at + timedelta(minutes=5)).isoformat(),
                                              status=rng.choice(outcomes))))
    return lines


def _applied(worker: LocalWorker) -> int:
    """Events the worker has applied (duplicates included), from its /metrics."""
    try:
        status, body = worker.get("/metrics")
    except OSError:
        return 0
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in body.decode().splitlines()
               if line.startswith(("bounceback_events_total{", "bounceback_duplicate_events_total ")))


def measure_pipeline(broker: EmbeddedBroker, topics: Topics, partitions: int, expected: int, workdir: Path) -> float:
    worker = LocalWorker(broker.bootstrap, topics.prefix, partitions, workdir / "state", workdir / "worker.log",
                         embedded=True).start()
    try:
        rate = applied_rate([worker], expected)
    finally:
        worker.stop()
    if rate is None:
        raise RuntimeError("the pipeline did not finish:\n" + worker.log_tail())
    return rate


def applied_rate(workers: list[LocalWorker], expected: int, timeout: float = 900) -> float | None:
    """Events/s of the workers from the first event applied to the `expected`-th (read from
    their /metrics); None if they stop or take longer than `timeout`."""
    first = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(w.running for w in workers):
        done = sum(_applied(w) for w in workers)
        now = time.perf_counter()
        if done and first is None:
            first = now
        if done >= expected:
            return expected / (now - first)
        time.sleep(0.05)
    return None


def measure_naive(bootstrap: str, topic: str, partitions: int, expected: int, workdir: Path,
                  mode: str = "table", embedded: bool = True, app_id: str = "") -> float:
    env = dict(os.environ, BROKER=bootstrap, TOPIC=topic, PARTITIONS=str(partitions), EXPECTED=str(expected),
               APP_ID=app_id or f"naive-{mode}", DATADIR=str(workdir / f"naive-{mode}-state"), MODE=mode)
    if embedded:
        env["EMBEDDED"] = "1"
    return measure_marked([sys.executable, "-m", "bench.naive_agent"], env, workdir / f"naive-{mode}.log", expected)


def measure_marked(cmd: list[str], env: dict, log: Path, expected: int, timeout: float = 1800) -> float:
    """Events/s of a process that prints `FIRST <time>` at its first event and `LAST <time>`
    once it has seen `expected` of them."""
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    marks: dict[str, float] = {}
    try:
        deadline = time.monotonic() + timeout
        while "LAST" not in marks and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
            for line in log.read_text(errors="replace").splitlines():  # faust logs what the agent prints
                for kind in ("FIRST", "LAST"):
                    if f"{kind} " in line:
                        marks[kind] = float(line.split(f"{kind} ", 1)[1].split()[0])
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if "LAST" not in marks:
        raise RuntimeError(f"{cmd[-1]} did not finish; see {log}")
    return expected / (marks["LAST"] - marks["FIRST"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--addresses", type=int, default=20_000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bounceback-bench-"))
    lines = generate(args.events, args.addresses)
    broker = EmbeddedBroker(log_path=str(workdir / "broker.log")).start()
    try:
        settings = Settings(broker=broker.bootstrap, partitions=args.partitions, topics=Topics("bench"))
        asyncio.run(ensure_topics(settings))
        t = time.perf_counter()
        published, _ = asyncio.run(publish_lines(lines, broker.bootstrap, settings.topics.inbound, args.partitions))
        print(f"pre-loaded {published:,} delivery events over {args.addresses:,} addresses in "
              f"{time.perf_counter() - t:.1f}s ({args.partitions} partitions, embedded broker)")
        empty = measure_naive(broker.bootstrap, settings.topics.inbound, args.partitions, len(lines), workdir, "empty")
        print(f"faust alone, batches to an agent doing nothing: {empty:>9,.0f} events/s   (the ceiling on this machine)")
        naive = measure_naive(broker.bootstrap, settings.topics.inbound, args.partitions, len(lines), workdir)
        print(f"naive faust agent, one table update per event : {naive:>9,.0f} events/s")
        pipeline = measure_pipeline(broker, settings.topics, args.partitions, len(lines), workdir)
        print(f"bounceback worker (batched, coalesced writes) : {pipeline:>9,.0f} events/s "
              f"= {pipeline / naive:.1f}x the baseline   (goal: >= 25,000 and 5x)")
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
