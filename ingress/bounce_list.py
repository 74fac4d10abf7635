"""`bounceback import-bounce-list`: stream a CSV bounce list into the inbound topic, one
`bounce_list` event per valid row, each to the partition that owns its address.

The file is read a line at a time (a line is cut at MAX_LINE_BYTES, so one endless line
cannot fill the memory either) and sent as it is read: memory stays flat whatever the
file's length. The rules of the rows live in projections/bounce_list.py.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import BinaryIO

from projections.bounce_list import MAX_LINE_BYTES, BounceListReader, Entry, Invalid, Summary
from projections.normalize import AddressNormalizer
from schemas.events import encode_event

SEND_WINDOW = 1000  # sends in flight before waiting for their acknowledgements


def file_lines(f: BinaryIO, on_bytes: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The lines of a binary file, each cut after MAX_LINE_BYTES + 3 bytes (the reader calls
    a longer line invalid), and the count of bytes read so far after each."""
    limit = MAX_LINE_BYTES + 3
    done = 0
    while True:
        line = f.readline(limit)
        if not line:
            return
        done += len(line)
        if len(line) == limit and not line.endswith(b"\n"):
            while True:  # skip the rest of an overlong line without holding it
                rest = f.readline(1 << 16)
                done += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
        if on_bytes is not None:
            on_bytes(done)
        yield line


def import_file(
    path: str,
    list_name: str,
    channel: str,
    occurred_at: datetime,
    region: str,
    send: Callable | None,
    on_invalid: Callable[[Invalid], None],
    on_progress: Callable[[int, int], None] = lambda done, rows: None,
) -> Summary:
    """Read `path` and hand every valid row's event to `send(event)` (None: a dry run):
    a coroutine returning an awaitable acknowledgement, with an async `close()`."""
    # a list names each address about once: a memo of every value would only grow
    reader = BounceListReader(list_name, channel, os.path.basename(path), occurred_at, AddressNormalizer(region, cache_limit=4096))
    position = [0]

    async def run() -> None:
        pending = []
        try:
            await _read(pending)
            await asyncio.gather(*pending)
        finally:
            if send is not None:
                await send.close()
        on_progress(position[0], reader.summary.lines)

    async def _read(pending: list) -> None:
        with open(path, "rb") as f:
            for n, item in enumerate(reader.read(file_lines(f, lambda done: position.__setitem__(0, done))), 1):
                kind = type(item)
                if kind is Entry:
                    if send is not None:
                        pending.append(await send(item.event))
                        if len(pending) >= SEND_WINDOW:
                            await asyncio.gather(*pending)
                            pending.clear()
                elif kind is Invalid:
                    on_invalid(item)
                if n % 1000 == 0:
                    on_progress(position[0], reader.summary.lines)

    asyncio.run(run())
    return reader.summary


class KafkaSender:
    """Sends events to the inbound topic with aiokafka, each to its owner's partition."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.bootstrap, self.topic, self.partitions = bootstrap, topic, partitions
        self.producer = None

    async def __call__(self, event):
        from bounceback.kafka_io import route

        if self.producer is None:
            from aiokafka import AIOKafkaProducer

            self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
            await self.producer.start()
        (partition,) = route(event, self.partitions)
        return await self.producer.send(self.topic, value=encode_event(event), partition=partition)

    async def close(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

