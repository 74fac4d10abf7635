"""Builders for test logs: events as the contract's JSON, folded through the real decode path."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import msgspec

from replay.runner import fold as fold_lines
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


def weekly_mailing(weeks: int) -> list[dict]:
    """anna@example.com (contact c-1) mailed weekly, a report after each send, a tick a day."""
    events = []
    statuses = ["delivered", "opened", "soft_bounce", "delivered", "deferred"]
    for week in range(weeks):
        start = week * 168
        events.append(delivery("anna@example.com", f"m-{week}", "sent", at(start), contact_id="c-1"))
        events.append(delivery("anna@example.com", f"m-{week}", statuses[week % 5], at(start + 1), contact_id="c-1"))
        events += [tick(at(start + 24 * day + 12)) for day in range(7)]
    return events


def lines(events) -> list[bytes]:
    return [e if isinstance(e, bytes) else msgspec.json.encode(e) for e in events]


def fold(events, policy: Policy | None = None, audit=None, **kwargs):
    """The replay's state after folding the events, through decode and normalisation like
    `replay`; `audit`: the address keys to keep the trail of ("*": all)."""
    if audit is not None:
        keys = set(audit)
        audit = (lambda key: True) if "*" in keys else keys.__contains__
    result = fold_lines(lines(events), policy, audit=audit, **kwargs)
    assert not result.rejected, result.rejected
    return result


def record(replayed, key):
    return replayed.addresses[key].record()


def message(replayed, key, message_id):
    address = replayed.addresses[key]
    return address.messages[message_id].record(message_id, address.channel, address.address)
