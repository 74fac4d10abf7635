"""Replay throughput: `bounceback replay` (decode + normalise + fold + write) beside the bare
msgspec decode of the same file, in one run.

    python -m bench.replay_bench [--events 1000000] [--addresses 100000]

The log is generated once (seeded) into bench/data/ and reused. A third figure, decode plus
one dict lookup and one event-id check per event and nothing else, shows the least any
fold in Python costs beside the bare decode.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec

from bounceback.replay import fold_log, write_outputs
from schemas.events import Event

DATA = Path(__file__).resolve().parent / "data"
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
EMAIL_OUTCOMES = ["delivered"] * 55 + ["opened"] * 20 + ["soft_bounce"] * 10 + ["deferred"] * 6 + \
                 ["hard_bounce"] * 2 + ["control_group"] * 3 + ["complained"] * 1 + [None] * 3
SMS_OUTCOMES = ["delivered"] * 70 + ["soft_bounce"] * 8 + ["undelivered"] * 5 + ["hard_bounce"] * 2 + \
               ["no_status"] * 3 + ["control_group"] * 3 + [None] * 9


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(path: Path, events: int, addresses: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    emails = [f"{'User' if i % 3 == 0 else 'user'}.{i}@{rng.choice(['example.com', 'Example.org', 'mail.example.net'])}"
              for i in range(addresses * 8 // 10)]
    phones = [f"+4670{i:07d}" if i % 2 else f"070-{i // 10000:03d} {i % 10000:04d}"[:13] for i in range(addresses - len(emails))]
    phones = [p if p.startswith("+") else f"+4673{i:07d}" for i, p in enumerate(phones)]
    encode = msgspec.json.encode
    written = 0
    clock = START
    step = timedelta(seconds=30)
    with open(path, "wb") as out:
        def emit(obj):
            nonlocal written
            out.write(encode(obj) + b"\n")
            written += 1

        for c in range(addresses // 4):
            emit({"type": "contact", "event_id": f"c-ev-{c}", "occurred_at": _stamp(clock), "contact_id": f"c-{c}",
                  "emails": [emails[(c * 3) % len(emails)]], "phones": [phones[c % len(phones)]] if c % 2 else []})
        message = 0
        while written < events:
            clock += step
            if message % 2000 == 0:
                emit({"type": "tick", "at": _stamp(clock)})
            message += 1
            sms = rng.random() < 0.2
            address = rng.choice(phones) if sms else rng.choice(emails)
            channel = "sms" if sms else "email"
            base = {"type": "delivery", "occurred_at": _stamp(clock), "channel": channel, "address": address,
                    "message_id": f"m-{message}", "sendout_id": f"so-{message // 5000}", "contact_id": f"c-{message % (addresses // 4)}"}
            emit(dict(base, event_id=f"e-{message}-s", status="sent"))
            outcome = rng.choice(SMS_OUTCOMES if sms else EMAIL_OUTCOMES)
            if outcome is not None:
                report = dict(base, event_id=f"e-{message}-r", status=outcome,
                              occurred_at=_stamp(clock + timedelta(minutes=rng.randint(1, 600))))
                if outcome in ("soft_bounce", "hard_bounce", "undelivered"):
                    report.update(bounce_reason="Mailbox full" if outcome == "soft_bounce" else "No such user",
                                  bounce_code="4.2.2" if outcome == "soft_bounce" else "5.1.1")
                emit(report)
            if rng.random() < 0.01:
                emit({"type": "unsubscribe", "event_id": f"u-{message}", "occurred_at": _stamp(clock),
                      "channel": channel, "address": address})
        emit({"type": "tick", "at": _stamp(clock + timedelta(days=5))})


def bare_decode(path: Path) -> int:
    decode = msgspec.json.Decoder(Event).decode
    count = 0
    with open(path, "rb") as f:
        for line in f:
            decode(line)
            count += 1
    return count


def lookup_floor(path: Path) -> int:
    """The least any fold of the rules does per event in Python: decode it, find its address
    in a dict and check its id against the ids applied there. Nothing else."""
    decode = msgspec.json.Decoder(Event).decode
    scopes: dict[str, dict[str, None]] = {}
    count = 0
    with open(path, "rb") as f:
        for line in f:
            event = decode(line)
            count += 1
            address = getattr(event, "address", None)
            if address is not None:
                applied = scopes.get(address)
                if applied is None:
                    applied = scopes[address] = {}
                if event.event_id not in applied:
                    applied[event.event_id] = None
    return count


def replay(path: Path, out: Path) -> tuple[int, int, float]:
    t = time.perf_counter()
    with open(path, "rb") as f:
        result = fold_log(f)
    folded = time.perf_counter() - t
    counts = write_outputs(result, out)
    return result.events, counts["rejected"], folded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--addresses", type=int, default=100_000)
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    path = DATA / f"replay-{args.events}-{args.addresses}.jsonl"
    if not path.exists():
        t = time.perf_counter()
        generate(path, args.events, args.addresses)
        print(f"generated {path} in {time.perf_counter() - t:.1f}s")
    size = path.stat().st_size
    print(f"log: {path.name}, {size / 1e6:.0f} MB")

    with open(path, "rb") as f:  # into the page cache, so the first figure does not pay the disk
        while f.read(1 << 24):
            pass
    gc.collect()
    t = time.perf_counter()
    decoded = bare_decode(path)
    bare = time.perf_counter() - t
    print(f"bare msgspec decode : {decoded:>9,} lines in {bare:6.2f}s = {decoded / bare:>10,.0f} events/s")

    gc.collect()
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        events, rejected, folded = replay(path, Path(out))
        full = time.perf_counter() - t
    print(f"bounceback replay   : {events:>9,} events in {full:6.2f}s = {events / full:>10,.0f} events/s "
          f"(decode + fold {folded:.2f}s + write {full - folded:.2f}s; {rejected} rejected)")
    gc.collect()
    gc.disable()  # as the replay runs
    t = time.perf_counter()
    looked_up = lookup_floor(path)
    floor = time.perf_counter() - t
    gc.enable()
    print(f"decode + lookup only: {looked_up:>9,} lines in {floor:6.2f}s = {looked_up / floor:>10,.0f} events/s "
          f"({floor / bare:.2f}x the decode time: the floor of any fold in Python)")

    print(f"replay / bare decode: {full / bare:.2f}x the time   (goal: <= 3x, and >= 200,000 events/s)")
    print(f"peak RSS            : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
