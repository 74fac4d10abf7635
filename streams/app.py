"""The faust app: topics, tables and agents, wired around the partition processors.

Agents stay thin: decode, group a batch by partition, hand it to the partition's
AddressProcessor or ContactProcessor (partitions/), write back the entries it changed, and
send what the batch produced. Table writes happen inside the agent's stream, in the context
of an event of the partition that owns the keys, so faust's store and changelog put
them on that partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone

import faust
import msgspec
from faust.exceptions import ProducerSendError

from ingress.publisher import InboundPublisher
from partitions.address import AddressEntry, AddressProcessor, pending_deadlines
from partitions.commands import decode_address_command, decode_contact_command, encode
from partitions.contact import ContactEntry, ContactProcessor
from partitions.routing import ADDRESS, CONTACT, Router
from projections.audit import TrailEntry, links_in_time
from projections.normalise import AddressNormaliser, address_key
from schemas.events import InvalidEvent, Tick, decode_event, encode_event
from streams import fence, metrics
from streams.commit_gate import CommitGate
from streams.fence import PartitionAnchor, partition_context
from streams.inbound import faust_send
from streams.intake import Intake
from streams.offsets import OffsetLedger
from streams.settings import TABLES, Settings
from streams.web import install_views

log = logging.getLogger("bounceback")

_decode_address_entry = msgspec.json.Decoder(AddressEntry).decode
_decode_contact_entry = msgspec.json.Decoder(ContactEntry).decode
_decode_clock = msgspec.json.Decoder(datetime).decode
_decode_trail_entry = msgspec.json.Decoder(TrailEntry).decode
_CLOCK = b"clock"
# audit-trail entries kept per address for GET /addresses/..., one table record each
TRAIL_LIMIT = 500


def trail_key(key: str, number: int) -> bytes:
    """The trails-table key of an address's `number`th trail entry: on the address's partition,
    as faust puts what an event of that partition writes."""
    return f"{key} {number}".encode()


def _every_address(key: str) -> bool:
    return True


# the most bytes of JSON lines in one internal record: well under the producer's (and the
# broker's) 1 MB limit on a request
RECORD_BYTES = 256 * 1024


class Outbox:
    """A batch's outputs. For internal topics, one record per destination partition with its
    commands as JSON lines (split where they pass RECORD_BYTES), instead of one record per
    command; keyed outputs one by one."""

    def __init__(self) -> None:
        self._lines: dict[tuple[object, int], list[bytes]] = {}
        self._keyed: list[tuple[object, bytes, bytes]] = []

    def add(self, topic, partition: int, line: bytes) -> None:
        self._lines.setdefault((topic, partition), []).append(line)

    def add_keyed(self, topic, key: bytes, value: bytes) -> None:
        self._keyed.append((topic, key, value))

    def records(self):
        for topic, key, value in self._keyed:
            yield topic, key, None, value
        for (topic, partition), lines in self._lines.items():
            start, size = 0, 0
            for i, line in enumerate(lines):
                if size and size + len(line) > RECORD_BYTES:
                    yield topic, None, partition, b"\n".join(lines[start:i])
                    start, size = i, 0
                size += len(line) + 1
            yield topic, None, partition, b"\n".join(lines[start:])


# makes a batch's table writes
StateWrite = Callable[[fence.TableWrites], None]


class PartitionBatch:
    """What one source partition's share of a batch produced: outputs, and the state write
    to make once they are acknowledged. `anchor` stands for the partition in faust's tables;
    `topic` is the source topic whose transaction commits the partition's offsets."""

    __slots__ = ("partition", "topic", "anchor", "outbox", "write", "offsets")

    def __init__(self, topic: str, partition: int) -> None:
        self.partition = partition
        self.topic = topic
        self.anchor = PartitionAnchor(topic, partition)
        self.outbox = Outbox()
        self.write: StateWrite | None = None
        self.offsets: dict[str, list[int]] = {}  # by source topic, for the offset ledger


