"""Reading an audience CSV: a header with `contact_id` and `address` columns (others are
ignored), then one contact per row. A row that cannot be read is yielded with its line
number and what is wrong with it, and the rest of the file is still read."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import NamedTuple

REQUIRED = ("contact_id", "address")


class AudienceError(ValueError):
    """The file cannot be used as an audience at all (no header with the needed columns)."""


class AudienceRow(NamedTuple):
    """What read_audience yields, as a plain tuple (cheaper to make, read the same way)."""
    line: int  # the line the row starts on (1 is the header)
    contact_id: str
    address: str
    error: str | None  # why the row cannot be used; None for a readable row


def read_audience(path: str) -> Iterator[tuple[int, str, str, str | None]]:
    """(line, contact_id, address, error) per row, as AudienceRow describes."""
    # utf-8-sig: spreadsheet exports often start with a byte-order mark. Undecodable bytes
    # become U+FFFD, and a row holding one is reported rather than sent to a garbled address.
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f)
        columns = _header(reader, path)
        contact_at, address_at = columns["contact_id"], columns["address"]
        width = columns[None]
        last = reader.line_num
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield (last + 1, "", "", f"unreadable CSV: {exc}")
                last = reader.line_num
                continue
            line, last = last + 1, reader.line_num
            if not row:
                continue  # a blank line
            if len(row) != width:
                yield (line, "", ",".join(row), f"row has {len(row)} fields, the header has {width}")
                continue
            contact_id, address = row[contact_at], row[address_at]
            if "\ufffd" in contact_id or "\ufffd" in address:
                yield (line, contact_id, address, "not valid UTF-8")
                continue
            yield (line, contact_id, address, None)


def _header(reader, path: str) -> dict:
    for row in reader:
        if not row:
            continue
        names = [name.strip().lower() for name in row]
        missing = [name for name in REQUIRED if name not in names]
        if missing:
            raise AudienceError(f"{path}:{reader.line_num}: the header has no {' or '.join(missing)} column "
                                f"(it has: {', '.join(names)})")
        columns: dict = {name: names.index(name) for name in REQUIRED}
        columns[None] = len(names)
        return columns
    raise AudienceError(f"{path}: empty file, expected a header with {' and '.join(REQUIRED)} columns")
