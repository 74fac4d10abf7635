"""What every kind of bounce mail needs: its parts, the message it returns (and so which
message bounced), its human-readable text, and telling an address from what only looks
like one (a pipe to a program, a file, an internal name, a source route).

Python's email parser turns every `message/*` part except `message/delivery-status` into
a list holding one sub-message: `message/rfc822`, `message/rfc822-headers` (whose
headers are then the sub-message's headers, and `get_payload(decode=True)` is None) and
`message/feedback-report` alike. `text/rfc822-headers` stays text.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import Message

from gateways.common import bad, from_rfc2822
from projections.normalise import AddressNormaliser, InvalidAddress

_NORMALISE = AddressNormaliser()
_POLICY = email.policy.default


@dataclass(frozen=True)
class SkippedRecipient:
    """A recipient of a report that gives no event, and why."""
    recipient: str
    reason: str


class NotAnAddress(ValueError):
    """A report's recipient value that is not an email address; the message says what it is."""


def walk(msg: Message, into_returned: bool = True):
    """Every part, depth first; without `into_returned` the returned message (a
    `message/*` part's sub-message) is not entered."""
    yield msg
    payload = msg.get_payload()
    if not isinstance(payload, list):
        return
    if msg.get_content_maintype() == "message" and not into_returned:
        return
    for sub in payload:
        if isinstance(sub, Message):
            yield from walk(sub, into_returned)


def find(msg: Message, *ctypes: str) -> Message | None:
    for part in walk(msg):
        if part.get_content_type() in ctypes:
            return part
    return None


def fields(part: Message) -> list[Message]:
    """The blocks of header fields of a machine-readable part (delivery-status,
    feedback-report), without empty blocks: a part that ends with a blank line is parsed
    into a last block with no fields, which is nothing."""
    payload = part.get_payload()
    blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
    if not any(len(b) for b in blocks):
        # sent base64-encoded or as plain text: split and parse the fields here
        data = part.get_payload(decode=True)
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload or "")
        parser = email.parser.HeaderParser(policy=_POLICY)
        blocks = [parser.parsestr(b.strip() + "\n") for b in re.split(r"\r?\n[ \t]*\r?\n", text) if b.strip()]
    return [b for b in blocks if len(b)]


def _text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def human_text(msg: Message) -> str:
    """The report's own text for people (text/plain parts, else text/html without tags),
    not the returned message's."""
    plain, html = [], []
    for part in walk(msg, into_returned=False):
        ctype = part.get_content_type()
        if part is not msg and part.get_content_maintype() == "message":
            continue
        if ctype == "text/plain" or (ctype == "text/html" and not plain):
            (plain if ctype == "text/plain" else html).append(_text(part))
    if plain:
        return "\n\n".join(plain)
    return re.sub(r"<[^>]+>", " ", "\n\n".join(html))


def returned_headers(msg: Message) -> Message | None:
    """The headers of the original message returned in the report, if any."""
    for part in walk(msg):
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "message/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and len(payload[0]):
                return payload[0]
        elif ctype == "text/rfc822-headers":
            return email.parser.HeaderParser(policy=_POLICY).parsestr(_text(part))
    return None


def _in_text(text: str, name: str) -> str | None:
    m = re.search(rf"(?im)^[ \t>]*{re.escape(name)}:[ \t]*(\S.*)$", text)
    return m.group(1).strip() if m else None


def _id(value) -> str | None:
    if not value:
        return None
    value = str(value).strip().strip("<>").strip()
    return value or None


def report_id(msg: Message, raw: bytes, envelope_id: str | None = None) -> str:
    """The report's own id: its Message-ID, the Original-Envelope-Id, or a hash of the mail."""
    return _id(msg.get("Message-ID")) or envelope_id or "sha256-" + hashlib.sha256(raw).hexdigest()[:32]


def original(msg: Message, envelope_id: str | None, report: str, text: str = "") -> tuple[str, dict]:
    """Which message bounced, and the sender's own ids carried on it: from the returned
    message or headers part, else from the lines of the report's text (plain-text bounces
    quote the original's headers), else the Original-Envelope-Id. A report that names no
    message at all is still evidence about the address: its message is `unidentified:<report id>`."""
    headers = returned_headers(msg)

    def look(name: str) -> str | None:
        value = headers.get(name) if headers is not None else None
        return str(value).strip() if value else _in_text(text, name)

    meta = {key: value for name, key in (("X-Bounceback-Contact-Id", "contact_id"),
                                          ("X-Bounceback-Sendout-Id", "sendout_id"))
            if (value := look(name))}
    mid = _id(look("X-Bounceback-Message-Id")) or _id(look("Message-ID")) or envelope_id
    return mid or f"unidentified:{report}", meta


