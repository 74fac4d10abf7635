"""Reading a bounce list (RULES.md §4, CONTRACT.md `bounce_list`): CSV lines in, one
`bounce_list` event per valid row out, every other row accounted for. No I/O: the caller
streams the lines in, so a file of any length is read in constant memory (plus 8 bytes
per distinct address, to count duplicates).

What real exports contain, and what this accepts (docs/decisions.md, "Bounce lists"):
UTF-8 with or without a byte-order mark; `\\n` or `\\r\\n` line ends; comma or semicolon
separated (decided on the first non-blank line); values quoted or not; a header row or
none; blank lines; white space around values. The address is in the column whose header
names an address (email, phone, mobile, ...), else in the first column; other columns are
ignored. Each physical line is one row: an address never contains a line break, and a
broken quote then spoils one line instead of swallowing the rest of the file.

The event id of a row is derived from (list, channel, normalised address), so the same
entry imported twice, from the same file or another, is the same event and the pipeline
applies it once.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from projections.hashset import HashSet
from projections.normalise import AddressNormaliser, InvalidAddress, address_key
from schemas.events import BounceList

LISTS = ("bounced", "unsubscribed")
CHANNELS = ("email", "sms", "auto")
MAX_LINE_BYTES = 4096

# header cells that name the address column, lower-cased with spaces, dashes and underscores removed
_HEADER_NAMES = {
    "email": {"email", "emailaddress", "mail", "epost", "address", "recipient"},
    "sms": {"phone", "phonenumber", "mobile", "mobilenumber", "mobilephone", "msisdn", "sms", "number",
            "cellphone", "cell", "telephone", "address", "recipient"},
}
_HEADER_NAMES["auto"] = _HEADER_NAMES["email"] | _HEADER_NAMES["sms"]
_NAME_NOISE = re.compile(r"[\s_\-.]+")
_HAS_DIGIT = re.compile(r"\d")


def bounce_list_event_id(list_name: str, channel: str, address: str) -> str:
    """The event id of one list entry: the same for the same (list, channel, normalised address)."""
    return "bl-" + _digest(list_name, channel, address).hex()


def _digest(list_name: str, channel: str, address: str) -> bytes:
    return hashlib.blake2b(f"{list_name}\0{channel}\0{address}".encode(), digest_size=16).digest()


@dataclass(slots=True)
class Entry:
    """A valid row: the event to publish."""
    line: int
    event: BounceList


@dataclass(slots=True)
class Duplicate:
    """A row whose (channel, address) an earlier row of the same file already had."""
    line: int
    key: str


@dataclass(slots=True)
class Invalid:
    line: int
    reason: str
    raw: str


@dataclass
class Summary:
    lines: int = 0
    imported: int = 0  # valid rows, each one event (`--dry-run`: would be)
    duplicates: int = 0
    invalid: int = 0
    blank: int = 0
    header: bool = False
    delimiter: str = ","

    def as_dict(self) -> dict:
        return {"lines": self.lines, "imported": self.imported, "duplicates": self.duplicates,
                "invalid": self.invalid, "blank": self.blank, "header": self.header, "delimiter": self.delimiter}


def _count_outside_quotes(line: str, char: str) -> int:
    count, quoted = 0, False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            count += 1
    return count


def detect_delimiter(line: str) -> str:
    """Semicolon when the line has more semicolons than commas outside quotes, else comma
    (a one-column file has neither, and then either reads the same)."""
    return ";" if _count_outside_quotes(line, ";") > _count_outside_quotes(line, ",") else ","


def _is_header(cell: str) -> bool:
    # an address has an @ (email) or digits (phone); a column title has neither
    return bool(cell) and "@" not in cell and not _HAS_DIGIT.search(cell)


class BounceListReader:
    """Turns the lines of one CSV file into Entry / Duplicate / Invalid items, in line
    order, keeping the running `summary`."""

    def __init__(self, list_name: str, channel: str, source: str, occurred_at: datetime,
                 normalise: AddressNormaliser) -> None:
        if list_name not in LISTS:
            raise ValueError(f"list must be one of {', '.join(LISTS)}, not {list_name!r}")
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
        self.list_name = list_name
        self.channel = channel
        self.source = source
        self.occurred_at = occurred_at
        self.normalise = normalise
        self.summary = Summary()
        self._seen = HashSet()
        self._column = 0
        self._started = False

    def read(self, lines: Iterable[bytes]) -> Iterator[Entry | Duplicate | Invalid]:
        summary = self.summary
        for number, raw in enumerate(lines, 1):
            summary.lines = number
            item = self._row(number, raw)
            if item is None:
                continue
            kind = type(item)
            if kind is Entry:
                summary.imported += 1
            elif kind is Duplicate:
                summary.duplicates += 1
            else:
                summary.invalid += 1
            yield item

    def _row(self, number: int, raw: bytes) -> Entry | Duplicate | Invalid | None:
        if len(raw) > MAX_LINE_BYTES + 2:  # + the line end
            return Invalid(number, f"line is longer than {MAX_LINE_BYTES} bytes", _shown(raw[:80]) + "...")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Invalid(number, f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at column {exc.start + 1}", _shown(raw))
        text = text.rstrip("\r\n")
        if number == 1 or not self._started:
            text = text.lstrip("\ufeff")
        if not text.strip():
            self.summary.blank += 1
            return None
        if not self._started:
            self.summary.delimiter = detect_delimiter(text)
        try:
            cells = self._cells(text)
        except csv.Error as exc:
            self._started = True
            return Invalid(number, f"malformed CSV: {exc}", text)
        if not any(cells):
            self.summary.blank += 1
            return None
        if not self._started:
            self._started = True
            if all(_is_header(c) or not c for c in cells):
                self.summary.header = True
                self._column = self._address_column(cells)
                return None
        value = cells[self._column] if self._column < len(cells) else ""
        if not value:
            return Invalid(number, f"no address in column {self._column + 1}", text)
        channel = self.channel if self.channel != "auto" else ("email" if "@" in value else "sms")
        try:
            address = self.normalise(channel, value)
        except InvalidAddress as exc:
            if self.channel == "auto" and channel == "sms" and not _HAS_DIGIT.search(value):
                return Invalid(number, f"{value!r} is neither an email address (no @) nor a phone number", text)
            return Invalid(number, str(exc), text)
        digest = _digest(self.list_name, channel, address)
        if not self._seen.add(int.from_bytes(digest[:8], "little")):
            return Duplicate(number, address_key(channel, address))
        event = BounceList(event_id="bl-" + digest.hex(), occurred_at=self.occurred_at, channel=channel,
                           address=address, list=self.list_name, source=self.source)
        return Entry(number, event)

    def _cells(self, text: str) -> list[str]:
        delimiter = self.summary.delimiter
        if '"' not in text:
            return [c.strip() for c in text.split(delimiter)]
        # not strict: white space after a closing quote, or a quote left open, still gives the value
        rows = list(csv.reader([text], delimiter=delimiter, skipinitialspace=True))
        return [c.strip() for c in rows[0]] if rows else []

    def _address_column(self, header: list[str]) -> int:
        names = _HEADER_NAMES[self.channel]
        for i, cell in enumerate(header):
            if _NAME_NOISE.sub("", cell.lower()) in names:
                return i
        return 0


def _shown(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode("utf-8", "replace")
