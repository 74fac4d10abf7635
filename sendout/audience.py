"""Reading an audience CSV: a header with `contact_id` and `address` columns (others are
ignored), then one contact per row.

Every physical line of the file is accounted for (docs/decisions.md, "Send-outs"): it is
the header, a blank line (empty or white space only), part of exactly one row, or, if the
file cannot be read to its end, in the range reported as unread. A row that cannot be
used is yielded with what is wrong with it, and the rest of the file is still read.

Lines end with `\\n`, `\\r\\n` or `\\r` (mixed in one file too). A quoted value may hold line
breaks, so a row may span several lines; such a row must be well-formed CSV (its quotes
closed, nothing after a closing quote but a separator) with the header's number of fields,
within MAX_ROW_LINES lines. Otherwise its first line is reported as a broken row and
reading starts again on the next line: an unclosed quote spoils one line, not the rest of
the file.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterator
from typing import NamedTuple

REQUIRED = ("contact_id", "address")
MAX_LINE_CHARS = 1 << 16  # a longer line is reported, never held in memory whole
MAX_ROW_LINES = 50  # lines one quoted row may span
_CHUNK_CHARS = 1 << 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)")
_LINE_END = re.compile(r"\r\n|\r|\n")


class AudienceError(ValueError):
    """The file cannot be used as an audience at all (no header with the needed columns)."""


class AudienceRow(NamedTuple):
    """What AudienceReader yields, as a plain tuple (cheaper to make, read the same way)."""
    line: int  # the line the row starts on (1 is the first line of the file)
    last_line: int  # the line it ends on: the same unless a quoted value holds a line break
    contact_id: str
    address: str
    error: str | None  # why the row cannot be used; None for a readable row


class _Lines:
    """The file's physical lines, split a chunk at a time (so the csv reader iterates a
    list, not a Python method per line), numbered from 1. A line longer than
    MAX_LINE_CHARS is never held whole: it is handed out as an empty line and its number
    kept in `overlong`. `stream(n)` gives the lines from line n on, again after a broken row."""

    def __init__(self, f) -> None:
        self.f = f
        self.chunks: list[tuple[int, list[str]]] = []  # (number of the first line, lines), still needed
        self.read_to = 0  # the number of the last line split off
        self.keep_from = 1  # the first line a reader may still ask for again
        self.overlong: set[int] = set()
        self.eof = False
        self._carry = ""  # the start of a line the chunk cut
        self._skipping = False  # in the rest of an overlong line

    def stream(self, start: int) -> Iterator[str]:
        held = [lines[max(0, start - first):] for first, lines in self.chunks if first + len(lines) > start]
        return itertools.chain(itertools.chain.from_iterable(held), itertools.chain.from_iterable(self._new_chunks()))

    def get(self, first: int, last: int) -> list[str]:
        """The lines first..last, already split off."""
        out: list[str] = []
        for start, lines in self.chunks:
            if start + len(lines) > first and start <= last:
                out += lines[max(0, first - start):last - start + 1]
        return out

    def _new_chunks(self) -> Iterator[list[str]]:
        while not self.eof:
            lines = self._split(self.f.read(_CHUNK_CHARS))
            if lines:
                number = self.read_to + 1
                if max(map(len, lines)) > MAX_LINE_CHARS + 2:  # + its line end
                    for i, line in enumerate(lines):
                        if len(line) > MAX_LINE_CHARS + 2:
                            lines[i] = "\n"
                            self.overlong.add(number + i)
                while self.chunks and self.chunks[0][0] + len(self.chunks[0][1]) <= self.keep_from:
                    del self.chunks[0]
                self.chunks.append((number, lines))
                self.read_to += len(lines)
                yield lines

    def _split(self, chunk: str) -> list[str]:
        if not chunk:
            self.eof = True
            carry, self._carry = self._carry, ""
            return [] if self._skipping or not carry else [carry]
        text = self._carry + chunk
        self._carry = ""
        if self._skipping:
            end = _LINE_END.search(text)
            if end is None or (end.end() == len(text) and text[-1] == "\r"):
                self._carry = "" if end is None else "\r"  # a \r\n may be cut after its \r
                return []
            text = text[end.end():]
            self._skipping = False
            if not text:
                return []
        end = len(text) - (text[-1] == "\r")  # a \r\n may be cut after its \r: keep it for the next chunk
        cut = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1
        lines = _LINE.findall(text, 0, cut) if cut else []
        carry = text[cut:]
        if len(carry) > MAX_LINE_CHARS:
            lines.append("\n")  # stands for the overlong line; _new_chunks numbers it
            self.overlong.add(self.read_to + len(lines))
            self._skipping = True
            carry = ""
        self._carry = carry
        return lines


class AudienceReader:
    """The rows of an audience file. After iterating: `lines` (physical lines read),
    `header_line`, `blank` (blank lines) and `unread` (None, or why the file could not be
    read to its end: every line from `unread_from` on is unaccounted for)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines = 0
        self.header_line = 0
        self.blank = 0
        self.unread: str | None = None
        self.unread_from = 0

    def __iter__(self) -> Iterator[AudienceRow]:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark. Undecodable bytes
        # become U+FFFD, and a row holding one is reported rather than sent to a garbled address.
        with open(self.path, encoding="utf-8-sig", errors="replace", newline="") as f:
            yield from self._rows(_Lines(f))

    def _rows(self, lines: _Lines) -> Iterator[AudienceRow]:
        width = contact_at = address_at = None
        base = 0  # the line before the first one the reader was given
        reader = csv.reader(lines.stream(1))
        done = 0  # reader.line_num after the previous row
        while True:
            first = base + done + 1
            lines.keep_from = first
            try:
                row = next(reader)
            except StopIteration:
                self.lines = base + reader.line_num
                if width is None:
                    raise AudienceError(f"{self.path}: empty file, expected a header with "
                                        f"{' and '.join(REQUIRED)} columns") from None
                return
            except csv.Error as exc:
                line = lines.get(first, first)[0]
                # the csv module read on from an open quote until a value grew too large
                why = "a quote opened on this line is not closed" if '"' in line else "unreadable CSV"
                yield AudienceRow(first, first, "", _shown(line), f"{why} ({exc}); the next line is read as a new row")
                base, done, reader = first, 0, csv.reader(lines.stream(first + 1))
                continue
            except OSError as exc:  # the disk or the network file system failed mid-file
                self.lines, self.unread_from = first - 1, first
                self.unread = f"lines {first} to the end could not be read: {exc}"
                return
            now = reader.line_num
            if now - done == 1 and len(row) == width and first != lines.read_to:
                # the common row: one line, the header's fields, not the file's last line
                # (where an unclosed quote would show, see below)
                done, last = now, first
            else:
                last = first + now - done - 1
                done = now
                if last != first:
                    broken = self._broken(lines.get(first, last), width, first, lines.overlong)
                    if broken is not None:
                        yield AudienceRow(first, first, "", _shown(lines.get(first, first)[0]), broken)
                        base, done, reader = first, 0, csv.reader(lines.stream(first + 1))
                        continue
                if not row or (len(row) == 1 and not row[0].strip()):
                    if first in lines.overlong:
                        yield AudienceRow(first, first, "", "", f"line longer than {MAX_LINE_CHARS} characters")
                    else:
                        self.blank += 1
                    continue
                if width is None:
                    contact_at, address_at, width = self._header(row, first)
                    continue
                # a quote left open runs to the end of the file, so only the last row can end in one
                if last == first == lines.read_to and _unclosed_at_end(row, lines):
                    yield AudienceRow(first, last, "", _shown(lines.get(first, first)[0]),
                                      "a quote opened on this line is never closed")
                    continue
                if len(row) != width:
                    yield AudienceRow(first, last, "", ",".join(row),
                                      f"row has {len(row)} fields, the header has {width}")
                    continue
            contact_id, address = row[contact_at], row[address_at]
            if "\ufffd" in contact_id or "\ufffd" in address:
                yield AudienceRow(first, last, contact_id, address, "not valid UTF-8")
            elif not contact_id.isprintable() and _CONTROL.search(contact_id):
                yield AudienceRow(first, last, "", address, "contact_id has a control character")
            else:
                yield first, last, contact_id, address, None  # an AudienceRow's fields, cheaper as a tuple

    def _broken(self, taken: list[str], width: int | None, first: int, overlong: set[int]) -> str | None:
        """Why a row spanning several lines cannot be one row, or None when it can."""
        if len(taken) > MAX_ROW_LINES:
            return f"a quoted value runs over {MAX_ROW_LINES} lines; the next line is read as a new row"
        if any(first <= n < first + len(taken) for n in overlong):
            return f"a quoted value spans a line longer than {MAX_LINE_CHARS} characters"
        try:
            rows = list(csv.reader(taken, strict=True))
        except csv.Error as exc:
            return f"a quote opened on this line is not closed properly ({exc}); the next line is read as a new row"
        if len(rows) != 1 or width is None or len(rows[0]) != width:
            return "a quote opened on this line is not closed on it; the next line is read as a new row"
        return None

    def _header(self, row: list[str], line: int) -> tuple[int, int, int]:
        self.header_line = line
        names = [name.strip().lower() for name in row]
        missing = [name for name in REQUIRED if name not in names]
        if missing:
            raise AudienceError(f"{self.path}:{line}: the header has no {' or '.join(missing)} column "
                                f"(it has: {', '.join(names)})")
        return names.index("contact_id"), names.index("address"), len(names)


def _unclosed_at_end(row: list[str], lines: _Lines) -> bool:
    """Whether the file's last row ends inside a quoted value: the csv module ends a value
    left open at the end of the file quietly, with the line end in it if there was one."""
    tail = row[-1]
    if tail and tail[-1] in "\r\n":
        return True
    if not lines.eof:
        return False
    line = lines.get(lines.read_to, lines.read_to)[0]
    if line[-1] in "\r\n" or '"' not in line:
        return False
    return next(csv.reader([line + "\n"]))[-1].endswith("\n")  # read it again with a line end


def _shown(line: str) -> str:
    line = line.rstrip("\r\n")
    return line if len(line) <= 200 else line[:200] + "..."


def read_audience(path: str) -> Iterator[AudienceRow]:
    """The rows of an audience file, as AudienceReader gives them."""
    return iter(AudienceReader(path))
