"""A seeded synthetic log for the crash tests: every kind of state the pipeline keeps.

Addresses get delivery reports of every kind; one email address in fifty is a failing
mailbox that gets a tenth of the email, so runs of ten soft bounces block some of them;
deferrals and SMS left without a report expire when ticks pass their deadlines; contacts
link some addresses, so cards change too; unsubscribes, resubscribes and unblocks change
suppressions back and forth.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec

START = datetime(2026, 3, 1, tzinfo=timezone.utc)
EMAIL = ["delivered"] * 50 + ["opened"] * 15 + ["soft_bounce"] * 10 + ["deferred"] * 8 + ["hard_bounce"] * 2 + \
        ["complained"] * 1 + ["control_group"] * 2 + [None] * 12
FAILING = ["soft_bounce"] * 85 + ["delivered"] * 15
SMS = ["delivered"] * 60 + ["soft_bounce"] * 10 + ["undelivered"] * 5 + ["hard_bounce"] * 2 + [None] * 23


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_workload(path: Path, events: int, addresses: int, contacts: int, seed: int) -> int:
    """Writes about `events` events (ticks included) to `path`; returns how many."""
    rng = random.Random(seed)
    emails = [f"user{i}@example.com" for i in range(addresses * 4 // 5)]
    phones = [f"+4670{i:07d}" for i in range(addresses - len(emails))]
    failing_list = emails[: len(emails) // 50]
    failing = set(failing_list)
    owner: dict[str, str] = {}
    written = 0
    clock = START
    encode = msgspec.json.encode
    with open(path, "wb") as out:
        def emit(event: dict) -> None:
            nonlocal written
            out.write(encode(event) + b"\n")
            written += 1

        for c in range(contacts):
            mine = [rng.choice(emails)] + ([rng.choice(phones)] if c % 2 else [])
            for address in mine:
                owner.setdefault(address, f"c-{c}")
            emit({"type": "contact", "event_id": f"contact-{c}", "occurred_at": _stamp(clock), "contact_id": f"c-{c}",
                  "emails": mine[:1], "phones": mine[1:]})
        message = 0
        while written < events:
            message += 1
            clock += timedelta(seconds=30)
            if message % 500 == 0:
                emit({"type": "tick", "at": _stamp(clock)})
            sms = rng.random() < 0.2
            address = rng.choice(phones if sms else failing_list if rng.random() < 0.1 else emails)
            channel = "sms" if sms else "email"
            base = {"type": "delivery", "channel": channel, "address": address, "message_id": f"m-{message}",
                    "sendout_id": f"so-{message // 2000}"}
            if address in owner:
                base["contact_id"] = owner[address]
            emit(dict(base, event_id=f"m-{message}-sent", occurred_at=_stamp(clock), status="sent"))
            outcome = rng.choice(SMS if sms else FAILING if address in failing else EMAIL)
            if outcome is not None:
                report = dict(base, event_id=f"m-{message}-{outcome}", status=outcome,
                              occurred_at=_stamp(clock + timedelta(minutes=rng.randint(1, 300))))
                if outcome in ("soft_bounce", "hard_bounce", "undelivered", "deferred"):
                    report.update(bounce_reason="Mailbox full" if outcome != "hard_bounce" else "No such user",
                                  bounce_code="4.2.2" if outcome != "hard_bounce" else "5.1.1")
                emit(report)
                if outcome == "deferred" and rng.random() < 0.5:  # half the deferrals resolve
                    emit(dict(base, event_id=f"m-{message}-late", status="delivered",
                              occurred_at=_stamp(clock + timedelta(hours=rng.randint(1, 48)))))
            roll = rng.random()
            if roll < 0.004:
                emit({"type": "unsubscribe", "event_id": f"u-{message}", "occurred_at": _stamp(clock),
                      "channel": channel, "address": address})
            elif roll < 0.006:
                emit({"type": "resubscribe", "event_id": f"r-{message}", "occurred_at": _stamp(clock),
                      "channel": channel, "address": address})
            elif roll < 0.008:
                emit({"type": "unblock", "event_id": f"b-{message}", "occurred_at": _stamp(clock),
                      "channel": channel, "address": address, "actor": "support", "note": "checked"})
        emit({"type": "tick", "at": _stamp(clock + timedelta(days=4))})
    return written
