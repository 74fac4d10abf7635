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

A view of another topic is never resumed: the store keeps the topic's id (sendout/
topic_metadata.py) and is reloaded from the beginning when the topic has another one
(deleted and created again, or a broker that keeps topics in memory restarted).

A broker that stops answering is noticed within `stale_after` seconds: the view is then
not caught up, `error` says why, and the client tries again with a growing pause until
the broker answers, then catches up again. It says so once in its log; aiokafka's own
warnings from its thread, one per failed attempt, are left out (docs/decisions.md).
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
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IncompatibleBrokerVersion, KafkaError, OffsetOutOfRangeError
from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch

from projections.normalise import AddressNormaliser, address_key, split_key
from projections.sendout import excluding_reasons
from schemas.records import AddressRecord
from sendout.topic_metadata import TopicIdsUnsupported, TopicMetadata, topic_metadata

log = logging.getLogger(__name__)

_META = "meta"  # column family: the topic's name and id, and the next offset per partition
_TOPIC_KEY = b"topic"
_TOPIC_ID_KEY = b"topic-id"
_OFFSET_KEY = b"offset:%d"
# what a broker that cannot be reached, or answers with an error, raises: tried again
_TRANSIENT = (KafkaError, OSError, asyncio.TimeoutError)


class NotCaughtUp(RuntimeError):
    """The local view has not reached the end of the suppression topic yet (or the client
    is not running, or cannot reach the broker), so it cannot say whether an address is
    suppressed."""


class BrokerUnreachable(ConnectionError):
    """No broker has answered the client for a while; it keeps trying."""


class _TopicChanged(Exception):
    """The topic got another id or more partitions while the client followed it."""


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
    rebuilds: int = 0  # times the store was of another topic (id, or offsets out of range), so it reloaded
    reconnects: int = 0  # times the broker answered again after it could not be reached
    resumed_from: dict[int, int] = msgspec.field(default_factory=dict)  # partition -> stored offset
    caught_up_after: float | None = None  # seconds from start() to the caught-up signal


