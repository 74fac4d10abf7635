"""Inbound events of contract version 1, one struct per `type`, decoded as a tagged union.

Unknown fields are ignored so producers can add fields; everything the contract
requires is checked here, and every error names the field it is about.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal, Union

import msgspec

MAX_EVENT_BYTES = 64 * 1024

Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
Id = Annotated[str, msgspec.Meta(min_length=1)]
OptionalId = Annotated[str, msgspec.Meta(min_length=1)] | None
Channel = Literal["email", "sms"]

EMAIL_REPORT_STATUSES = frozenset(
    ("sent", "delivered", "opened", "deferred", "soft_bounce", "hard_bounce", "control_group", "complained")
)
SMS_REPORT_STATUSES = frozenset(
    ("sent", "delivered", "soft_bounce", "hard_bounce", "undelivered", "validity_expired", "no_status", "control_group")
)
ReportStatus = Literal[
    "sent",
    "delivered",
    "opened",
    "deferred",
    "soft_bounce",
    "hard_bounce",
    "undelivered",
    "validity_expired",
    "no_status",
    "control_group",
    "complained",
]


class InvalidEvent(ValueError):
    """An event the contract rejects; the message names the field."""


class Delivery(msgspec.Struct, tag_field="type", tag="delivery"):
    event_id: Id
    occurred_at: Timestamp
    channel: Channel
    address: str
    message_id: Id
    status: ReportStatus
    sendout_id: OptionalId = None
    contact_id: OptionalId = None
    bounce_reason: str | None = None
    bounce_code: str | None = None


class _Subscription(msgspec.Struct, tag_field="type"):
    event_id: Id
    occurred_at: Timestamp
    channel: Channel
    address: str
    contact_id: OptionalId = None


class Unsubscribe(_Subscription, tag="unsubscribe"):
    pass


class Resubscribe(_Subscription, tag="resubscribe"):
    pass


class Unblock(msgspec.Struct, tag_field="type", tag="unblock"):
    event_id: Id
    occurred_at: Timestamp
    channel: Channel
    address: str
    actor: Id
    note: str | None = None


class BounceList(msgspec.Struct, tag_field="type", tag="bounce_list"):
    event_id: Id
    occurred_at: Timestamp
    channel: Channel
    address: str
    list: Literal["bounced", "unsubscribed"]
    source: str


class Contact(msgspec.Struct, tag_field="type", tag="contact"):
    event_id: Id
    occurred_at: Timestamp
    contact_id: Id
    emails: list[str]
    phones: list[str]


class Tick(msgspec.Struct, tag_field="type", tag="tick"):
    at: Timestamp


Event = Union[Delivery, Unsubscribe, Resubscribe, Unblock, BounceList, Contact, Tick]

_decoder = msgspec.json.Decoder(Event)
_encoder = msgspec.json.Encoder()
_UTC = timezone.utc
_STATUSES = {"email": EMAIL_REPORT_STATUSES, "sms": SMS_REPORT_STATUSES}


def decode_event(raw: bytes | str) -> Event:
    """Decode one event, with timestamps in UTC, or raise InvalidEvent naming the field."""
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent(f"event is {len(raw)} bytes, over the limit of {MAX_EVENT_BYTES}")
    try:
        event = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc}") from None
    kind = type(event)
    if kind is Delivery:
        if event.status not in _STATUSES[event.channel]:
            raise InvalidEvent(f"status {event.status!r} is not allowed for channel {event.channel!r} - at `$.status`")
    elif kind is Tick:
        if event.at.tzinfo is not _UTC:
            event.at = event.at.astimezone(_UTC)
        return event
    if event.occurred_at.tzinfo is not _UTC:
        event.occurred_at = event.occurred_at.astimezone(_UTC)
    return event


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)
