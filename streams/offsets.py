"""Which offsets of the agents' source partitions may be committed.

faust commits, per partition, the end of the first run of consecutive offsets its streams
acknowledged, counting offsets it never saw (transaction markers, aborted records) as
acknowledged, and allowing one missing offset after the last commit; so a record that was
fetched but never processed (cleared from a queue at a rebalance, dropped as "already
seen" after a seek) could be committed as processed. The ledger instead records every
offset fetched for the agents and every offset they finished (outputs acknowledged, state
written), and the offset to commit is the end of what was processed, never past a record
fetched and not processed (streams/fence.py seeks back to such a record).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable


class OffsetLedger:
    """Per source partition: the offsets fetched for the agents and not yet processed, and
    the offset after the last one processed. Fed from faust's consumer thread (fetched)
    and the event loop (processed, committable), hence the lock."""

    def __init__(self, topics: Iterable[str]) -> None:
        self.topics = frozenset(topics)
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], set[int]] = {}
        self._done: dict[tuple[str, int], int] = {}

    def fetched(self, records) -> None:
        topics = self.topics
        with self._lock:
            for tp, batch in records.items():
                if batch and tp.topic in topics:
                    self._pending.setdefault((tp.topic, tp.partition), set()).update(r.offset for r in batch)

    def processed(self, topic: str, partition: int, offsets: list[int]) -> None:
        key = (topic, partition)
        with self._lock:
            pending = self._pending.get(key)
            if pending:
                pending.difference_update(offsets)
            end = max(offsets) + 1
            if end > self._done.get(key, -1):
                self._done[key] = end

    def rewound(self, tp) -> None:
        """The consumer was sought back to the committed offset: what was processed since is
        processed again, and its end is what is processed after this."""
        with self._lock:
            self._done.pop((tp.topic, tp.partition), None)

    def unprocessed(self, tp) -> int:
        """Records of `tp` fetched and not processed."""
        with self._lock:
            return len(self._pending.get((tp.topic, tp.partition), ()))

    def end(self, tp) -> int:
        with self._lock:
            return self._done.get((tp.topic, tp.partition), -1)

    def committable(self, tp, committed: int | None) -> tuple[int | None, int | None]:
        """(offset to commit or None, the record it is held at if one was skipped)."""
        key = (tp.topic, tp.partition)
        with self._lock:
            done = self._done.get(key)
            if done is None:
                return None, None
            pending = self._pending.get(key)
            held = None
            if pending:
                if committed is not None:
                    stale = [o for o in pending if o < committed]
                    pending.difference_update(stale)
                held = min((o for o in pending if o < done), default=None)
            return (held if held is not None else done), held
