"""A bounce list into the inbound topic (`bounceback import-bounce-list`, and the operator
API's `POST /bounce-lists`): one `bounce_list` event per valid row, each to the partition
that owns its address.

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

from ingress.kafka import kafka_publisher
from ingress.publisher import Window
from projections.bounce_list import MAX_LINE_BYTES, BounceListReader, Entry, Invalid, Summary
from projections.normalise import AddressNormaliser

# a list names each address about once: memos of the addresses seen would only grow
MEMO_LIMIT = 4096
PROGRESS_ROWS = 1000  # rows between two progress reports (and chances for other tasks to run)


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


async def import_rows(
    f: BinaryIO,
    reader: BounceListReader,
    sends: Window | None,
    on_invalid: Callable[[Invalid], None],
    on_progress: Callable[[int, int], None] = lambda done, rows: None,
) -> Summary:
    """Read a bounce list from `f` and publish every valid row's event (`sends` None: a dry
    run), waiting for the last acknowledgement; every invalid row goes to `on_invalid`, and
    the bytes and rows read so far to `on_progress`."""
    position = 0

    def read(done: int) -> None:
        nonlocal position
        position = done

    for n, item in enumerate(reader.read(file_lines(f, read)), 1):
        kind = type(item)
        if kind is Entry:
            if sends is not None:
                await sends.publish(item.event)
        elif kind is Invalid:
            on_invalid(item)
        if n % PROGRESS_ROWS == 0:
            on_progress(position, reader.summary.lines)
            await asyncio.sleep(0)  # a worker's other tasks run meanwhile
    if sends is not None:
        await sends.flush()
    on_progress(position, reader.summary.lines)
    return reader.summary


def import_file(
    path: str,
    list_name: str,
    channel: str,
    occurred_at: datetime,
    region: str,
    target: tuple[str, str, int] | None,
    on_invalid: Callable[[Invalid], None],
    on_progress: Callable[[int, int], None] = lambda done, rows: None,
) -> Summary:
    """Read the file at `path` and publish every valid row's event to `target` (bootstrap
    servers, topic, partitions; None: a dry run)."""
    normalise = AddressNormaliser(region, cache_limit=MEMO_LIMIT)
    reader = BounceListReader(list_name, channel, os.path.basename(path), occurred_at, normalise)

    async def run() -> Summary:
        with open(path, "rb") as f:
            if target is None:
                return await import_rows(f, reader, None, on_invalid, on_progress)
            bootstrap, topic, partitions = target
            async with kafka_publisher(bootstrap, topic, partitions, normalise, memo_limit=MEMO_LIMIT) as publisher:
                return await import_rows(f, reader, publisher.window(), on_invalid, on_progress)

    return asyncio.run(run())
