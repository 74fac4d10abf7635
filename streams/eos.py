"""Corrections to faust-streaming 0.15.3 (and its aiokafka driver) under exactly-once,
found by the crash tests. Thin patches, installed on the Pipeline's app by `install`;
site-packages is left as it is.

1. **Offsets are committed from what the agents processed** (`OffsetLedger`). faust commits,
   per source partition, the end of the first run of consecutive "acked" offsets
   (`Consumer._new_offset`), where an offset it did not see counts as acked (`_add_gap`, for
   transaction markers and aborted records) and the first offset after the last commit may
   be missing (`min(acked) - committed > 1`, so that a marker there does not block commits).
   So a record that reached faust but not the agent is committed as processed. That
   happens around a rebalance or a restart: records already in an agent's queue are
   cleared (`flow_control.clear()`), and when they are fetched again after the seek to the
   committed offsets, `_drain_messages` drops them as "seen" (offset below `_read_offset`),
   because the seek that ends recovery runs with the stream partitions already resumed
   (`Recovery.on_recovery_completed`: `resume_partitions`, then `perform_seek`), and records
   drained meanwhile move `_read_offset` past them. Seen as an event missing from the
   applied log (events p0@9721: committed 9721, next commit 9933, never processed) and,
   when the lost record is an internal one (a whole batch of address or contact commands),
   as live state that differs from replay.

   The ledger records every offset aiokafka hands to faust for the agents' source
   partitions (real records: markers and aborted records never are) and the offsets the
   agents finished (outputs acknowledged, state written). The committed offset is the end
   of what was processed, never past a record fetched and not processed. Such a record is
   fetched again by the seek to the committed offsets that follows a rebalance; if a later
   commit still finds it missing with no such seek in between, the partition is sought back
   to it (logged). faust's `_read_offset` guard is switched off for those partitions, so
   nothing aiokafka returns is dropped; a record delivered twice is an event applied once
   (the state keeps the event ids applied), but a tick has no id: hence no seek back while
   a rebalance's seek is fetching it again anyway.

2. **A real flush before a commit** (`flush_buffer`). `ProducerBuffer.flush()` gives up
   after 0.1 s without a message sent (`flush_atmost`: `except asyncio.TimeoutError:
   return`), leaving changelog records behind, which then go into the next transaction.

3. **Highwaters from the broker, not from the last fetch** (`_highwaters`). Under
   exactly-once, `AIOKafkaConsumerThread._highwaters` returns
   `consumer.last_stable_offset(tp)`, which aiokafka only knows once a fetch response for
   the partition came back since the last assignment; before that it is None, which
   recovery turns into highwater -1 (`_build_highwaters`). A changelog partition with a
   persisted offset in the local store (a standby replica, kept by the survivor of a
   takeover) then fails the consistency check: "persisted offset N > highwater -1",
   `ConsistencyError`, and the survivor crashed and started again. (One without a persisted
   offset is taken as needing no recovery at all.) The patch asks the broker: ListOffsets,
   read committed, i.e. the last stable offset.

4. **One transactional producer per partition held** (`_producers_for`), and transactions
   kept open through a revocation (`commit_and_end_transactions`). faust's
   `TransactionManager.on_rebalance` stops the producers of the partitions it computes as
   revoked and begins those of the assigned ones, ignoring "already in a transaction".
   Partitions given to another worker were not always stopped; their producers, fenced by
   the new owner, stayed, and when the partitions came back (the takeover) were used
   again: "Can't send messages while not in transaction", a crash and a restart. The
   producers held are now made to match the partitions assigned.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable

log = logging.getLogger("bounceback")


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


def install(pipeline) -> None:
    """Install the corrections on the pipeline's faust app (once per consumer)."""
    app = pipeline.app
    consumer = app.consumer
    if getattr(consumer, "_offset_ledger", None) is not None:
        return
    topics = pipeline.settings.topics
    ledger = consumer._offset_ledger = OffsetLedger(
        [topics.inbound, topics.address_commands, topics.contact_commands])
    _patch_thread_class()

    # faust's fetcher drops a record below `_read_offset` (its guard against records seen
    # before a seek); with commits taken from the ledger that guard only loses records, so
    # for the agents' source partitions it never applies: everything aiokafka returns is
    # delivered (a record delivered twice is an event applied once: state keeps event ids)
    consumer._read_offset = _ReadOffsets(ledger.topics, consumer._read_offset)

    faust_new_offset = consumer._new_offset
    # per partition: when it was last sought back, and the end processed then; records
    # fetched again after that are not taken for lost ones until processing is past it
    sought: dict[tuple[str, int], tuple[float, int]] = {}
    # per partition: the record held at, and the count of seeks to committed when first seen
    suspects: dict[tuple[str, int], tuple[int, int]] = {}
    sightings: set[tuple[tuple[str, int], tuple[int, int]]] = set()
    seeks = [0]

    def first_sighting(key, seen_at) -> bool:
        if (key, seen_at) in sightings:
            return False
        sightings.add((key, seen_at))
        return True

    def new_offset(tp):
        theirs = faust_new_offset(tp)  # for the warning below
        if tp.topic not in ledger.topics:
            return theirs
        ours, held = ledger.committable(tp, consumer._committed_offset[tp])
        if ours is not None:
            # faust trims its ack list one run of consecutive offsets per commit, and not at
            # all while it finds a hole after the committed offset: trim it to ours
            acked = consumer._acked.get(tp)
            if acked:
                done = [o for o in acked if o < ours]
                if done:
                    consumer._acked_index[tp].difference_update(done)
                    acked[:] = [o for o in acked if o >= ours]
        key = (tp.topic, tp.partition)
        if held is None or tp not in consumer.assignment():
            suspects.pop(key, None)
            return ours
        # a seek to the committed offsets (after a rebalance) fetches it again anyway: seek
        # back only if it is still missing at a later commit, with no such seek in between
        seen_at = (held, seeks[0])
        if suspects.setdefault(key, seen_at) != seen_at:
            suspects[key] = seen_at
            return ours
        at, end = sought.get(key, (0.0, -1))
        if not first_sighting(key, seen_at) and (held >= end or time.monotonic() - at > 30):
            sought[key] = (time.monotonic(), ledger.end(tp))
            # a record was fetched and passed over: fetch it again, and what follows it
            log.warning("%s[%d]: record %d was fetched but not processed (faust would commit %s); "
                        "seeking back to it", tp.topic, tp.partition, held, theirs)
            asyncio.ensure_future(consumer.seek_wait({tp: held}))
        return ours

    consumer._new_offset = new_offset

    consumer.transactions.on_rebalance = _producers_for(consumer.transactions)

    # at a revocation faust's wait_empty ends with commit_and_end_transactions: a commit that
    # leaves every transactional producer outside a transaction until the next assignment.
    # A changelog record still on its way then crashed the worker ("Can't send messages while
    # not in transaction", seen on the survivor of a takeover; which batch it comes from is
    # not known). The transactions are kept open instead, except when the worker stops.
    end_transactions = consumer.commit_and_end_transactions

    async def commit_and_end_transactions() -> None:
        if consumer.should_stop:
            await end_transactions()
        else:
            await consumer.commit()

    consumer.commit_and_end_transactions = commit_and_end_transactions

    perform_seek = consumer.perform_seek

    async def sought_to_committed():
        await perform_seek()
        seeks[0] += 1
        for tp in consumer.assignment():
            if tp.topic in ledger.topics:
                ledger.rewound(tp)

    consumer.perform_seek = sought_to_committed


