"""What every adapter shares: the error a rejected request gets, the canonical events it
builds, and the small parsers of timestamps and JSON.

Adapters are pure: a payload (bytes, headers) goes in, canonical events come out. Every
event leaves through `finish`, which runs it through the contract's own decoder, so an
adapter can never publish something the pipeline would dead-letter.
"""

from __future__ import annotations

import email.utils
from datetime import datetime, timezone
from typing import Any

import msgspec

from schemas.events import Delivery, Event, InvalidEvent, Unsubscribe, decode_event, encode_event

_UTC = timezone.utc
REASON_LIMIT = 500  # characters of a diagnostic kept as bounce_reason: enough to read, not a whole bounce


class Rejected(Exception):
    """The request is refused as a whole with an HTTP status and a reason naming the field."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def bad(reason: str) -> Rejected:
    return Rejected(400, reason)


def decode_json(body: bytes, type_: Any, what: str):
    """Decode a provider payload into its msgspec type; errors name the field."""
    try:
        return msgspec.json.decode(body, type=type_)
    except msgspec.ValidationError as exc:
        raise bad(f"{what}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise bad(f"{what}: not valid JSON: {exc}") from None


def from_unix(value: float | int | str, field: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(value), _UTC)
    except (TypeError, ValueError, OverflowError):
        raise bad(f"{field}: {value!r} is not a Unix timestamp") from None


_ts_decoder = msgspec.json.Decoder(datetime)


def from_iso(value: str, field: str) -> datetime:
    """RFC 3339 / ISO 8601 with an offset. Providers write up to 7 fractional digits
    (Postmark's .NET timestamps); msgspec takes at most 6, so the rest is cut."""
    text = value.strip()
    if "." in text:
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        if digits > 6:
            text = f"{head}.{tail[:6]}{tail[digits:]}"
    try:
        parsed = _ts_decoder.decode(msgspec.json.encode(text))
    except msgspec.ValidationError:
        raise bad(f"{field}: {value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        raise bad(f"{field}: {value!r} has no UTC offset")
    return parsed.astimezone(_UTC)


def from_rfc2822(value: str, field: str) -> datetime:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise bad(f"{field}: {value!r} is not an RFC 5322 date") from None
    if parsed is None:
        raise bad(f"{field}: {value!r} is not an RFC 5322 date")
    if parsed.tzinfo is None:  # "-0000": the time is UTC but the zone is unknown (RFC 5322 §3.3)
        parsed = parsed.replace(tzinfo=_UTC)
    return parsed.astimezone(_UTC)


def clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    if not text:
        return None
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


def text_field(meta: dict | None, name: str) -> str | None:
    """A string from a provider's custom metadata (custom args, user-variables, Metadata)."""
    if not meta:
        return None
    value = meta.get(name)
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()
    return None


def delivery(event_id: str, at: datetime, channel: str, address: str, message_id: str, status: str,
             meta: dict | None = None, reason: str | None = None, code: str | None = None) -> Delivery:
    """A delivery report; `contact_id`, `sendout_id` and `message_id` may come from the
    sender's own metadata on the message (see README: gateways)."""
    return Delivery(event_id=event_id, occurred_at=at, channel=channel, address=address,
                    message_id=text_field(meta, "message_id") or message_id, status=status,
                    sendout_id=text_field(meta, "sendout_id"), contact_id=text_field(meta, "contact_id"),
                    bounce_reason=clip(reason), bounce_code=code)


def unsubscribe(event_id: str, at: datetime, channel: str, address: str, meta: dict | None = None) -> Unsubscribe:
    return Unsubscribe(event_id=event_id, occurred_at=at, channel=channel, address=address,
                       contact_id=text_field(meta, "contact_id"))


def finish(events: list[Event], where: str = "") -> list[Event]:
    """Check each event against the contract as the pipeline will, naming the item that fails."""
    out = []
    for i, event in enumerate(events):
        try:
            out.append(decode_event(encode_event(event)))
        except InvalidEvent as exc:
            raise bad(f"{where}event {i}: {exc}") from None
    return out


def verdict_event(verdict, event_id: str, at: datetime, channel: str, address: str, message_id: str,
                  meta: dict | None = None) -> list[Event]:
    """The event a classified report becomes: none (ignore), an unsubscribe, or a delivery
    report with the verdict's status and bounce details."""
    if verdict.status == "ignore":
        return []
    if verdict.status == "unsubscribe":
        return [unsubscribe(event_id, at, channel, address, meta)]
    return [delivery(event_id, at, channel, address, message_id, verdict.status, meta,
                     reason=verdict.reason, code=verdict.code)]


def json_object(body: bytes | str, what: str) -> dict:
    """A payload that must be one JSON object; errors say what was expected."""
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise bad(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise bad(f"{what} is a JSON object")
    return doc