class SuppressionClient:
    """A local view of the suppression topic.

    >>> client = SuppressionClient("127.0.0.1:9092", "/var/lib/sendout/suppressions").start()
    >>> client.wait_caught_up(timeout=120)
    >>> client.is_suppressed("email", " Anna@Example.com", purpose="transactional")
    """

    def __init__(self, bootstrap: str, path: str | Path, topic: str = "bounceback.suppressions", *,
                 default_region: str = "SE", poll_ms: int = 200, cache_mb: int = 64, stale_after: float = 10.0,
                 retry_max: float = 30.0, recheck_every: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self.path = Path(path)
        self.topic = topic
        self.normalise = AddressNormaliser(default_region)
        self.poll_ms = poll_ms
        self.cache_mb = cache_mb
        # seconds without an answer from the broker before the view counts as stale
        self.stale_after = stale_after
        self.retry_max = retry_max  # the longest pause between two attempts to reach it
        self.recheck_every = recheck_every  # seconds between checks of the topic's id while following
        self.stats = ClientStats()
        # what is wrong now: BrokerUnreachable while the broker cannot be reached (the client
        # keeps trying), or what stopped the follower for good
        self.error: BaseException | None = None
        self._stopped_by: BaseException | None = None
        self._reached_at: float | None = None  # when the broker last answered, since the last failure
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
        self.error = self._stopped_by = None
        self._stopping = False
        self._started_at = time.monotonic()
        _QUIET.install()
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
        it then keeps following (see `lag`). False again while the broker cannot be reached
        (`error`), and after a reload, until the view has reached the end again."""
        return self._caught_up.is_set() and self.error is None

    def wait_caught_up(self, timeout: float | None = None) -> bool:
        """Block until caught up (True), or until the timeout or a failure that stopped the
        client (False). A broker that cannot be reached is tried again meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.caught_up:
            if self._stopped_by is not None or self._thread is None:
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
                if self._stopped_by is not None:
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
        """Records on the topic the view has not applied, as of the latest fetch responses;
        None when unknown (nothing fetched yet, or the broker cannot be reached)."""
        progress = dict(self._progress)
        if not progress or self.error is not None:
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
        return Verdict(channel, split_key(key)[1], purpose, bool(excluding_reasons(reasons, purpose)),
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
        if allow_stale and self._db is not None:
            return
        if self._stopped_by is not None:
            raise NotCaughtUp(f"the suppression client stopped following {self.topic}: {self._stopped_by!r}")
        if self.error is not None:
            raise NotCaughtUp(f"the view of {self.topic} may be stale: {self.error}; "
                              "pass allow_stale=True to use it anyway")
        if not self._caught_up.is_set():
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

    def _stored_topic_id(self) -> uuid.UUID | None:
        raw = self._meta.get(_TOPIC_ID_KEY)
        return None if raw is None else uuid.UUID(bytes=raw)

    # -- the follower -----------------------------------------------------------------------

    def _thread_main(self) -> None:
        _QUIET.threads[threading.get_ident()] = self
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # noqa: BLE001 - kept for the callers, who see it via NotCaughtUp
            log.exception("the suppression client stopped")
            self._stopped_by = self.error = exc
            self._caught_up.clear()
            with self._changed:
                self._changed.notify_all()
        finally:
            _QUIET.threads.pop(threading.get_ident(), None)

    async def _run(self) -> None:
        """Follow the topic; when the broker cannot be reached, say so and try again with a
        pause that doubles up to retry_max, from the offsets in the store."""
        pause = min(0.5, self.retry_max)
        while not self._stopping:
            try:
                await self._follow()
                return
            except _TopicChanged as exc:
                log.warning("%s changed while followed (%s): reading it again", self.topic, exc)
                continue
            except _TRANSIENT as exc:
                self._lost(exc)
            if self._reached_at is not None:  # it answered since the last failure: start over
                pause = min(0.5, self.retry_max)
                self._reached_at = None
            await self._pause(pause)
            pause = min(pause * 2, self.retry_max)

    def _lost(self, exc: BaseException) -> None:
        """The broker did not answer: the view is stale until it does and is read to its end."""
        cause = _QUIET.last_message.get(threading.get_ident())
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        error = BrokerUnreachable(f"cannot reach {self.bootstrap}: {reason}" + (f" ({cause})" if cause else ""))
        with self._changed:
            first = self.error is None
            self.error = error
            self._caught_up.clear()
            self._progress = {}
            self._changed.notify_all()
        if first:  # once per outage; each further attempt is only a debug line
            log.warning("the suppression client %s; answers about %s are stale until it can read it again "
                        "(trying again, at most every %g s)", error, self.topic, self.retry_max)
        else:
            log.debug("the suppression client still %s", error)

    def _reached(self) -> None:
        """The broker answered."""
        self._reached_at = time.monotonic()
        if _QUIET.last_message:  # what aiokafka said before is no cause of a later outage
            _QUIET.last_message.pop(threading.get_ident(), None)
        if self.error is not None and self._stopped_by is None:
            with self._changed:
                self.error = None
                self.stats.reconnects += 1
                self._changed.notify_all()
            log.info("the suppression client reached %s again; reading %s to its end", self.bootstrap, self.topic)

    async def _pause(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < until:
            await asyncio.sleep(min(0.1, until - time.monotonic()))

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, isolation_level="read_committed",
            # stored offsets outside the topic's range mean the topic is not the one the
            # store was built from (its beginning deleted): reload, see below
            auto_offset_reset="none",
            max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
        try:
            await asyncio.wait_for(consumer.start(), self.stale_after)
            await asyncio.sleep(0)  # lets the consumer's own tasks begin, so a quick stop() can cancel them
            topic = await self._describe(consumer)
            if topic is None:
                return
            self._check_topic_id(topic.id)
            tps = [TopicPartition(self.topic, p) for p in topic.partitions]
            consumer.assign(tps)
            await self._seek(consumer, tps)
            reached: set[int] = set()
            answered = checked = time.monotonic()
            while not self._stopping:
                try:
                    batch = await consumer.getmany(timeout_ms=self.poll_ms)
                except OffsetOutOfRangeError as exc:
                    await self._same_topic(consumer, topic)
                    await self._rebuild(consumer, tps, reached, str(exc))
                    continue
                now = time.monotonic()
                if batch:
                    await self._apply(consumer, batch)
                    answered = now
                ahead, fetched = await self._note_progress(consumer, tps, reached)
                if fetched:
                    answered = now
                    self._reached()
                if ahead:
                    # the embedded broker answers a fetch beyond the end with no records
                    # rather than an out-of-range error: the fetch's end tells instead
                    await self._same_topic(consumer, topic)
                    await self._rebuild(consumer, tps, reached, f"stored offsets beyond the end: {ahead}")
                if now - answered > self.stale_after:
                    raise BrokerUnreachable(f"no answer for {now - answered:.0f} s")
                if now - checked > self.recheck_every:
                    checked = now
                    await self._same_topic(consumer, topic)
        finally:
            try:
                await asyncio.wait_for(consumer.stop(), self.stale_after)
            except (asyncio.CancelledError, *_TRANSIENT):  # aiokafka's no-group task, or a dead broker
                pass

    async def _same_topic(self, consumer: AIOKafkaConsumer, topic: TopicMetadata) -> None:
        """Raises _TopicChanged when the topic is no longer the one being followed."""
        now = await asyncio.wait_for(topic_metadata(consumer._client, self.topic), self.stale_after) \
            if topic.id is not None else await self._partitions(consumer)
        if now is None or now.id != topic.id or now.partitions != topic.partitions:
            raise _TopicChanged("deleted" if now is None else f"id {now.id}, {len(now.partitions)} partitions")

    async def _describe(self, consumer: AIOKafkaConsumer) -> TopicMetadata | None:
        """The topic's id and partitions; waits for the topic to exist (not caught up
        meanwhile). None when stopped first."""
        while not self._stopping:
            try:
                topic = await asyncio.wait_for(topic_metadata(consumer._client, self.topic), self.stale_after)
            except (TopicIdsUnsupported, IncompatibleBrokerVersion):
                topic = await self._partitions(consumer)
            self._reached()
            if topic is not None and topic.partitions:
                return topic
            await asyncio.sleep(0.5)
        return None

    async def _partitions(self, consumer: AIOKafkaConsumer) -> TopicMetadata | None:
        """The topic's partitions from a broker without topic ids."""
        if not await consumer._client.force_metadata_update():
            raise BrokerUnreachable("no answer to a metadata request")
        partitions = consumer.partitions_for_topic(self.topic)
        return TopicMetadata(None, sorted(partitions)) if partitions else None

    def _check_topic_id(self, topic_id: uuid.UUID | None) -> None:
        """Reload a store built from another topic of this name (its id differs), or one
        that does not say which it was built from. A broker without topic ids leaves only
        the offsets' range to tell (see _rebuild)."""
        if topic_id is None:
            return
        stored = self._stored_topic_id()
        if stored == topic_id:
            return
        if stored is not None or self._stored_offsets():
            log.warning("the store of %s was built from %s, the topic now is %s: reloading it from the beginning",
                        self.topic, f"topic id {stored}" if stored else "a topic of unknown id", topic_id)
            self._caught_up.clear()
            self._wipe()
            self.stats.rebuilds += 1
            self.stats.resumed_from = {}
        self._meta.put(_TOPIC_ID_KEY, topic_id.bytes)

    async def _rebuild(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition], reached: set[int],
                       why: str) -> None:
        """Stored offsets outside the topic's range: the store was built from another topic of
        that name (recreated, or an in-memory broker restarted). Reload from the beginning."""
        log.warning("the store of %s does not match the topic (%s): reloading it from the beginning", self.topic, why)
        self._caught_up.clear()
        topic_id = self._stored_topic_id()
        self._wipe()
        if topic_id is not None:
            self._meta.put(_TOPIC_ID_KEY, topic_id.bytes)
        self.stats.rebuilds += 1
        self.stats.resumed_from = {}
        reached.clear()
        await self._seek(consumer, tps)

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
                if key != address_key(record.channel, record.address).encode():
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
                             reached: set[int]) -> tuple[dict[int, tuple[int, int]], bool]:
        """Record each partition's end (from its latest fetch response) and our position; the
        view is caught up once every partition has been read to the end a response gave.
        Returns the partitions whose position lies beyond that end (position, end), and
        whether a fetch response came since the last call."""
        progress = {}
        ahead = {}
        fetched_any = False
        before = self._progress
        for tp in tps:
            fetched = consumer.last_poll_timestamp(tp)
            end = consumer.last_stable_offset(tp)
            if end is None:
                end = consumer.highwater(tp)
            if fetched is None or end is None:
                continue
            if tp.partition not in before or before[tp.partition][0] != fetched:
                fetched_any = True
            position = await consumer.position(tp)
            if position > end and consumer.highwater(tp) is not None and position > consumer.highwater(tp):
                ahead[tp.partition] = (position, end)
                continue
            progress[tp.partition] = (fetched, end, position)
            if position >= end:
                reached.add(tp.partition)
        with self._changed:
            if self.error is None or fetched_any:
                self._progress = progress
            if self.error is None and not self._caught_up.is_set() and len(reached) == len(tps):
                self.stats.caught_up_after = time.monotonic() - self._started_at
                self._caught_up.set()
            self._changed.notify_all()
        return ahead, fetched_any


class _QuietFollowers(logging.Filter):
    """aiokafka logs each failed attempt to reach a broker, some twenty a second while it
    is down. Records from a client's follower thread at WARNING or above are left out here
    and the latest is kept, for the client's own single line (`_lost`) to give as cause."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: dict[int, SuppressionClient] = {}
        self.last_message: dict[int, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.thread not in self.threads:
            return True
        try:
            self.last_message[record.thread] = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is dropped all the same
            pass
        return False

    def install(self) -> None:
        """On every aiokafka logger (a logger's filters do not apply to its children's records)."""
        for name, logger in list(logging.Logger.manager.loggerDict.items()):
            if (name == "aiokafka" or name.startswith("aiokafka.")) and isinstance(logger, logging.Logger):
                logger.addFilter(self)


_QUIET = _QuietFollowers()
