"""The log as the live pipeline applied it (`export-log`): the applied topic read back
(read_topic, which the tests use for any topic) and its partitions merged
at the ticks (merge_applied)."""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter

import msgspec
from aiokafka import AIOKafkaConsumer, TopicPartition

from projections.audit import in_time
from schemas.events import Tick

_decode_tick = msgspec.json.Decoder(Tick).decode


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
    return _contacts_in_time(merged)


class _Timed(msgspec.Struct):
    type: str
    occurred_at: datetime | None = None
    at: datetime | None = None


_decode_timed = msgspec.json.Decoder(_Timed).decode


def _contacts_in_time(lines: list[bytes]) -> list[bytes]:
    """`contact` events placed among the rest by their time, before the first line of a later
    time: where a log written in time order has them. Contacts depend only on their own
    events and addresses only on theirs, so this changes no state a replay of the log gives;
    it puts the `contact X now lists this address` entry of explain where it happened (the
    live trail shows links the same way, projections.audit.links_in_time)."""
    contacts, rest = [], []
    for line in lines:
        try:
            timed = _decode_timed(line)
        except msgspec.DecodeError:  # not an event: it keeps its place
            rest.append((None, line))
            continue
        (contacts if timed.type == "contact" else rest).append((timed.occurred_at or timed.at, line))
    if not contacts:
        return lines
    contacts.sort(key=_time)
    return [line for _, line in in_time(rest, contacts, _time)]


_time = itemgetter(0)  # of a (time, line) pair