def received_date(msg: Message) -> str | None:
    """When the report reached the bounce mailbox: the date its newest Received field
    ends with (for a report that has no Date of its own)."""
    received = msg.get_all("Received") or []
    return str(received[0]).rpartition(";")[2].strip() or None if received else None


def when(where: str, *values) -> datetime:
    """The first of the values that is a datetime or an RFC 5322 date, as UTC."""
    tried = [v for v in values if v]
    for value in tried:
        if isinstance(value, datetime):
            return value
        try:
            return from_rfc2822(str(value), where)
        except Exception:
            continue
    if tried:
        raise bad(f"{where}: {str(tried[0])!r} is not an RFC 5322 date")
    raise bad(f"{where}: the report has no date (no Last-Attempt-Date, Arrival-Date or Date)")


def recipient(value: str | None) -> str:
    """A report's recipient value (`rfc822; anna@example.com`, `<anna@example.com>`,
    `@relay:anna@example.com`) as a normalised address, or NotAnAddress saying what it is."""
    if value is None or not str(value).strip():
        raise NotAnAddress("no recipient")
    text = " ".join(str(value).split())
    kind, sep, addr = text.partition(";")
    if not sep:
        kind, addr = "rfc822", text
    kind = kind.strip().lower()
    if kind not in ("rfc822", "smtp", ""):
        raise NotAnAddress(f"{text!r} is an address of type {kind}, not an email address")
    addr = addr.strip().strip("<>").strip().strip('"').strip()
    if addr.startswith("@") and ":" in addr:  # a source route (RFC 5321 §4.1.2): the mailbox follows the colon
        addr = addr.rsplit(":", 1)[1].strip()
    if addr.startswith("|"):
        raise NotAnAddress(f"{addr!r} is a pipe to a program, not an email address")
    if addr.startswith("/"):
        raise NotAnAddress(f"{addr!r} is a file, not an email address")
    if addr.startswith("@"):
        raise NotAnAddress(f"{addr!r} has no mailbox, only a domain")
    if "@" not in addr:
        raise NotAnAddress(f"{addr!r} has no domain: a local name, not an email address")
    try:
        return _NORMALISE("email", addr)
    except InvalidAddress as exc:
        raise NotAnAddress(str(exc)) from None


def paragraph_about(text: str, address: str, limit: int = 8, or_first: bool = False) -> str | None:
    """The lines of a report's text about one recipient: the paragraph naming it (and, when
    that is the bare address, the paragraph after it), which is where MTAs put the reason;
    `or_first`: the first paragraph when the address is not in the text."""
    lines = text.splitlines()
    needle = address.casefold()
    at = next((i for i, line in enumerate(lines) if needle in line.casefold()), None)
    if at is None and or_first:
        # the report names the recipient otherwise (a local part, a display name): its first paragraph
        at = next((i for i, line in enumerate(lines) if line.strip() and not _SEPARATOR.match(line)), None)
        if at is None:
            return None
    if at is None:
        return None
    start = at
    while start > 0 and at - start < 2 and lines[start - 1].strip() and not _SEPARATOR.match(lines[start - 1]):
        start -= 1

    def paragraph_end(begin: int) -> int:
        end = begin + 1
        while end < len(lines) and lines[end].strip() and not _SEPARATOR.match(lines[end]) and end - begin < limit:
            end += 1
        return end

    def next_paragraph(after: int) -> int | None:
        nxt = after
        while nxt < len(lines) and (not lines[nxt].strip() or _RULE.match(lines[nxt])):
            nxt += 1
        return nxt if nxt < len(lines) and not _SEPARATOR.match(lines[nxt]) else None

    end = paragraph_end(at)
    # the address alone, or a paragraph ending "because:" / "Technical details:": the reason follows
    for _ in range(2):
        if not (end == at + 1 or lines[end - 1].rstrip().endswith(":")):
            break
        nxt = next_paragraph(end)
        if nxt is None:
            break
        end = paragraph_end(nxt)
    return " ".join(" ".join(line.split()) for line in lines[start:end]
                    if line.strip() and not _RULE.match(line)) or None


# a line that starts the returned message ("----- Original message -----", "--- Below this line is a
# copy of the message.") or is a rule of punctuation; a transcript heading is not one: the reply is in it
_RULE = re.compile(r"^\s*[-=*_#~]{3,}\s*$")
_SEPARATOR = re.compile(r"^\s*([-=*_#~]{3,}\s*$|[-=*_#~ ]*(original message|below this line|copy of (the|your) message|"
                        r"returned message|message (headers )?follows|original message follows))", re.IGNORECASE)