class _ReadOffsets(dict):
    """faust's `_read_offset` (a defaultdict of None), answering None for the given topics."""

    def __init__(self, topics, initial) -> None:
        super().__init__(initial)
        self._topics = topics

    def __getitem__(self, tp):
        if tp.topic in self._topics:
            return None
        return self.get(tp)


def _producers_for(transactions):
    """`TransactionManager.on_rebalance`, keeping one transactional producer per partition
    held, decided from the producers it has rather than from faust's revoked/newly assigned
    sets (which missed partitions handed to another worker: their producers, fenced by the
    new owner, stayed, and were used again when the partitions came back)."""

    async def on_rebalance(assigned, revoked, newly_assigned) -> None:
        producer = transactions.producer
        wanted = transactions._tps_to_transactional_ids(assigned)
        held = set(producer._transaction_producers)
        for transactional_id in sorted(held - wanted):
            await producer.stop_transaction(transactional_id)
        for transactional_id in sorted(wanted):
            existing = producer._transaction_producers.get(transactional_id)
            if existing is None or not existing._txn_manager.is_in_transaction():
                await producer.maybe_begin_transaction(transactional_id)
        log.info("transactional producers: %d for the partitions held (%d stopped, %d started)",
                 len(wanted), len(held - wanted), len(wanted - held))

    return on_rebalance


def _patch_thread_class() -> None:
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if getattr(AIOKafkaConsumerThread, "_bounceback_patched", False):
        return
    fetch_records = AIOKafkaConsumerThread._fetch_records

    async def _fetch_records(self, *args, **kwargs):
        records = await fetch_records(self, *args, **kwargs)
        ledger = getattr(self.consumer, "_offset_ledger", None)
        if ledger is not None and records:
            ledger.fetched(records)
        return records

    async def _highwaters(self, partitions):
        # the broker's answer (the last stable offset, as the consumer reads committed),
        # not the one cached from the last fetch response, None until there is one
        return await self._ensure_consumer().end_offsets(list(partitions))

    AIOKafkaConsumerThread._fetch_records = _fetch_records
    AIOKafkaConsumerThread._highwaters = _highwaters
    AIOKafkaConsumerThread._bounceback_patched = True


async def flush_buffer(app) -> None:
    """Hand everything in faust's producer buffer (changelog records) to the producer.
    `Producer.flush()` does that, then flushes the producer; the buffer part gives up after
    0.1 s without progress, so it is repeated until the buffer is empty."""
    producer = app.producer
    buffer = producer.buffer
    while buffer.size:
        await buffer.flush()
        await asyncio.sleep(0)
    await producer.flush()
