"""The wire contract (docs/CONTRACT.md) as msgspec structs: inbound events and outbound records."""

from schemas.events import (
    EMAIL_REPORT_STATUSES,
    MAX_EVENT_BYTES,
    SMS_REPORT_STATUSES,
    AddressEvent,
    BounceList,
    Contact,
    Delivery,
    Event,
    InvalidEvent,
    Resubscribe,
    Tick,
    Unblock,
    Unsubscribe,
    decode_event,
    encode_event,
)
from schemas.records import AddressRecord, ContactRecord, MessageRecord, RejectedLine

__all__ = [
    "EMAIL_REPORT_STATUSES",
    "MAX_EVENT_BYTES",
    "SMS_REPORT_STATUSES",
    "AddressEvent",
    "AddressRecord",
    "BounceList",
    "Contact",
    "ContactRecord",
    "Delivery",
    "Event",
    "InvalidEvent",
    "MessageRecord",
    "RejectedLine",
    "Resubscribe",
    "Tick",
    "Unblock",
    "Unsubscribe",
    "decode_event",
    "encode_event",
]
