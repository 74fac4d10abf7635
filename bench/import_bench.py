"""Bounce-list import: rows/s and peak memory of `bounceback import-bounce-list` on a
1,000,000-row CSV, beside baselines measured in the same run on the same file.

    python -m bench.import_bench [--rows 1000000] [--no-publish]

Each measurement runs in a process of its own, so its peak RSS (from wait4) is its own:
- baseline "csv.reader": Python's csv module counting the rows (streamed, nothing else);
- baseline "whole file in memory": the rows read into a list and put in a set, the way an
  import that does not stream would hold them;
- `import-bounce-list --dry-run`: decode, parse, normalise, count duplicates, build events;
- `import-bounce-list` publishing to the embedded broker (skipped with --no-publish).

The file is generated once (seeded) into bench/data/ and reused: semicolon-separated with
a header, about 8 % phone numbers, some quoted values, 1 % duplicates, 0.5 % invalid rows.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parents[1]

BASELINE_CSV = """
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8-sig") as f:
    n = sum(1 for _ in csv.reader(f, delimiter=";"))
print(n)
"""
BASELINE_IN_MEMORY = """
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8-sig") as f:
    rows = list(csv.reader(f, delimiter=";"))
print(len({r[1].strip().lower() for r in rows if len(r) > 1}))
"""


def generate(path: Path, rows: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    domains = ["example.com", "Example.org", "mail.example.net", "shop.example.se"]
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        out.write("Name;Email;Bounced at\r\n")
        for i in range(rows - 1):
            r = rng.random()
            if r < 0.005:
                address = f"broken-{i}@@example.com"
            elif r < 0.015 and i > 10:
                address = f"user.{rng.randrange(i)}@example.com"  # a duplicate, most likely
            elif r < 0.095:
                address = f"+4670{i:07d}" if i % 2 else f"070-{(i // 10000) % 1000:03d} {i % 10000:04d}"
            else:
                address = f"{'User' if i % 3 == 0 else 'user'}.{i}@{domains[i % len(domains)]}"
            name = f'"Berg; {i}"' if i % 7 == 0 else f"Name {i}"
            pad = "  " if i % 11 == 0 else ""
            out.write(f"{name};{pad}{address}{pad};2025-{1 + i % 12:02d}-{1 + i % 28:02d}\r\n")


def run(cmd: list[str]):
    """Popen + wait4, so the peak RSS measured is this child's own. Output goes to files:
    pipes read one after the other could fill up and stall the child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return process.returncode, out.read(), err.read(), usage


def bench(label: str, cmd: list[str], rows: int) -> None:
    started = time.perf_counter()
    code, out, err, usage = run(cmd)
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{label} failed:\n{err.decode()[-2000:]}")
    print(f"  {label:<44} {rows / seconds:>10,.0f} rows/s  {seconds:6.1f} s  peak RSS {usage.ru_maxrss / 1024:7.1f} MB",
          flush=True)
    lines = out.decode().strip().splitlines()
    if lines:
        print(f"      -> {lines[-1][:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-publish", action="store_true", help="Skip the import into the embedded broker.")
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    path = DATA / f"bounce_list_{args.rows}.csv"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, args.rows)
    print(f"{path.name}: {args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB", flush=True)
    py = sys.executable
    bench("baseline: csv.reader, rows counted", [py, "-c", BASELINE_CSV, str(path)], args.rows)
    bench("baseline: whole file in memory (list + set)", [py, "-c", BASELINE_IN_MEMORY, str(path)], args.rows)
    cli = [py, "-m", "bounceback.cli", "import-bounce-list", str(path), "--list", "bounced"]
    bench("import-bounce-list --dry-run", cli + ["--dry-run"], args.rows)
    if not args.no_publish:
        from streams.tansu import EmbeddedBroker

        broker = EmbeddedBroker().start()
        try:
            bench("import-bounce-list -> embedded broker", cli + ["--broker", broker.bootstrap,
                                                                  "--topic-prefix", "bench-import"], args.rows)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
