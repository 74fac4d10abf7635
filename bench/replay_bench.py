"""Replay throughput and memory: `bounceback replay` with 1 and 2 processes beside the replay
this engine replaced (its own single-process fold, commit BASELINE_REF, run from a git
worktree of that commit) and beside the bare msgspec decode of the same file, in one run.

    python -m bench.replay_bench [--events 1000000] [--addresses 100000] [--jobs 1,2]

The log is generated once (seeded) into bench/data/ and reused. Each replay runs in a fresh
process, so its peak RSS is its own; a parallel replay prints the peak RSS of each of its
processes. A last figure, decode plus one dict lookup and one event-id check per event and
nothing else, shows the least any fold in Python costs beside the bare decode.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec

from schemas.events import Event

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
# the last commit with the replay-only fold (projections/ledger.py) that this engine replaced
BASELINE_REF = "ef09b98"
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


# Each replay runs in a process of its own and prints its figures as JSON.
_REPLAY = """
import json, resource, sys, time
t = time.perf_counter()
from replay.runner import replay_file
summary = replay_file(sys.argv[1], sys.argv[2], jobs=int(sys.argv[3]))
print(json.dumps({"seconds": time.perf_counter() - t, "events": summary.events, "rss": summary.peak_rss_mib}))
"""
_BASELINE = """
import json, resource, sys, time
t = time.perf_counter()
from bounceback.replay import fold_log, write_outputs
with open(sys.argv[1], "rb") as f:
    result = fold_log(f)
write_outputs(result, sys.argv[2])
rss = [int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(json.dumps({"seconds": time.perf_counter() - t, "events": result.events, "rss": rss}))
"""


def run_replay(script: str, path: Path, out: Path, *args: str, cwd: Path = ROOT) -> dict:
    """Wall seconds, events and peak RSS of each process, and the CPU seconds of them all."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", script, str(path), str(out), *args], cwd=cwd,
                          env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"}, capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = json.loads(done.stdout.splitlines()[-1])
    figures["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return figures


def baseline_checkout(ref: str, into: Path) -> Path | None:
    """A worktree of the baseline commit, or None where there is no git checkout."""
    done = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), ref],
                          capture_output=True)
    return into if done.returncode == 0 else None


def same_files(baseline: Path, new: Path) -> bool:
    """The same outputs, the baseline's contact records shown as RULES.md §7 now has them
    (the latest 100 messages, and how many in all)."""
    names = ("addresses.jsonl", "suppressions.jsonl", "rejected.jsonl")
    if not all((baseline / n).read_bytes() == (new / n).read_bytes() for n in names):
        return False
    with open(baseline / "contacts.jsonl", "rb") as old, open(new / "contacts.jsonl", "rb") as now:
        for a, b in zip(old, now, strict=True):
            card = msgspec.json.decode(a)
            card["messages_total"] = len(card["messages"])
            card["messages"] = card["messages"][:100]
            if card != msgspec.json.decode(b):
                return False
    return True


def _line(name: str, figures: dict, base: float | None = None) -> str:
    rate = figures["events"] / figures["seconds"]
    rss = " + ".join(f"{r:,.0f}" for r in figures["rss"])
    text = (f"{name:<26}: {figures['events']:>9,} events in {figures['seconds']:6.2f}s = {rate:>9,.0f} events/s"
            f" (cpu {figures['cpu']:.2f}s; peak RSS {rss} MiB)")
    if base is not None:
        text += f"  {base / figures['seconds']:.2f}x the baseline's speed"
    return text


def weekly_memory(addresses: int) -> None:
    """Peak memory of a replay against the length of its addresses' history (RULES.md §7)."""
    from bench.growth_bench import weekly

    rss = {}
    with tempfile.TemporaryDirectory() as scratch:
        for weeks in (10, 100, 1000):
            path = Path(scratch) / f"weekly-{weeks}.jsonl"
            lines, _ = weekly(addresses, weeks)
            path.write_bytes(b"".join(line + b"\n" for line in lines))
            del lines
            figures = run_replay(_REPLAY, path, Path(scratch) / f"out-{weeks}", "1")
            rss[weeks] = figures["rss"][0]
            print(f"weekly, {addresses} addresses x {weeks:>4} weeks: {figures['events']:>9,} events in "
                  f"{figures['seconds']:6.2f}s, peak RSS {rss[weeks]:,.0f} MiB")
    print(f"peak RSS at 1,000 weeks / at 100 weeks: {rss[1000] / rss[100]:.2f}x (goal: flat; 10 weeks fill "
          f"neither the batches nor the cards)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--addresses", type=int, default=100_000)
    parser.add_argument("--jobs", default="1,2", help="process counts to replay with, comma-separated")
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="the commit whose replay is the baseline")
    parser.add_argument("--weekly", type=int, default=500, metavar="ADDRESSES",
                        help="also replay ADDRESSES mailed weekly for 10, 100 and 1,000 weeks, a tick a day, "
                             "and print each one's peak RSS (0: not)")
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

    jobs = [int(j) for j in args.jobs.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        baseline = None
        checkout = baseline_checkout(args.baseline_ref, scratch / "baseline")
        if checkout is not None:
            baseline = run_replay(_BASELINE, path, scratch / "out-baseline", cwd=checkout)
            print(_line(f"baseline ({args.baseline_ref})", baseline))
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)], capture_output=True)
        else:
            print(f"baseline ({args.baseline_ref}): not measured (no git checkout of that commit here)")
        figures = {}
        for n in jobs:
            figures[n] = run_replay(_REPLAY, path, scratch / f"out-{n}", str(n))
            print(_line(f"bounceback replay --jobs {n}", figures[n], baseline["seconds"] if baseline else None))
            if baseline is not None and not same_files(scratch / "out-baseline", scratch / f"out-{n}"):
                print(f"  OUTPUT DIFFERS from the baseline's (--jobs {n})")
        if 1 in figures:
            for n in jobs:
                if n != 1:
                    print(f"--jobs {n} / --jobs 1    : {figures[1]['seconds'] / figures[n]['seconds']:.2f}x the speed "
                          f"(goal on 2 cores: >= 1.7x)")
        print(f"replay / bare decode : {figures[jobs[0]]['seconds'] / bare:.2f}x the time (--jobs {jobs[0]})")

    if args.weekly:
        weekly_memory(args.weekly)

    gc.collect()
    gc.disable()  # as the replay runs
    t = time.perf_counter()
    looked_up = lookup_floor(path)
    floor = time.perf_counter() - t
    gc.enable()
    print(f"decode + lookup only : {looked_up:>9,} lines in {floor:6.2f}s = {looked_up / floor:>10,.0f} events/s "
          f"({floor / bare:.2f}x the decode time: the floor of any fold in Python)")


if __name__ == "__main__":
    main()
