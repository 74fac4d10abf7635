"""SuppressionClient: the suppression topic as a local RocksDB view, for send-out services.

It reads the compacted suppression topic from the beginning into a rocksdict store, then
follows it live, in a background thread with its own asyncio loop (so both synchronous
and asynchronous callers can use it). The store holds only suppressed addresses (a record
with empty `reasons`, or a tombstone, deletes the key) and, written in the same RocksDB
write batch as the records, the next offset of every partition. A restarted client
resumes from those offsets instead of reading the topic again.

A view that has not yet reached the end of the topic is never used silently:
`is_suppressed` and `reasons` raise NotCaughtUp until the client has caught up (pass
`allow_stale=True` to accept the stale answer), and `check` returns a Verdict that says
whether the view was caught up.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError
from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch

from projections.normalize import AddressNormalizer, address_key
from projections.sendout import excluding_reasons
from schemas.records import AddressRecord

log = logging.getLogger(__name__)

_META = "meta"  # column family: the topic name and the next offset per partition
_TOPIC_KEY = b"topic"
_OFFSET_KEY = b"offset:%d"


class NotCaughtUp(RuntimeError):
    """The local view has not reached the end of the suppression topic yet (or the client
    is not running), so it cannot say whether an address is suppressed."""


class Verdict(msgspec.Struct, frozen=True):
    """One answer, with the state of the view it came from."""
    channel: str
    address: str  # normalised
    purpose: str
    suppressed: bool  # for this purpose
    reasons: list[str]  # every reason the address has, whatever the purpose
    caught_up: bool  # False: the view was still loading, the answer may be out of date


class _Reasons(msgspec.Struct):
    """The one field a lookup needs, decoded without the others."""
    reasons: list[str]


class ClientStats(msgspec.Struct):
    """Counters since start(): what this run read, not what the store holds."""
    records_read: int = 0
    suppressed: int = 0  # records with reasons, stored
    lifted: int = 0  # records with empty reasons or tombstones, deleted from the store
    malformed: int = 0  # records that are not address records of their key, skipped
    rebuilds: int = 0  # times the stored offsets were out of the topic's range, so it reloaded
    resumed_from: dict[int, int] = msgspec.field(default_factory=dict)  # partition -> stored offset
    caught_up_after: float | None = None  # seconds from start() to the caught-up signal


class SuppressionClient:
    """A local view of the suppression topic.

    >>> client = SuppressionClient("127.0.0.1:9092", "/var/lib/sendout/suppressions").start()
    >>> client.wait_caught_up(timeout=120)
    >>> client.is_suppressed("email", " Anna@Example.com", purpose="transactional")
    """

    def __init__(self, bootstrap: str, path: str | Path, topic: str = "bounceback.suppressions", *,
                 default_region: str = "SE", poll_ms: int = 200, cache_mb: int = 64) -> None:
        self.bootstrap = bootstrap
        self.path = Path(path)
        self.topic = topic
        self.normalise = AddressNormalizer(default_region)
        self.poll_ms = poll_ms
        self.cache_mb = cache_mb
        self.stats = ClientStats()
        self.error: BaseException | None = None  # what stopped the follower, if anything
        self._db: Rdict | None = None
        self._meta = None
        self._meta_handle = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._caught_up = threading.Event()
        self._changed = threading.Condition()
        # per partition: (time of its latest fetch response in ms, end of the partition as
        # that response gave it, our position after the records applied)
        self._progress: dict[int, tuple[int, int, int]] = {}
        self._started_at = 0.0
        self._decode = msgspec.json.Decoder(AddressRecord).decode
        self._decode_reasons = msgspec.json.Decoder(_Reasons).decode

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> SuppressionClient:
        """Open the store and start following the topic. Returns at once; see wait_caught_up."""
        if self._thread is not None:
            raise RuntimeError("the client is already started")
        self._open_store()
        self.stats = ClientStats(resumed_from=self._stored_offsets())
        self._stopping = False
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._thread_main, name=f"suppressions:{self.topic}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following and close the store; its offsets are already saved with its records."""
        self._stopping = True
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._close_store()
        self._caught_up.clear()

    def __enter__(self) -> SuppressionClient:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the caught-up signal ---------------------------------------------------------------

    @property
    def caught_up(self) -> bool:
        """True once the view has reached the end the topic had when the client started;
        it then keeps following (see `lag`), and stays True until stop()."""
        return self._caught_up.is_set() and self.error is None

    def wait_caught_up(self, timeout: float | None = None) -> bool:
        """Block until caught up (True), or until the timeout or a failure (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._caught_up.is_set():
            if self.error is not None or self._thread is None:
                return False
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self._caught_up.wait(0.1 if remaining is None else min(0.1, remaining))
        return self.error is None

    def sync(self, timeout: float = 30.0) -> bool:
        """Block until the view holds every record the topic had when sync was called:
        every partition has had a fetch response since then and been read to its end.
        For read-your-writes after something was published."""
        asked = int(time.time() * 1000)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if self.error is not None:
                    return False
                progress = dict(self._progress)
                if progress and all(fetched >= asked and position >= end for fetched, end, position in progress.values()):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.5))

    @property
    def lag(self) -> int | None:
        """Records on the topic the view has not applied, as of the latest fetch responses."""
        progress = dict(self._progress)
        if not progress:
            return None
        return sum(max(0, end - position) for _, end, position in progress.values())

    def positions(self) -> dict[int, int]:
        """The next offset the view will apply, per partition (what the store saves)."""
        return {p: position for p, (_, _, position) in sorted(self._progress.items())}

    # -- answers ----------------------------------------------------------------------------

    def key(self, channel: str, address: str) -> str:
        """`channel:normalised address`; raises InvalidAddress (a ValueError) for a value that
        does not normalise, as the pipeline would reject it."""
        if channel not in ("email", "sms"):
            raise ValueError(f"channel must be email or sms, not {channel!r}")
        return address_key(channel, self.normalise(channel, address))

    def check(self, channel: str, address: str, purpose: str = "marketing") -> Verdict:
        """The answer and whether the view was caught up; never raises NotCaughtUp."""
        key = self.key(channel, address)
        caught_up = self.caught_up
        reasons = self.reasons_of_key(key) or []
        return Verdict(channel, key.partition(":")[2], purpose, bool(excluding_reasons(reasons, purpose)),
                       reasons, caught_up)

    def is_suppressed(self, channel: str, address: str, purpose: str = "marketing", *,
                      allow_stale: bool = False) -> bool:
        """Whether a send-out of this purpose must skip the address: any reason for marketing,
        a blocking reason (hard_bounce, soft_bounce_limit, bounce_list) for transactional.
        Raises NotCaughtUp while the view is loading, unless allow_stale."""
        self._require_caught_up(allow_stale)
        return bool(excluding_reasons(self.reasons_of_key(self.key(channel, address)) or [], purpose))

    def reasons(self, channel: str, address: str, *, allow_stale: bool = False) -> list[str]:
        """The address's suppression reasons, sorted; empty when it is not suppressed."""
        self._require_caught_up(allow_stale)
        return self.reasons_of_key(self.key(channel, address)) or []

    def record(self, channel: str, address: str, *, allow_stale: bool = False) -> AddressRecord | None:
        """The address record from the topic, or None when the address is not suppressed."""
        self._require_caught_up(allow_stale)
        raw = self._store().get(self.key(channel, address).encode())
        return None if raw is None else self._decode(raw)

    def reasons_of_key(self, key: str) -> list[str] | None:
        """The reasons stored for an already normalised `channel:address` key, with no check
        of the caught-up signal (the planner checks it once for a whole audience)."""
        db = self._db
        if db is None:
            raise NotCaughtUp("the suppression client is not started")
        raw = db.get(key.encode())
        return None if raw is None else self._decode_reasons(raw).reasons

    def suppressions(self) -> Iterator[AddressRecord]:
        """Every suppressed address in the view, in key order."""
        for _, raw in self._store().items():
            yield self._decode(raw)

    def _require_caught_up(self, allow_stale: bool) -> None:
        if self.error is not None:
            raise NotCaughtUp(f"the suppression client stopped following {self.topic}: {self.error!r}")
        if not allow_stale and not self._caught_up.is_set():
            lag = self.lag
            raise NotCaughtUp(f"the view of {self.topic} is still loading"
                              + (f" ({lag} records behind)" if lag is not None else "")
                              + "; wait_caught_up() first, or pass allow_stale=True")

    def _store(self) -> Rdict:
        if self._db is None:
            raise NotCaughtUp("the suppression client is not started")
        return self._db

    # -- the store --------------------------------------------------------------------------

    def _open_store(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        options.create_missing_column_families(True)
        # most addresses a send-out asks about are not suppressed: a bloom filter answers
        # those without reading a block; the cache keeps the blocks of those that are
        table = BlockBasedOptions()
        table.set_bloom_filter(10, False)
        table.set_block_cache(Cache(self.cache_mb << 20))
        options.set_block_based_table_factory(table)
        self._db = Rdict(str(self.path), options, column_families={_META: Options(raw_mode=True)})
        self._meta = self._db.get_column_family(_META)
        self._meta_handle = self._db.get_column_family_handle(_META)
        stored_topic = self._meta.get(_TOPIC_KEY)
        if stored_topic is not None and stored_topic.decode() != self.topic:
            self._close_store()
            raise ValueError(f"the store {self.path} holds the view of {stored_topic.decode()!r}, not {self.topic!r}")
        if stored_topic is None:
            self._meta.put(_TOPIC_KEY, self.topic.encode())

    def _close_store(self) -> None:
        # the column family objects hold the database open too: RocksDB's lock is released
        # only when every one of them is gone
        db, self._db, self._meta, self._meta_handle = self._db, None, None, None
        if db is not None:
            db.close()

    def _stored_offsets(self) -> dict[int, int]:
        return {int(key.split(b":")[1]): int.from_bytes(value, "big")
                for key, value in self._meta.items() if key.startswith(b"offset:")}

    def _wipe(self) -> None:
        """Empty the store, for a reload from the beginning."""
        self._close_store()
        shutil.rmtree(self.path)
        self._open_store()

    # -- the follower -----------------------------------------------------------------------

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._follow())
        except BaseException as exc:  # noqa: BLE001 - kept for the callers, who see it via NotCaughtUp
            log.exception("the suppression client stopped")
            self.error = exc
            with self._changed:
                self._changed.notify_all()

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, isolation_level="read_committed",
            # stored offsets outside the topic's range mean the topic is not the one the
            # store was built from (recreated, or its beginning deleted): reload, see below
            auto_offset_reset="none",
            max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
        await consumer.start()
        await asyncio.sleep(0)  # lets the consumer's own tasks begin, so a quick stop() can cancel them
        try:
            tps = await self._partitions(consumer)
            if tps is None:
                return
            consumer.assign(tps)
            await self._seek(consumer, tps)
            reached: set[int] = set()
            while not self._stopping:
                try:
                    batch = await consumer.getmany(timeout_ms=self.poll_ms)
                except OffsetOutOfRangeError as exc:
                    await self._rebuild(consumer, tps, reached, str(exc))
                    continue
                if batch:
                    await self._apply(consumer, batch)
                ahead = await self._note_progress(consumer, tps, reached)
                if ahead:
                    # the embedded broker answers a fetch beyond the end with no records
                    # rather than an out-of-range error: the fetch's end tells instead
                    await self._rebuild(consumer, tps, reached, f"stored offsets beyond the end: {ahead}")
        finally:
            try:
                await consumer.stop()
            except asyncio.CancelledError:  # aiokafka's no-group task, cancelled before it ran
                pass

    async def _rebuild(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition], reached: set[int],
                       why: str) -> None:
        """Stored offsets outside the topic's range: the store was built from another topic of
        that name (recreated, or an in-memory broker restarted). Reload from the beginning."""
        log.warning("the store of %s does not match the topic (%s): reloading it from the beginning", self.topic, why)
        self._caught_up.clear()
        self._wipe()
        self.stats.rebuilds += 1
        self.stats.resumed_from = {}
        reached.clear()
        await self._seek(consumer, tps)

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition] | None:
        """The topic's partitions; waits for the topic to exist (not caught up meanwhile)."""
        while not self._stopping:
            partitions = consumer.partitions_for_topic(self.topic)
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(self.topic)
            if partitions:
                return [TopicPartition(self.topic, p) for p in sorted(partitions)]
            await asyncio.sleep(0.5)
        return None

    async def _seek(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        stored = self._stored_offsets()
        fresh = [tp for tp in tps if tp.partition not in stored]
        for tp in tps:
            if tp.partition in stored:
                consumer.seek(tp, stored[tp.partition])
        if fresh:
            await consumer.seek_to_beginning(*fresh)
        self._progress = {}

    async def _apply(self, consumer: AIOKafkaConsumer, batch: dict) -> None:
        """One RocksDB write batch: the records and the partitions' next offsets together, so
        the store never holds records without the offsets they were read up to."""
        decode = self._decode
        stats = self.stats
        write = WriteBatch(raw_mode=True)
        for tp, messages in batch.items():
            for message in messages:
                stats.records_read += 1
                key, value = message.key, message.value
                if key is None:
                    stats.malformed += 1
                    continue
                if value is None:  # a tombstone: the key's history is gone from the topic
                    write.delete(key)
                    stats.lifted += 1
                    continue
                try:
                    record = decode(value)
                except msgspec.DecodeError as exc:
                    stats.malformed += 1
                    log.warning("%s partition %d offset %d: not an address record: %s", tp.topic, tp.partition,
                                message.offset, exc)
                    continue
                if key != f"{record.channel}:{record.address}".encode():
                    stats.malformed += 1
                    log.warning("%s partition %d offset %d: key %r does not match the record's address", tp.topic,
                                tp.partition, message.offset, key)
                    continue
                if record.reasons:
                    write.put(key, value)
                    stats.suppressed += 1
                else:
                    write.delete(key)
                    stats.lifted += 1
            position = await consumer.position(tp)
            write.put(_OFFSET_KEY % tp.partition, position.to_bytes(8, "big"), self._meta_handle)
        self._db.write(write)

    async def _note_progress(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                             reached: set[int]) -> dict[int, tuple[int, int]]:
        """Record each partition's end (from its latest fetch response) and our position; the
        view is caught up once every partition has been read to the end a response gave.
        Returns the partitions whose position lies beyond that end (position, end)."""
        progress = {}
        ahead = {}
        for tp in tps:
            fetched = consumer.last_poll_timestamp(tp)
            end = consumer.last_stable_offset(tp)
            if end is None:
                end = consumer.highwater(tp)
            if fetched is None or end is None:
                continue
            position = await consumer.position(tp)
            if position > end and consumer.highwater(tp) is not None and position > consumer.highwater(tp):
                ahead[tp.partition] = (position, end)
                continue
            progress[tp.partition] = (fetched, end, position)
            if position >= end:
                reached.add(tp.partition)
        with self._changed:
            self._progress = progress
            if not self._caught_up.is_set() and len(reached) == len(tps):
                self.stats.caught_up_after = time.monotonic() - self._started_at
                self._caught_up.set()
            self._changed.notify_all()
        return ahead
