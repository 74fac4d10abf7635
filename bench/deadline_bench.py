"""Tick cost with 1,000,000 pending deadlines: a tick that fires 10 beside one that fires
all, and beside scanning every pending deadline (what a tick would cost without the queue).

    python -m bench.deadline_bench [--pending 1000000]
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import timedelta

from projections.policy import Policy
from schemas.events import Tick
from partitions.address import AddressProcessor, pending_deadlines
from tests.test_deadlines import T0, _table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pending", type=int, default=1_000_000)
    args = parser.parse_args()
    gc.disable()
    per_address = 10
    t = time.perf_counter()
    table = _table(args.pending // per_address, per_address)
    print(f"built {args.pending:,} pending deadlines over {len(table):,} addresses in {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    queue = pending_deadlines(table.items())
    print(f"deadline index rebuilt from the table (once per partition assignment): {time.perf_counter() - t:.2f}s")

    t = time.perf_counter()
    scanned = sum(1 for e in table.values() for m in e.state.messages.values() if m.deadline <= T0 + timedelta(hours=72, seconds=9))
    scan = time.perf_counter() - t
    print(f"baseline, scanning all pending deadlines for the due ones: {scan * 1000:9.2f} ms ({scanned} due)")

    processor = AddressProcessor(Policy(), table.get, None, queue)
    t = time.perf_counter()
    result = processor.process([Tick(at=T0 + timedelta(hours=72, seconds=9))])
    tick = time.perf_counter() - t
    print(f"tick firing {result.deadlines_fired} of {args.pending:,} pending:           {tick * 1000:9.2f} ms "
          f"({scan / tick:,.0f}x faster than the scan)")


if __name__ == "__main__":
    main()
