"""Builders for test logs: events as the contract's JSON, folded through the real decode path."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import msgspec

from bounceback.replay import fold_log
from projections.policy import Policy

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
_ids = itertools.count(1)


def at(hours: float = 0, minutes: float = 0) -> str:
    return (T0 + timedelta(hours=hours, minutes=minutes)).isoformat().replace("+00:00", "Z")


def delivery(address, message_id, status, when, channel="email", event_id=None, **extra):
    return {"type": "delivery", "event_id": event_id or f"ev-{next(_ids)}", "occurred_at": when,
            "channel": channel, "address": address, "message_id": message_id, "status": status, **extra}


def address_event(kind, address, when, channel="email", event_id=None, **extra):
    return {"type": kind, "event_id": event_id or f"ev-{next(_ids)}", "occurred_at": when,
            "channel": channel, "address": address, **extra}


def unblock(address, when, channel="email", actor="support@shop.example", **extra):
    return address_event("unblock", address, when, channel, actor=actor, **extra)


def bounce_list(address, when, channel="email", list_="bounced", source="old.csv", **extra):
    return address_event("bounce_list", address, when, channel, list=list_, source=source, **extra)


def contact(contact_id, when, emails=(), phones=(), event_id=None):
    return {"type": "contact", "event_id": event_id or f"ev-{next(_ids)}", "occurred_at": when,
            "contact_id": contact_id, "emails": list(emails), "phones": list(phones)}


def tick(when):
    return {"type": "tick", "at": when}


def lines(events) -> list[bytes]:
    return [e if isinstance(e, bytes) else msgspec.json.encode(e) for e in events]


def fold(events, policy: Policy | None = None, **kwargs):
    """The ledger after folding the events, through decode and normalisation like `replay`."""
    result = fold_log(lines(events), policy, **kwargs)
    assert not result.rejected, result.rejected
    return result.ledger


def record(ledger, key):
    return ledger.addresses[key].record()


def message(ledger, key, message_id):
    address = ledger.addresses[key]
    return address.messages[message_id].record(message_id, address.channel, address.address)
