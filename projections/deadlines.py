"""The queue of pending deadlines (72 h deferral, 48 h SMS validity), in due order.

A tick pops only what is due, so its cost follows the deadlines it fires, not the ones
pending. Entries are not removed when a message settles or its deadline moves; the
address fold ignores a stale entry when it is popped (see `fire_deadline`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime


class DeadlineQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str, str]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due: datetime, key: str, message_id: str) -> None:
        heapq.heappush(self._heap, (due, key, message_id))

    def pop_due(self, at: datetime) -> Iterator[tuple[datetime, str, str]]:
        """Every entry due at or before `at`, earliest first (then by key and message id)."""
        heap = self._heap
        while heap and heap[0][0] <= at:
            yield heapq.heappop(heap)