class Pipeline:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        exactly_once = settings.processing_guarantee == "exactly_once"
        self.app = app = faust.App(
            settings.app_id,
            broker=f"kafka://{settings.broker}",
            store="rocksdb://",
            datadir=settings.datadir,
            topic_partitions=settings.partitions,
            topic_replication_factor=1,
            broker_session_timeout=settings.session_timeout,
            broker_heartbeat_interval=min(1.0, settings.session_timeout / 3),
            broker_rebalance_timeout=max(2.0, settings.session_timeout),
            consumer_auto_offset_reset="earliest",
            # deeper buffers so a batch of `batch_size` events is there when the agent asks
            stream_buffer_maxsize=max(4096, 4 * settings.batch_size),
            broker_max_poll_records=settings.batch_size,
            # a batch's outputs go out in a few large requests, not one small request each
            producer_max_batch_size=512 * 1024,
            producer_linger=0.005,
            # every value is msgspec JSON made by the agents; faust moves bytes
            key_serializer="raw",
            value_serializer="raw",
            processing_guarantee=settings.processing_guarantee,
            # under exactly-once an output is visible (read_committed) only once its
            # transaction commits: as Kafka Streams does, commit every 100 ms
            broker_commit_interval=settings.commit_interval or (0.1 if exactly_once else 2.8),
            table_standby_replicas=settings.standby_replicas,
            web_enabled=True,
            web_bind=settings.web_bind,
            web_host=settings.web_host,
            web_port=settings.web_port,
            canonical_url=f"http://{settings.web_host}:{settings.web_port}",
        )
        # at a 100 ms commit interval a commit that waits for the batch in flight outlasts
        # the interval routinely; mode's timer would log a warning for each one
        logging.getLogger("mode.timers").setLevel(logging.ERROR)
        names = settings.topics
        raw = dict(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        n = settings.partitions
        self.inbound = app.topic(names.inbound, partitions=n, **raw)
        self.address_commands = app.topic(names.address_commands, partitions=n, **raw)
        self.contact_commands = app.topic(names.contact_commands, partitions=n, **raw)
        self.suppressions = app.topic(names.suppressions, **raw)
        self.contact_status = app.topic(names.contact_status, **raw)
        self.dead_letters = app.topic(names.dead_letters, **raw)
        self.applied = app.topic(names.applied, partitions=n, **raw)
        table = dict(key_type=bytes, value_type=bytes, partitions=n)
        self.addresses, self.contacts, self.clocks, self.trails = (app.Table(name, **table) for name in TABLES)

        self.normalise = AddressNormaliser(settings.policy.default_region)
        self.router = Router(settings.partitions, self.normalise)
        # what the worker itself puts on the inbound topic (the clock's ticks)
        self.inbound_publisher = InboundPublisher(faust_send(app), names.inbound, self.router)
        # the address processor of each partition held: its clock and deadline queue are
        # derived from the tables, so it is dropped when partitions move and built again
        self._address_processors: dict[int, AddressProcessor] = {}
        self.gate = CommitGate()
        # the agents' records, as the consumer fetched them (streams/fence.py puts them here)
        high = max(4096, 4 * settings.batch_size)
        self.address_intake, self.contact_intake = Intake(high), Intake(high)
        self.intakes = {names.inbound: self.address_intake, names.address_commands: self.address_intake,
                        names.contact_commands: self.contact_intake}
        self.ledger = OffsetLedger(self.intakes)
        fence.install(self)

        app.agent(app.topic(names.inbound, names.address_commands, **raw), name="addresses")(self._address_agent)
        app.agent(self.contact_commands, name="contacts")(self._contact_agent)
        if settings.clock_interval > 0:
            app.timer(settings.clock_interval, on_leader=True)(self.publish_tick)
        app.on_partitions_assigned.connect(self._forget_processors)
        app.on_partitions_revoked.connect(self._forget_processors)
        install_views(self)

    def partition(self, key: str) -> int:
        return self.router.partition(key)

    # -- the address agent -------------------------------------------------------------------

    async def _run_batches(self, intake: Intake, commands_of, process) -> None:
        """The loop both agents share: take a batch, decode it into commands grouped by
        partition, fold each group, then send the outputs and write the state. Outputs are
        kept per source partition: under exactly-once they go out in that partition's
        transaction, the one that commits its offsets.

        Bad input never raises here (it is dead-lettered); anything that does raise stops
        the worker, rather than let faust restart the agent past a half-written batch, so
        the batch is processed again from the last committed offset when it is restarted."""
        try:
            await self._process_batches(intake, commands_of, process)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("processing failed: stopping the worker")
            await self.app.crash(exc)
            raise

    async def _process_batches(self, intake: Intake, commands_of, process) -> None:
        size, window = self.settings.batch_size, self.settings.batch_window
        while True:
            taken = await intake.take(size, window)
            await self.gate.enter()
            try:
                with metrics.BATCH_SECONDS.time():
                    await self._process_batch(taken, commands_of, process)
            finally:
                self.gate.leave()

    async def _process_batch(self, taken, commands_of, process) -> None:
        """`taken`: (topic partition, its records in offset order) from the intake."""
        groups: dict[int, list] = {}
        sources: dict[int, list] = {}  # the record each command came from, for a dead letter
        batches: dict[int, PartitionBatch] = {}
        for tp, records in taken:
            p = tp.partition
            batch = batches.get(p)
            if batch is None:
                batch = batches[p] = PartitionBatch(tp.topic, p)
            batch.offsets.setdefault(tp.topic, []).extend(record.offset for record in records)
            commands = groups.setdefault(p, [])
            origins = sources.setdefault(p, [])
            outbox = batch.outbox
            for record in records:
                decoded = commands_of(record, outbox)
                commands.extend(decoded)
                origins.extend([record] * len(decoded))
        for p, commands in groups.items():
            if commands:
                batch = batches[p]
                with partition_context(batch.anchor):
                    batch.write = process(p, commands, batch.outbox, sources[p])
        await self._send_and_write(batches.values())

    def _decode_lines(self, record, decode, what: str) -> list:
        """The commands of an internal record (JSON lines); a bad line is dead-lettered."""
        commands = []
        for line in record.value.split(b"\n"):
            try:
                commands.append(decode(line))
            except msgspec.DecodeError as exc:
                self._dead_letter(record, f"not {what}: {exc}", line)
        return commands

    # -- the address agent -------------------------------------------------------------------

    async def _address_agent(self, stream):
        # faust's stream subscribes the topics; their records come through the intake
        inbound = self.settings.topics.inbound

        def commands_of(record, outbox: Outbox) -> list:
            if record.topic == inbound:
                command = self._route_inbound(record, outbox)
                return [command] if command is not None else []
            return self._decode_lines(record, decode_address_command, "an address command")

        await self._run_batches(self.address_intake, commands_of, self._address_batch)

    def _route_inbound(self, record, outbox: Outbox):
        """Decode and normalise an inbound event; returns it if this partition owns it,
        else forwards it to the partition that does."""
        try:
            command = decode_event(record.value)
            where, owner = self.router.route(command)
        except InvalidEvent as exc:
            self._dead_letter(record, str(exc))
            return None
        if where is CONTACT:
            outbox.add(self.contact_commands, owner, encode_event(command))
            return None
        if where is ADDRESS and owner != record.partition:
            outbox.add(self.address_commands, owner, encode_event(command))
            return None
        return command

    def _address_processor(self, p: int) -> AddressProcessor:
        processor = self._address_processors.get(p)
        if processor is None:
            table = self.addresses
            deadlines = pending_deadlines(
                (key.decode(), _decode_address_entry(value))
                for key, value in table.items()
                if self.partition(key.decode()) == p
            )
            raw_clock = fence.partition_reader(self.clocks, p)(_CLOCK)
            clock = _decode_clock(raw_clock) if raw_clock is not None else None
            read = fence.partition_reader(table, p)

            def load(key: str) -> AddressEntry | None:
                value = read(key.encode())
                return _decode_address_entry(value) if value is not None else None

            processor = self._address_processors[p] = AddressProcessor(
                self.settings.policy, load, clock, deadlines, audit=_every_address)
        return processor

    def _address_batch(self, p: int, commands: list, outbox: Outbox, sources: list) -> StateWrite:
        """Fold one partition's commands; their outputs go to the outbox, and the returned
        function makes the writes of the new state (stored once the outputs are acknowledged)."""
        processor = self._address_processor(p)
        clock = processor.clock
        result = processor.process(commands)
        for index, reason in result.too_late:
            self._dead_letter(sources[index], reason, encode_event(commands[index]))
        metrics.count_too_late(commands[index] for index, _ in result.too_late)
        for record in result.suppressions:
            outbox.add_keyed(self.suppressions, address_key(record.channel, record.address).encode(), encode(record))
        for contact_id, command in result.contact_commands:
            outbox.add(self.contact_commands, self.partition(contact_id), encode(command))
        for event in result.applied:
            outbox.add(self.applied, p, encode_event(event))
        metrics.count_address_batch(result)
        table, trails = self.addresses, self.trails

        def write(writes: fence.TableWrites) -> None:
            for key, item in result.trail:  # one record per entry; the oldest kept one goes
                entry = result.entries[key]
                writes.set(trails, trail_key(key, entry.trail), encode(item))
                if entry.trail >= TRAIL_LIMIT:
                    writes.delete(trails, trail_key(key, entry.trail - TRAIL_LIMIT))
                entry.trail += 1
            for key, entry in result.entries.items():
                writes.set(table, key.encode(), encode(entry))
            if result.clock is not None and result.clock != clock:
                writes.set(self.clocks, _CLOCK, encode(result.clock))

        return write

    # -- the contact agent -------------------------------------------------------------------

    async def _contact_agent(self, stream):
        def commands_of(record, outbox: Outbox) -> list:
            return self._decode_lines(record, decode_contact_command, "a contact command")

        await self._run_batches(self.contact_intake, commands_of, self._contact_batch)

    def _contact_batch(self, p: int, commands: list, outbox: Outbox, sources: list) -> StateWrite:
        table = self.contacts
        read = fence.partition_reader(table, p)

        def load(contact_id: str) -> ContactEntry | None:
            value = read(contact_id.encode())
            return _decode_contact_entry(value) if value is not None else None

        result = ContactProcessor(load).process(commands)
        for card in result.cards:
            outbox.add_keyed(self.contact_status, card.contact_id.encode(), encode(card))
        for link in result.links:
            outbox.add(self.address_commands, self.partition(address_key(link.channel, link.address)), encode(link))
        for event in result.applied:
            outbox.add(self.applied, p, encode_event(event))
        metrics.count_contact_batch(result)

        def write(writes: fence.TableWrites) -> None:
            for contact_id, entry in result.entries.items():
                writes.set(table, contact_id.encode(), encode(entry))

        return write

    # -- the rest ----------------------------------------------------------------------------

    async def _send_and_write(self, batches) -> None:
        """Send each partition's outputs and wait until the broker has them, then write its
        state. A crash in between leaves the state unwritten and the input uncommitted: the
        batch is processed again and its outputs sent again, which their consumers take as
        the same records (keyed, or deduplicated by event id). Under exactly-once a
        partition's outputs are in its transaction, so they are not seen twice at all."""
        ledger = self.ledger
        for batch in batches:
            transactional_id = (fence.transactional_id(self.app, batch.topic, batch.partition)
                                if self.app.in_transaction else None)
            # the state the batch writes, made now and stored once acknowledged
            writes = None
            if batch.write is not None:
                writes = fence.TableWrites(batch.partition)
                batch.write(writes)
            records = [(topic.get_topic_name(), key, partition, value)
                       for topic, key, partition, value in batch.outbox.records()]
            if writes is not None:
                records.extend(writes.records())
            try:
                sent = await fence.send_records(self.app, transactional_id, records)
                await asyncio.gather(*(sent_batch.future for sent_batch in sent))
            except ProducerSendError as exc:
                if transactional_id is None or not fence.transaction_ended(self.app, transactional_id):
                    raise  # not a handover: the worker stops, and starts again from the last commit
                # the partition was revoked, and its transaction with it, during the batch:
                # its new owner processes it again from the last committed offset
                log.warning("dropped a batch of %s: %s", transactional_id, exc)
                # its clock and deadline queue moved on with the batch: built again from the table
                self._address_processors.pop(batch.partition, None)
                continue
            if writes is not None:
                writes.store(self.app, sent)
            # done: the offsets of these records may be committed (streams/offsets.py)
            for topic, offsets in batch.offsets.items():
                ledger.processed(topic, batch.partition, offsets)

    def _dead_letter(self, record, reason: str, value: bytes | None = None) -> None:
        log.warning("dead letter from %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
        metrics.REJECTED.inc()
        self.dead_letters.send_soon(
            key=record.key,
            value=value if value is not None else bytes(record.value or b""),
            headers={"reason": reason.encode(), "source": f"{record.topic}/{record.partition}/{record.offset}".encode()},
        )

    async def publish_tick(self) -> None:
        """The wall clock: a tick through the one publisher, which sends it to every inbound
        partition, so each address partition fires its due deadlines inside its own stream."""
        sends = self.inbound_publisher.window()
        await sends.publish(Tick(at=datetime.now(timezone.utc)))
        await sends.flush()

    async def _forget_processors(self, *args, **kwargs) -> None:
        # their clocks and deadline queues are derived from the tables: built again for the
        # partitions held next
        self._address_processors.clear()

    def consumer_lag(self) -> dict[tuple[str, int], int]:
        """Per partition of the agents' source topics held here: the records not yet
        processed (the high watermark less the offset after the last record processed; or
        less the fetch position when every record fetched is processed, as that is past the
        marker ending a transaction), plus those processed and not yet committed: their
        outputs are not visible (read_committed) until then, nor their offsets safe."""
        consumer = self.app.consumer
        ledger = self.ledger
        lag = {}
        for tp in consumer.assignment():
            if tp.topic not in self.intakes:
                continue
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            processed = ledger.end(tp)
            committed = fence.committed_offset(consumer, tp) or 0
            position = max(processed, committed)
            if not ledger.unprocessed(tp):
                position = max(position, fence.fetch_position(consumer, tp) or -1)
            lag[(tp.topic, tp.partition)] = max(0, highwater - position) + max(0, processed - committed)
        return lag

    def lookup_address(self, key: str) -> AddressEntry | None:
        value = self.addresses.get(key.encode())
        return _decode_address_entry(value) if value is not None else None

    def lookup_trail(self, key: str, entry: AddressEntry) -> list[TrailEntry]:
        """The latest TRAIL_LIMIT entries of an address's audit trail, oldest first."""
        found = (self.trails.get(trail_key(key, n)) for n in range(max(0, entry.trail - TRAIL_LIMIT), entry.trail))
        return links_in_time([_decode_trail_entry(value) for value in found if value is not None])

    def lookup_contact(self, contact_id: str) -> ContactEntry | None:
        value = self.contacts.get(contact_id.encode())
        return _decode_contact_entry(value) if value is not None else None
