"""The replay's files: JSON lines written in large chunks, and the sorted parts that the
processes of a parallel replay write, merged into one sorted file."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()
_decode_keyed = msgspec.json.Decoder(tuple[Any, msgspec.Raw]).decode

# Lines are encoded into one reused buffer and written out a MiB at a time: no bytes object
# per line, and no buffer the size of a whole file.
_CHUNK = 1 << 20


def write_lines(path: Path, records: Iterable) -> int:
    """Write each record as one JSON line; returns how many."""
    count = 0
    buffer = bytearray()
    encode_into = _encoder.encode_into
    with open(path, "wb") as file:
        for record in records:
            encode_into(record, buffer, -1)
            buffer += b"\n"
            count += 1
            if len(buffer) >= _CHUNK:
                file.write(buffer)
                buffer.clear()
        file.write(buffer)
    return count


def _read_part(path: Path) -> Iterator[tuple[Any, msgspec.Raw]]:
    with open(path, "rb") as file:
        for line in file:
            yield _decode_keyed(line)


def merge_parts(path: Path, parts: list[Path]) -> int:
    """Merge parts (each `[key, record]` lines sorted by key, as `write_lines` writes pairs)
    into one file of their records, sorted by key; returns how many."""
    count = 0
    with open(path, "wb") as file:
        for _, record in heapq.merge(*(_read_part(p) for p in parts), key=lambda pair: pair[0]):
            file.write(record)
            file.write(b"\n")
            count += 1
    return count
