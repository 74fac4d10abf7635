"""Publishing a log to the inbound topic, and reading topics back (export-log, demo, tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from projections.intake import normalise_event
from projections.normalize import AddressNormalizer
from schemas.events import Contact, InvalidEvent, Tick, decode_event, encode_event
from schemas.records import RejectedLine
from partitions.routing import partition_for

_decode_tick = msgspec.json.Decoder(Tick).decode


def route(event, partitions: int) -> list[int]:
    """The inbound partitions an event goes to: its owner's, or all of them for a tick.
    Sending each address's events to the partition that owns it keeps their order."""
    kind = type(event)
    if kind is Tick:
        return list(range(partitions))
    if kind is Contact:
        return [partition_for(event.contact_id, partitions)]
    return [partition_for(f"{event.channel}:{event.address}", partitions)]


async def publish_lines(
    lines: Iterable[bytes],
    bootstrap: str,
    topic: str,
    partitions: int,
    default_region: str = "SE",
    on_line: Callable[[int], None] | None = None,
) -> tuple[int, list[RejectedLine]]:
    """Validate and publish; invalid lines are returned with their number and reason."""
    normalise = AddressNormalizer(default_region)
    rejected: list[RejectedLine] = []
    published = 0
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        pending = []
        for number, raw in enumerate(lines, 1):
            if on_line is not None:
                on_line(number)
            try:
                event = normalise_event(decode_event(raw), normalise)
            except InvalidEvent as exc:
                if raw.strip():
                    rejected.append(RejectedLine(number, str(exc), raw.rstrip(b"\r\n").decode("utf-8", "replace")))
                continue
            value = encode_event(event)
            for p in route(event, partitions):
                pending.append(await producer.send(topic, value=value, partition=p))
            published += 1
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return published, rejected


async def read_topic(bootstrap: str, topic: str) -> dict[int, list[tuple[bytes | None, bytes | None, list]]]:
    """Every committed record of every partition, from the beginning to the end as of the
    first fetch. The end is the last stable offset of the fetch responses, which every
    broker reports right (the embedded one's ListOffsets does not); records of aborted
    transactions are skipped."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                                isolation_level="read_committed")
    try:
        await consumer.start()  # inside: a consumer that failed to start is stopped too
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: dict[int, list] = {tp.partition: [] for tp in tps}
        ends: dict[TopicPartition, int] = {}
        pending = set(tps)
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp in list(pending):
                if tp not in ends and consumer.last_stable_offset(tp) is not None:
                    ends[tp] = consumer.last_stable_offset(tp)
                for m in batch.get(tp, []):
                    if m.offset < ends.get(tp, m.offset + 1):
                        records[tp.partition].append((m.key, m.value, list(m.headers or [])))
                if tp in ends and await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return records
    finally:
        await consumer.stop()


def merge_applied(partitions: dict[int, list[bytes]]) -> list[bytes]:
    """One log from the per-partition applied logs: every partition saw the same ticks in the
    same order, so emitting each partition's events up to its k-th tick, then tick k once,
    keeps every partition's order of events and ticks. A tick applied again after a crash
    (at-least-once) is not later than the one before it, changes nothing, and is dropped."""
    segments: dict[int, list[list[bytes]]] = {}
    ticks: dict[int, list[bytes]] = {}
    for p, lines in sorted(partitions.items()):
        current: list[bytes] = []
        segments[p], ticks[p] = [current], []
        last = None
        for line in lines:
            if line.startswith(b'{"type":"tick"'):
                at = _decode_tick(line).at
                if last is not None and at <= last:
                    continue
                last = at
                ticks[p].append(line)
                current = []
                segments[p].append(current)
            else:
                current.append(line)
    rounds = max((len(t) for t in ticks.values()), default=0)
    merged: list[bytes] = []
    for k in range(rounds + 1):
        for p in sorted(segments):
            if k < len(segments[p]):
                merged.extend(segments[p][k])
        if k < rounds:
            merged.extend(sorted({t[k] for t in ticks.values() if k < len(t)}))
    return merged
