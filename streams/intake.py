"""The records an agent reads, handed over in batches, as the consumer fetched them.

faust turns every record into a `Message` and an `Event`, routes it through its conductor
into a stream's queue and acknowledges it one by one; that costs more than the rules do.
The agents only need a partition's records in order, so the consumer's fetch results for
their source partitions are put here whole (streams/fence.py) and an agent takes them as
one batch. Offsets are then tracked per batch (streams/offsets.py), not per record.

Nothing here knows faust: the fence tells the intake when to drop what it holds (a
rebalance, as faust clears its stream queues), and the intake tells the fence when a
partition holds so much that fetching it should pause, and when it may go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable


class Intake:
    def __init__(self, high: int, on_full: Callable[[Hashable], None] | None = None,
                 on_drained: Callable[[Hashable], None] | None = None) -> None:
        # per partition: lists of records in fetch order
        self._records: dict[Hashable, list[list]] = {}
        self._sizes: dict[Hashable, int] = {}
        self._size = 0
        self._full: set[Hashable] = set()
        self._high = high
        # called with a partition whose records pile up, and once they are taken
        self.on_full = on_full or (lambda tp: None)
        self.on_drained = on_drained or (lambda tp: None)
        self._arrived = asyncio.Event()

    def __len__(self) -> int:
        return self._size

    def put(self, tp: Hashable, records: list) -> None:
        """A partition's records from one fetch, in offset order."""
        if not records:
            return
        self._records.setdefault(tp, []).append(records)
        size = self._sizes[tp] = self._sizes.get(tp, 0) + len(records)
        self._size += len(records)
        if size >= self._high and tp not in self._full:
            self._full.add(tp)
            self.on_full(tp)
        self._arrived.set()

    def clear(self) -> None:
        """Drop everything (at a rebalance: what was fetched is fetched again after the seek
        to the committed offsets)."""
        drained = list(self._full)
        self._records.clear()
        self._sizes.clear()
        self._full.clear()
        self._size = 0
        self._arrived.clear()
        for tp in drained:
            self.on_drained(tp)

    async def take(self, max_records: int, within: float) -> list[tuple[Hashable, list]]:
        """At least one record and at most `max_records`: waits for the first, then up to
        `within` seconds more for `max_records`. Each partition's records in order."""
        while not self._size:
            self._arrived.clear()
            await self._arrived.wait()
        if self._size < max_records and within > 0:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + within
            while self._size and self._size < max_records:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except TimeoutError:
                    break
            if not self._size:  # cleared meanwhile
                return await self.take(max_records, within)
        return self._pop(max_records)

    def _pop(self, max_records: int) -> list[tuple[Hashable, list]]:
        taken: list[tuple[Hashable, list]] = []
        count = 0
        for tp in list(self._records):
            if count >= max_records:
                break
            chunks = self._records[tp]
            records: list = []
            while chunks and count + len(records) < max_records:
                room = max_records - count - len(records)
                chunk = chunks[0]
                if len(chunk) > room:
                    records.extend(chunk[:room])
                    chunks[0] = chunk[room:]
                else:
                    records.extend(chunks.pop(0))
            if not chunks:
                del self._records[tp]
            count += len(records)
            taken.append((tp, records))
            left = self._sizes[tp] = self._sizes[tp] - len(records)
            if tp in self._full and left < self._high // 2:
                self._full.discard(tp)
                self.on_drained(tp)
        self._size -= count
        return taken
