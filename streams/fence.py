"""The fence: everything bounceback replaces in, or reads from, the internals of
faust-streaming and aiokafka, in one module, installed by one call.

`install(pipeline)` first checks that every method, attribute and keyword listed in
`REACHES` is there in the installed versions, and refuses to start (`FenceError`, naming
the versions installed and the versions tested) when one is not: a replaced method that
faust stops calling, or an attribute it renames, would otherwise turn into a silent loss
of exactly-once. The versions tested (by the crash tests on Apache Kafka) are `TESTED`, and
pyproject.toml pins them.

What it changes, each found by the crash tests or the profile (docs/pipeline.md,
"Delivery guarantees"):

1. **The agents' records skip faust's per-record path** (`_divert_fetches`). The
   consumer's fetch results for the agents' source partitions go whole into the agent's
   intake (streams/intake.py) instead of becoming a `Message` and an `Event` each, going
   through the conductor and a stream queue and being acknowledged one by one. faust still
   runs the consumer, the group and its rebalances, the tables and their recovery, the web
   server and the timers. What faust's stream path did for those records, this does too:
   records fetched while the flow is stopped (a rebalance) are dropped, as faust's
   `getmany` drops them (the seek to the committed offsets that ends the rebalance fetches
   them again); the intake is cleared with faust's stream queues (`flow_control.clear`);
   a partition whose records pile up stops being fetched until they are taken
   (`on_buffer_full` / `on_buffer_drop`); and the monitor hears that the partition's
   stream is alive.

2. **Offsets are committed from what the agents processed** (streams/offsets.py,
   `_commit_from_ledger`). faust commits, per source partition, the end of the first run
   of consecutive acknowledged offsets (`Consumer._new_offset`), where an offset it did not
   see counts as acknowledged (`_add_gap`: transaction markers, aborted records) and the
   first offset after the last commit may be missing, so a record that reached faust but
   not the agent was committed as processed (seen as events missing from the applied log:
   p0@9721 committed, never processed). The ledger holds the commit at a record fetched
   and not processed; if a later commit still finds it missing with no seek to the
   committed offsets in between, the partition is sought back to it (logged).

3. **Commits wait for the batch in flight, and flush faust's buffer first**
   (`_gate_commits`, `flush_buffer`). faust commits on a timer, which could fall between a
   batch's sends and its bookkeeping; and `ProducerBuffer.flush()` gives up after 0.1 s
   without progress, so a batch's changelog records could miss its transaction.

4. **A commit before partitions are handed over** (`_commit_before_revocation`), and
   transactions kept open through a revocation (`_keep_transactions_open`). faust stops the
   revoked partitions' transactions without committing them (aborting work this worker's
   RocksDB keeps), and its last commit there left every transactional producer outside a
   transaction, so a changelog record on its way crashed the worker ("Can't send messages
   while not in transaction").

5. **Highwaters from the broker, not the last fetch** (`_highwaters_from_broker`). Under
   exactly-once faust takes them from `consumer.last_stable_offset`, None until a fetch
   response came back since the assignment; recovery turned that into -1 and a survivor's
   standby replica failed with `ConsistencyError` ("persisted offset N > highwater -1").

6. **One transactional producer per partition held** (`_producers_follow_assignment`).
   faust's `TransactionManager.on_rebalance` missed partitions handed to another worker;
   their producers, fenced by the new owner, were used again when the partitions came back.

7. **Transactions committed side by side** (`_commit_transactions_concurrently`). faust
   commits the transactional producers one after the other; each is a few round trips to
   the transaction coordinator, and under exactly-once a commit every 100 ms (for the
   latency) would then hold the agents most of the time.

8. **A batch's table writes made together** (`TableWrites`). faust sends one changelog
   record per `table[key] = value` (and per delete) through its buffer (a `FutureMessage`,
   the serializer registry, a callback per record) and writes RocksDB key by key. A batch
   makes its writes into a `TableWrites` instead (the tables are only read); its changelog
   records go straight to the producer (in the partition's transaction under exactly-once)
   with its outputs, and once all are acknowledged RocksDB is written in one batch per
   table. The persisted changelog offset is kept as faust keeps it.

9. **Records sent in batches** (`send_records`). A batch's outputs and changelog records
   are appended to aiokafka's compiled record-batch builder per topic partition and each
   batch is handed to the producer whole, not sent one by one through faust's producer
   and aiokafka's per-record path.

10. The embedded broker (Tansu, no transactions) needs two more (`tansu_end_offsets`,
   `tansu_leave_group`; streams/tansu.py says why).

11. **RocksDB without its write-ahead log** (`_rocksdb_without_wal`), as Kafka Streams
   writes its stores: the changelog is the log, and the WAL doubled the cost of each write.

The rest reads faust without changing it: `partition_context` makes a partition faust's
current event, `partition_reader` reads one partition of a table, `transactional_id` is
faust's name for a partition's transaction, `fetch_position` and `committed_offset` feed
the lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import importlib.metadata
import inspect
import logging
import re
import time
import weakref
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import rocksdict
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from faust.exceptions import ProducerSendError

from streams.metrics import COMMIT_SECONDS
from streams.offsets import OffsetLedger  # noqa: F401 (the type of pipeline.ledger)

log = logging.getLogger("bounceback")

# the versions the crash tests passed with; pyproject.toml pins the same
TESTED = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


class FenceError(RuntimeError):
    """faust or aiokafka lacks something the corrections replace or read."""


@dataclass(frozen=True)
class Reach:
    """One thing the fence replaces or reads: `name` on `owner` (a module, or a class given
    as module:Class). kind: "attr" (class or module attribute, method or property),
    "self" (an attribute the class's own code assigns, `self.name =`), or "keyword"
    (a keyword parameter of the method `name`, given as method(keyword))."""

    owner: str
    name: str
    kind: str = "attr"

    def missing(self) -> str | None:
        module_name, _, class_name = self.owner.partition(":")
        try:
            owner = importlib.import_module(module_name)
            for part in filter(None, class_name.split(".")):
                owner = getattr(owner, part)
        except (ImportError, AttributeError):
            return f"{self.owner} (not found)"
        if self.kind == "attr":
            return None if hasattr(owner, self.name) else f"{self.owner}.{self.name}"
        if self.kind == "self":
            # assigned in the source of the class or a base class (their modules' text: a
            # class's own source would take a parse of its module each)
            pattern = re.compile(rf"self\.{re.escape(self.name)}\b\s*(:[^=\n]+)?=[^=]")
            found = any(pattern.search(_module_text(klass)) for klass in inspect.getmro(owner))
            return None if found else f"{self.owner}: self.{self.name}"
        method, keyword = self.name.rstrip(")").split("(")
        function = getattr(owner, method, None)
        if function is None:
            return f"{self.owner}.{method}"
        return None if keyword in inspect.signature(function).parameters else f"{self.owner}.{method}({keyword}=)"


@functools.cache
def _module_text(klass) -> str:
    try:
        return Path(inspect.getsourcefile(klass)).read_text()
    except (OSError, TypeError):
        return ""


_FAUST_CONSUMER = "faust.transport.consumer:Consumer"
_AIOKAFKA_DRIVER = "faust.transport.drivers.aiokafka"
REACHES = [
    # faust: the app
    Reach("faust.app.base:App", "_new_consumer"),
    Reach("faust.app.base:App", "flow_control"),
    Reach("faust.app.base:App", "in_transaction"),
    Reach("faust.app.base:App", "assignor"),
    Reach("faust.app.base:App", "monitor"),
    Reach("faust.app.base:App", "consumer_generation_id"),
    Reach("faust.assignor.partition_assignor:PartitionAssignor", "group_for_topic"),
    Reach("faust.sensors.monitor:Monitor", "stream_inbound_time", "self"),
    Reach("faust.streams", "_current_event"),
    Reach("faust.exceptions", "ProducerSendError"),
    Reach("mode.utils.queues:FlowControlEvent", "manage_queue"),
    Reach("mode.utils.queues:FlowControlEvent", "is_active"),
    # faust: the consumer
    Reach("faust.transport.consumer", "ensure_TP"),
    Reach(_FAUST_CONSUMER, "_wait_next_records"),
    Reach("faust.tables.base:Collection", "data"),
    Reach("faust.tables.base:Collection", "changelog_topic_name"),
    Reach("faust.tables.manager:TableManager", "persist_offset_on_commit"),
    Reach("faust.stores.rocksdb:Store", "_db_for_partition"),
    Reach("faust.stores.rocksdb:Store", "set_persisted_offset"),
    Reach("faust.stores.rocksdb:Store", "rocksdb_options", "self"),
    Reach("faust.stores.rocksdb:RocksDBOptions", "open(read_only)", "keyword"),
    Reach("rocksdict", "WriteBatch"),
    Reach("rocksdict:Rdict", "set_write_options"),
    Reach("rocksdict:WriteOptions", "disable_wal"),
    Reach(_FAUST_CONSUMER, "getmany"),
    Reach(_FAUST_CONSUMER, "_new_offset"),
    Reach(_FAUST_CONSUMER, "_filter_tps_with_pending_acks"),
    Reach(_FAUST_CONSUMER, "force_commit"),
    Reach(_FAUST_CONSUMER, "commit"),
    Reach(_FAUST_CONSUMER, "commit_and_end_transactions"),
    Reach(_FAUST_CONSUMER, "perform_seek"),
    Reach(_FAUST_CONSUMER, "on_partitions_revoked"),
    Reach(_FAUST_CONSUMER, "on_buffer_full"),
    Reach(_FAUST_CONSUMER, "on_buffer_drop"),
    Reach(_FAUST_CONSUMER, "should_stop"),
    Reach(_FAUST_CONSUMER, "_committed_offset", "self"),
    Reach(_FAUST_CONSUMER, "_acked", "self"),
    Reach(_FAUST_CONSUMER, "_buffered_partitions", "self"),
    Reach(_FAUST_CONSUMER, "flow_active", "self"),
    Reach(_FAUST_CONSUMER, "transactions", "self"),
    Reach("faust.transport.consumer:ThreadDelegateConsumer", "_thread", "self"),
    Reach("faust.transport.consumer:ThreadDelegateConsumer", "seek_wait"),
    Reach("faust.transport.consumer:TransactionManager", "on_rebalance"),
    Reach("faust.transport.consumer:TransactionManager", "commit"),
    Reach("faust.transport.consumer:TransactionManager", "_tps_to_transactional_ids"),
    Reach("faust.transport.consumer:TransactionManager", "producer", "self"),
    Reach(f"{_AIOKAFKA_DRIVER}:AIOKafkaConsumerThread", "_fetch_records"),
    Reach(f"{_AIOKAFKA_DRIVER}:AIOKafkaConsumerThread", "_highwaters"),
    Reach(f"{_AIOKAFKA_DRIVER}:AIOKafkaConsumerThread", "_ensure_consumer"),
    # faust: the producer
    Reach(f"{_AIOKAFKA_DRIVER}:Producer", "send(transactional_id)", "keyword"),
    Reach(f"{_AIOKAFKA_DRIVER}:Producer", "commit_transactions"),
    Reach(f"{_AIOKAFKA_DRIVER}:Producer", "stop_transaction"),
    Reach(f"{_AIOKAFKA_DRIVER}:Producer", "maybe_begin_transaction"),
    Reach(f"{_AIOKAFKA_DRIVER}:Producer", "_transaction_producers"),
    Reach(f"{_AIOKAFKA_DRIVER}:Producer", "_trn_locks"),
    Reach(f"{_AIOKAFKA_DRIVER}:Producer", "_ensure_producer"),
    Reach("faust.transport.producer:Producer", "buffer", "self"),
    Reach("faust.transport.producer:ProducerBuffer", "flush"),
    Reach("faust.transport.producer:ProducerBuffer", "size"),
    # aiokafka
    Reach("aiokafka.structs", "TopicPartition"),
    Reach("aiokafka:AIOKafkaConsumer", "end_offsets"),
    Reach("aiokafka:AIOKafkaConsumer", "_subscription", "self"),
    Reach("aiokafka:AIOKafkaConsumer", "_client", "self"),
    Reach("aiokafka.consumer.subscription_state:SubscriptionState", "subscription"),
    Reach("aiokafka.consumer.subscription_state:Subscription", "assignment"),
    Reach("aiokafka.consumer.subscription_state:Assignment", "state_value"),
    Reach("aiokafka.consumer.subscription_state:TopicPartitionState", "has_valid_position"),
    Reach("aiokafka.consumer.subscription_state:TopicPartitionState", "position"),
    Reach("aiokafka.producer.producer:AIOKafkaProducer", "_txn_manager", "self"),
    Reach("aiokafka.producer.producer:AIOKafkaProducer", "send_offsets_to_transaction"),
    Reach("aiokafka.producer.producer:AIOKafkaProducer", "create_batch"),
    Reach("aiokafka.producer.producer:AIOKafkaProducer", "send_batch(partition)", "keyword"),
    Reach("aiokafka.producer.producer:AIOKafkaProducer", "_partition"),
    Reach("aiokafka.producer.producer:AIOKafkaProducer", "client", "self"),
    Reach("aiokafka.producer.message_accumulator:BatchBuilder", "append(timestamp)", "keyword"),
    Reach("aiokafka.client:AIOKafkaClient", "_wait_on_metadata"),
    Reach("aiokafka.producer.transaction_manager:TransactionManager", "is_in_transaction"),
    Reach("aiokafka.client:AIOKafkaClient", "_bootstrap_servers", "self"),
    Reach("aiokafka.consumer.group_coordinator:GroupCoordinator", "_maybe_leave_group"),
    Reach("aiokafka.consumer.group_coordinator:GroupCoordinator", "reset_generation"),
    Reach("aiokafka.consumer.group_coordinator:GroupCoordinator", "_send_req"),
    Reach("aiokafka.consumer.group_coordinator:GroupCoordinator", "generation", "self"),
    Reach("aiokafka.consumer.group_coordinator:GroupCoordinator", "_group_instance_id", "self"),
    Reach("aiokafka.protocol.group", "LeaveGroupRequest"),
]


def installed_versions() -> dict[str, str]:
    versions = {}
    for name in TESTED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def verify(reaches: list[Reach] | None = None) -> None:
    """Raise FenceError, naming the versions, if anything the fence touches is missing."""
    missing = [m for m in (reach.missing() for reach in (REACHES if reaches is None else reaches)) if m]
    if missing:
        installed = ", ".join(f"{n} {v}" for n, v in installed_versions().items())
        tested = ", ".join(f"{n} {v}" for n, v in TESTED.items())
        raise FenceError(
            f"bounceback cannot run on {installed}: its exactly-once corrections (streams/fence.py) need "
            f"{len(missing)} thing(s) these versions lack: {'; '.join(missing)}. It is tested with {tested} "
            f"(pinned in pyproject.toml): install those.")


# -- installing ----------------------------------------------------------------------------


def install(pipeline) -> None:
    """Check, then correct the pipeline's faust app. The consumer's and the stores'
    corrections are made when faust creates the consumer (as the worker starts)."""
    verify()
    if pipeline.settings.tansu:
        tansu_leave_group()
        tansu_end_offsets()
    app = pipeline.app
    new_consumer = app._new_consumer

    def corrected_consumer():
        consumer = new_consumer()
        _correct_consumer(pipeline, consumer)
        # the tables' stores made inside the worker, before any partition's database opens
        _rocksdb_without_wal(app.tables.values())
        return consumer

    app._new_consumer = corrected_consumer


def _correct_consumer(pipeline, consumer) -> None:
    app = pipeline.app
    ledger = pipeline.ledger
    _divert_fetches(pipeline, consumer, ledger)
    _commit_from_ledger(consumer, ledger)
    _gate_commits(pipeline.gate, consumer, lambda: flush_buffer(app))
    _keep_transactions_open(consumer)
    _highwaters_from_broker(consumer._thread)
    if app.in_transaction:
        _commit_before_revocation(consumer)
        _producers_follow_assignment(consumer.transactions)
        _commit_transactions_concurrently(app.producer)


# -- 1. the hot path -----------------------------------------------------------------------


def _divert_fetches(pipeline, consumer, ledger: OffsetLedger) -> None:
    app = pipeline.app
    intakes = pipeline.intakes  # source topic -> its agent's Intake
    flow_control = app.flow_control
    # faust's and aiokafka's internals: imported where used, once verify() has found them
    from faust.transport.consumer import ensure_TP

    for intake in set(intakes.values()):
        # faust's sets of partitions hold its own TP tuples, not aiokafka's
        intake.on_full = lambda tp: consumer.on_buffer_full(ensure_TP(tp))
        intake.on_drained = lambda tp: consumer.on_buffer_drop(ensure_TP(tp))
        flow_control.manage_queue(intake)  # cleared with faust's stream queues
    wait_next_records = consumer._wait_next_records
    fetch_records = consumer._thread._fetch_records

    async def fetched_and_recorded(*args, **kwargs):
        # every record fetched for the agents (never markers or aborted records), as it
        # comes from aiokafka: the ledger holds commits at those not processed
        records = await fetch_records(*args, **kwargs)
        if records:
            ledger.fetched(records)
        return records

    consumer._thread._fetch_records = fetched_and_recorded

    async def diverted(timeout):
        records, active = await wait_next_records(timeout)
        if not records:
            return records, active
        ours = [tp for tp in records if tp.topic in intakes]
        if not ours:
            return records, active
        # faust's getmany delivers only while the flow is on, and only partitions active
        # or buffered; what it does not deliver is fetched again after the seek to the
        # committed offsets that ends the rebalance stopping it
        deliver = consumer.flow_active and flow_control.is_active() and not consumer.should_stop
        buffered = consumer._buffered_partitions
        inbound_time = app.monitor.stream_inbound_time if app.monitor is not None else None
        now = time.monotonic()
        for tp in ours:
            batch = records.pop(tp)
            if deliver and (active is None or tp in active or tp in buffered):
                intakes[tp.topic].put(tp, batch)
                if inbound_time is not None:
                    inbound_time[tp] = now  # faust's livelock check: the stream is alive
        return records, active

    consumer._wait_next_records = diverted


# -- 8. table writes ----------------------------------------------------------------------


class TableWrites:
    """The table writes of one partition's share of a batch: made here (`set`, `delete`)
    rather than through the tables, which would send a changelog record each through
    faust's buffer and write RocksDB key by key; their changelog records sent (`records`,
    to `send_records`), then, once those are acknowledged, RocksDB written in one batch per
    table (`store`)."""

    def __init__(self, partition: int) -> None:
        self.partition = partition
        # store -> (key, value or None for a delete), in the order they were made
        self.puts: dict[object, list[tuple[bytes, bytes | None]]] = {}
        self.changelog: list[tuple[object, bytes, bytes | None]] = []  # (table, key, value or None)

    def set(self, table, key: bytes, value: bytes) -> None:
        self.changelog.append((table, key, value))
        self.puts.setdefault(table.data, []).append((key, value))

    def delete(self, table, key: bytes) -> None:
        self.changelog.append((table, key, None))  # the changelog's tombstone
        self.puts.setdefault(table.data, []).append((key, None))

    def records(self):
        """The changelog records, as `send_records` takes them."""
        for table, key, value in self.changelog:
            yield table.changelog_topic_name, key, self.partition, value

    def store(self, app, sent: list[SentBatch]) -> None:
        """Once the changelog records (among `sent`) are acknowledged: RocksDB, and the
        changelog offset the local store holds up to (as faust's
        Collection._on_changelog_sent keeps it)."""
        partition = self.partition
        for store, puts in self.puts.items():
            # faust's key index (which partition holds a key, for reads outside an event) is
            # not kept: such a read asks each partition's bloom filter instead; keeping it
            # (a locked LRU, a Python call per put) was 2.8% of the worker's samples
            batch = rocksdict.WriteBatch(raw_mode=True)
            for key, value in puts:
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
            store._db_for_partition(partition).write(batch)
        tables = {table.changelog_topic_name: table for table, _, _ in self.changelog}
        written: dict[object, int] = {}
        for sent_batch in sent:
            table = tables.get(sent_batch.topic)
            if table is not None and sent_batch.partition == partition:
                written[table] = max(written.get(table, -1), sent_batch.last_offset())
        for table, offset in written.items():
            tp = TopicPartition(table.changelog_topic_name, partition)
            if app.in_transaction:
                app.tables.persist_offset_on_commit(table.data, tp, offset)
            else:
                table.data.set_persisted_offset(tp, offset)


# -- 9. record batches ---------------------------------------------------------------------


class SentBatch(NamedTuple):
    """A record batch handed to the producer: `future` is done when the broker has it."""

    topic: str
    partition: int
    future: asyncio.Future
    count: int

    def last_offset(self) -> int:
        return self.future.result().offset + self.count - 1


async def send_records(app, transactional_id: str | None, records) -> list[SentBatch]:
    """Send (topic, key, partition or None for the key's, value) records, in the partition's
    transaction under exactly-once, as record batches: each record is appended to aiokafka's
    record-batch builder (compiled) for its topic partition and each batch is sent whole,
    instead of one send per record through faust's producer and aiokafka's per-record path
    (measured: a sixth of the worker's time). Records of one topic partition keep their
    order. Returns the batches, to wait for."""
    faust_producer = app.producer
    if transactional_id is None:
        producer, lock = faust_producer._ensure_producer(), contextlib.nullcontext()
    else:
        producer = faust_producer._transaction_producers.get(transactional_id)
        if producer is None:  # as faust's own send says it: the partition was handed over
            raise ProducerSendError(f"No transaction producer found for : {transactional_id}")
        lock = faust_producer._trn_locks[transactional_id]
    building: dict[tuple[str, int], list] = {}  # (topic, partition) -> [builder, records in it]
    sent: list[SentBatch] = []

    async def send(topic: str, partition: int, builder, count: int) -> None:
        future = await producer.send_batch(builder, topic, partition=partition)
        sent.append(SentBatch(topic, partition, future, count))

    try:
        async with lock:
            for topic, key, partition, value in records:
                if partition is None:
                    await producer.client._wait_on_metadata(topic)
                    partition = producer._partition(topic, None, None, None, key, value)
                batch = building.get((topic, partition))
                if batch is None:
                    batch = building[(topic, partition)] = [producer.create_batch(), 0]
                if batch[0].append(timestamp=None, key=key, value=value) is None:  # full: send it
                    await send(topic, partition, *batch)
                    batch[:] = [producer.create_batch(), 0]
                    batch[0].append(timestamp=None, key=key, value=value)  # an empty batch takes any one
                batch[1] += 1
            for (topic, partition), (builder, count) in building.items():
                await send(topic, partition, builder, count)
    except KafkaError as exc:
        raise ProducerSendError(f"Error while sending: {exc!r}") from exc
    return sent


# -- 2. commits from the ledger --------------------------------------------------------------


def _commit_from_ledger(consumer, ledger: OffsetLedger) -> None:
    faust_new_offset = consumer._new_offset
    faust_with_acks = consumer._filter_tps_with_pending_acks

    def with_work(topics=None):
        # faust looks only at partitions with acknowledged messages; the agents'
        # partitions have none (their records are not messages): the ledger's instead,
        # as aiokafka's TopicPartition, which its commits insist on
        tps = set(faust_with_acks(topics))
        for tp in consumer.assignment():
            if tp.topic in ledger.topics and ledger.end(tp) >= 0 and (
                    topics is None or tp in topics or tp.topic in topics):
                tps.add(TopicPartition(tp.topic, tp.partition))
        return iter(tps)

    consumer._filter_tps_with_pending_acks = with_work

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
        if tp.topic not in ledger.topics:
            return faust_new_offset(tp)
        ours, held = ledger.committable(tp, consumer._committed_offset[tp])
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
            log.warning("%s[%d]: record %d was fetched but not processed; seeking back to it",
                        tp.topic, tp.partition, held)
            asyncio.ensure_future(consumer.seek_wait({tp: held}))
        return ours

    consumer._new_offset = new_offset

    perform_seek = consumer.perform_seek

    async def sought_to_committed():
        await perform_seek()
        seeks[0] += 1
        for tp in consumer.assignment():
            if tp.topic in ledger.topics:
                ledger.rewound(tp)

    consumer.perform_seek = sought_to_committed


def committed_offset(consumer, tp) -> int | None:
    """The offset last committed for `tp` by this worker (None before its first commit)."""
    return consumer._committed_offset.get(tp)


def fetch_position(consumer, tp) -> int | None:
    """aiokafka's fetch position for `tp`, read from its subscription state: faust runs that
    consumer in a thread of its own, so its coroutine `position()` is not ours to await."""
    try:
        assignment = consumer._thread._ensure_consumer()._subscription.subscription.assignment
        state = assignment.state_value(tp) if assignment is not None else None
    except Exception:
        return None
    return state.position if state is not None and state.has_valid_position else None


# -- 3. the gate -----------------------------------------------------------------------------


def _gate_commits(gate, consumer, flush: Callable) -> None:
    """Route the consumer's commits through the commit gate (streams/commit_gate.py), and
    empty faust's producer buffer (changelog records) before each: faust flushes it before
    an at-least-once commit, not before committing a transaction."""
    force_commit = consumer.force_commit
    waited, committed = COMMIT_SECONDS.labels(phase="gate"), COMMIT_SECONDS.labels(phase="commit")

    async def flushed_commit(start: float, *args, **kwargs):
        entered = time.perf_counter()
        waited.observe(entered - start)
        try:
            await flush()
            return await force_commit(*args, **kwargs)
        finally:
            committed.observe(time.perf_counter() - entered)

    async def gated(*args, **kwargs):
        start = time.perf_counter()
        return await gate.commit(lambda: flushed_commit(start, *args, **kwargs))

    consumer.force_commit = gated


async def flush_buffer(app) -> None:
    """Hand everything in faust's producer buffer (changelog records) to the producer.
    `ProducerBuffer.flush()` gives up after 0.1 s without progress, so it is repeated until
    the buffer is empty; then the producers are flushed."""
    producer = app.producer
    buffer = producer.buffer
    while buffer.size:
        await buffer.flush()
        await asyncio.sleep(0)
    await producer.flush()


# -- 4. revocations ------------------------------------------------------------------------


def _commit_before_revocation(consumer) -> None:
    """Under exactly-once, commit (through the gate: after the batch in flight) before
    faust handles a revocation: faust would stop the revoked partitions' transactions
    uncommitted, aborting work this worker's RocksDB keeps (and whose changelog offsets it
    marked persisted), which breaks recovery when a partition comes back here."""
    revoke = consumer.on_partitions_revoked

    async def committed_first(revoked):
        await consumer.commit()
        await revoke(revoked)

    consumer.on_partitions_revoked = committed_first


def _keep_transactions_open(consumer) -> None:
    """At a revocation faust's wait_empty ends with commit_and_end_transactions, which leaves
    every transactional producer outside a transaction until the next assignment; a
    changelog record still on its way then crashed the worker. Transactions are ended
    only when the worker stops."""
    end_transactions = consumer.commit_and_end_transactions

    async def commit_and_end_transactions() -> None:
        if consumer.should_stop:
            await end_transactions()
        else:
            await consumer.commit()

    consumer.commit_and_end_transactions = commit_and_end_transactions


def _producers_follow_assignment(transactions) -> None:
    """`TransactionManager.on_rebalance`, keeping one transactional producer per partition
    held, decided from the producers there are rather than from faust's revoked/newly
    assigned sets."""

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

    transactions.on_rebalance = on_rebalance


def _commit_transactions_concurrently(producer) -> None:
    """faust's `Producer.commit_transactions`, with the transactions committed side by side
    instead of one after the other (each is independent: its own producer and lock)."""

    async def commit_one(transactional_id, offsets, group_id, start_new_transaction) -> None:
        async with producer._trn_locks[transactional_id]:
            transaction_producer = producer._transaction_producers.get(transactional_id)
            if transaction_producer is None:
                log.warning("commit invoked for unknown transaction %s", transactional_id)
                return
            await transaction_producer.send_offsets_to_transaction(offsets, group_id)
            await transaction_producer.commit_transaction()
            if start_new_transaction:
                await transaction_producer.begin_transaction()

    async def commit_transactions(tid_to_offset_map, group_id, start_new_transaction=True) -> None:
        await asyncio.gather(*(commit_one(tid, offsets, group_id, start_new_transaction)
                               for tid, offsets in tid_to_offset_map.items()))

    producer.commit_transactions = commit_transactions


# -- 5. highwaters -------------------------------------------------------------------------


def _highwaters_from_broker(thread) -> None:
    async def highwaters(partitions):
        # the broker's answer (the last stable offset, as the consumer reads committed),
        # not the one cached from the last fetch response, None until there is one
        return await thread._ensure_consumer().end_offsets(list(partitions))

    thread._highwaters = highwaters


# -- reading faust -------------------------------------------------------------------------


class PartitionAnchor:
    """What faust's tables need of the current event: its message's topic and partition."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _AnchorMessage(topic, partition)


class _AnchorMessage:
    __slots__ = ("topic", "partition")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition


@contextmanager
def partition_context(anchor: PartitionAnchor):
    """Make `anchor` faust's current event, so table reads and writes go to its partition
    (and its changelog partition)."""
    # faust's and aiokafka's internals: imported where used, once verify() has found them
    from faust.streams import _current_event

    token = _current_event.set(weakref.ref(anchor))
    try:
        yield
    finally:
        _current_event.reset(token)


def partition_reader(table, partition: int) -> Callable[[bytes], bytes | None]:
    """The values of one partition of a table, read from its RocksDB at once: faust's
    `table.get` asks RocksDB twice (`__contains__`, then `__getitem__`) through its mapping
    layers (the peer bench's profile, a read and its decode: 13.6% of the worker's samples
    through faust, 8.6% here). The database is looked up at each read, not held: faust
    closes a revoked partition's by dropping it, and one still held would keep its lock
    when the partition comes back."""
    store = table.data

    def read(key: bytes) -> bytes | None:
        return store._db_for_partition(partition).get(key)

    return read


def transaction_ended(app, transactional_id: str) -> bool:
    """Whether this worker no longer holds the transactional producer (its partition was
    handed over, or the producer was fenced)."""
    return transactional_id not in app.producer._transaction_producers


def transactional_id(app, topic: str, partition: int) -> str:
    """faust's name for the transaction that commits this source partition's offsets."""
    return f"{app.conf.id}-{app.assignor.group_for_topic(topic)}-{partition}"


# -- 10. the embedded broker ---------------------------------------------------------------


def tansu_leave_group() -> None:
    """Tansu's group generations start at 0, and aiokafka leaves a group only above 0: leave
    whenever a generation is held (so a stopped worker hands its partitions over at once)."""
    # faust's and aiokafka's internals: imported where used, once verify() has found them
    from aiokafka import errors
    from aiokafka.consumer import group_coordinator
    from aiokafka.protocol.group import LeaveGroupRequest

    coordinator = group_coordinator.GroupCoordinator
    if getattr(coordinator._maybe_leave_group, "corrected_for_tansu", False):
        return

    async def _maybe_leave_group(self):
        if self.generation >= 0 and self._group_instance_id is None:
            try:
                await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
            except errors.KafkaError as err:
                group_coordinator.log.error("LeaveGroup request failed: %s", err)
        self.reset_generation()

    _maybe_leave_group.corrected_for_tansu = True
    coordinator._maybe_leave_group = _maybe_leave_group


def tansu_end_offsets() -> None:
    """Tansu answers ListOffsets for the end of a partition with its last batch's base
    offset + 1; corrected with the high watermark of a fetch of that batch."""
    original = AIOKafkaConsumer.end_offsets
    if getattr(original, "corrected_for_tansu", False):
        return

    async def end_offsets(self, partitions):
        reported = await original(self, partitions)
        candidates = [tp for tp, end in reported.items() if end > 0]
        if not candidates:
            return reported
        corrected = dict(reported)
        probe = AIOKafkaConsumer(bootstrap_servers=self._client._bootstrap_servers, enable_auto_commit=False)
        await probe.start()
        try:
            probe.assign(candidates)
            for tp in candidates:
                probe.seek(tp, reported[tp] - 1)
            pending = set(candidates)
            for _ in range(20):
                if not pending:
                    break
                await probe.getmany(*pending, timeout_ms=500)
                for tp in list(pending):
                    highwater = probe.highwater(tp)
                    if highwater is not None:
                        corrected[tp] = max(reported[tp], highwater)
                        pending.discard(tp)
        finally:
            await probe.stop()
        return corrected

    end_offsets.corrected_for_tansu = True
    AIOKafkaConsumer.end_offsets = end_offsets


# -- 11. RocksDB without its write-ahead log --------------------------------------------


def _rocksdb_without_wal(tables) -> None:
    """Every RocksDB of the tables writes without its write-ahead log, as Kafka Streams'
    RocksDBStore does: the changelog is the table's log. All writes, faust's persisted
    changelog offset among them, skip it, so after a crash a database holds every write up
    to its last flush and none after (one column family), offset included, and recovery
    reads the changelog from that offset; under exactly-once a crashed worker's state is
    discarded anyway (streams/worker.py). A database faust drops at a stop or revocation
    is flushed as it closes. Measured: a put costs 0.84 us without it against 1.58 with it;
    the RocksDB write batches were the largest of the worker's costs before."""
    for table in tables:
        options = table.data.rocksdb_options
        opened = options.open

        def open_without_wal(path, *, read_only: bool = False, opened=opened):
            db = opened(path, read_only=read_only)
            write = rocksdict.WriteOptions()
            write.disable_wal = True
            db.set_write_options(write)
            return db

        options.open = open_without_wal
