"""An independent, deliberately plain reference implementation of the bounce rules.

Written from docs/RULES.md, docs/CONTRACT.md and docs/decisions.md only. It keeps every
accepted event and recomputes each message status and address record from scratch from
all of them; nothing is incremental except the clock and `updated_at` (which decisions.md
defines by log order).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import phonenumbers
from email_validator import EmailNotValidError, validate_email

DEFERRAL_TIMEOUT = timedelta(hours=72)
SMS_VALIDITY = timedelta(hours=48)

STATUSES = {
    "email": {"sent", "delivered", "opened", "deferred", "soft_bounce", "hard_bounce",
              "control_group", "complained"},
    "sms": {"sent", "delivered", "soft_bounce", "hard_bounce", "undelivered",
            "validity_expired", "no_status", "control_group"},
}
FINAL = {"delivered", "opened", "soft_bounce", "hard_bounce", "undelivered",
         "validity_expired", "no_status", "control_group", "complained"}
LABELS = {
    "unknown": "Unknown",
    "delivered": "Delivered",
    "opened": "Delivered (Opened)",
    "deferred": "Deferred",
    "soft_bounce": "Soft bounce",
    "hard_bounce": "Hard bounce",
    "undelivered": "Undelivered",
    "validity_expired": "Validity expired",
    "no_status": "No delivery status available",
    "control_group": "Included in a control group",
    "complained": "Marked as spam",
}
SOFT = {"email": {"soft_bounce"}, "sms": {"soft_bounce", "undelivered", "validity_expired"}}
DELIVERED = {"email": {"delivered", "opened"}, "sms": {"delivered"}}
BLOCKING = {"hard_bounce", "soft_bounce_limit", "bounce_list"}
OPT_OUT = {"unsubscribed", "complaint"}


class Invalid(Exception):
    pass


# --- parsing and normalisation ------------------------------------------------------

RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def parse_time(value, field):
    """RFC 3339 with an offset, as an aware UTC datetime (fractions rounded to microseconds)."""
    if not isinstance(value, str):
        raise Invalid(f"{field}: not a string")
    match = RFC3339.fullmatch(value)
    if not match:
        raise Invalid(f"{field}: not an RFC 3339 timestamp")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = match.group(7), match.group(8)
    try:
        dt = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        raise Invalid(f"{field}: not a valid date and time")
    if fraction:
        dt += timedelta(microseconds=round(float(fraction) * 1_000_000))
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        dt -= sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return dt


def fmt_time(dt):
    dt = dt.astimezone(timezone.utc)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def normalise_email(value):
    value = value.strip().lower()
    try:
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as e:
        raise Invalid(f"invalid email: {e}")
    return value


# RULES.md §1 / docs/decisions.md: digits, a leading +, and a number's punctuation only
_PHONE_WRITTEN = re.compile("\\+?[0-9 \u00a0\\-\u2010-\u2015\u2212./()]+")


def normalise_phone(value, region):
    if not _PHONE_WRITTEN.fullmatch(value.strip()):
        raise Invalid("invalid phone: not written as a number")
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as e:
        raise Invalid(f"invalid phone: {e}")
    if number.extension or not phonenumbers.is_valid_number(number):
        raise Invalid("invalid phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(channel, value, region):
    return normalise_email(value) if channel == "email" else normalise_phone(value, region)


def need_str(obj, field, optional=False):
    """A string field; a required one must be non-empty, an optional one may be absent or null."""
    value = obj.get(field)
    if value is None:
        if optional:
            return None
        raise Invalid(f"{field}: missing")
    if not isinstance(value, str):
        raise Invalid(f"{field}: not a string")
    if not optional and value == "" and field not in ("address", "source"):
        raise Invalid(f"{field}: empty")
    return value


def need_channel(obj):
    channel = need_str(obj, "channel")
    if channel not in STATUSES:
        raise Invalid("channel: unknown")
    return channel


def decode(raw, region):
    """One line -> a plain dict with parsed times and normalised addresses, or Invalid."""
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("not JSON")
    if not isinstance(obj, dict):
        raise Invalid("not an object")
    kind = obj.get("type")
    if kind == "tick":
        return {"type": "tick", "at": parse_time(obj.get("at"), "at")}
    if kind not in ("delivery", "unsubscribe", "resubscribe", "unblock", "bounce_list", "contact"):
        raise Invalid("type: unknown")
    ev = {"type": kind, "event_id": need_str(obj, "event_id"),
          "time": parse_time(obj.get("occurred_at"), "occurred_at")}
    if kind == "contact":
        ev["contact_id"] = need_str(obj, "contact_id")
        for field, channel in (("emails", "email"), ("phones", "sms")):
            values = obj.get(field)
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise Invalid(f"{field}: not a list of strings")
            ev[field] = [normalise(channel, v, region) for v in values]
        return ev
    ev["channel"] = need_channel(obj)
    address = need_str(obj, "address")
    if kind == "delivery":
        ev["message_id"] = need_str(obj, "message_id")
        ev["status"] = need_str(obj, "status")
        if ev["status"] not in STATUSES[ev["channel"]]:
            raise Invalid("status: not allowed")
        for field in ("sendout_id", "contact_id", "bounce_reason", "bounce_code"):
            ev[field] = need_str(obj, field, optional=True)
    elif kind in ("unsubscribe", "resubscribe"):
        ev["contact_id"] = need_str(obj, "contact_id", optional=True)
    elif kind == "unblock":
        ev["actor"] = need_str(obj, "actor")
        ev["note"] = need_str(obj, "note", optional=True)
    elif kind == "bounce_list":
        ev["list"] = need_str(obj, "list")
        if ev["list"] not in ("bounced", "unsubscribed"):
            raise Invalid("list: unknown")
        ev["source"] = need_str(obj, "source")
    ev["address"] = normalise(ev["channel"], address, region)
    return ev


# --- rules ---------------------------------------------------------------------------

def order(item):
    """Event-time order with log position as tie-break."""
    return (item["time"], item["pos"])


def message_view(reports):
    """(status, the report that is shown) from all reports of one message."""
    finals = [r for r in reports if r["status"] in FINAL]
    if finals:
        shown = max(finals, key=order)
        opens = [r for r in reports if r["status"] == "opened"]
        if shown["status"] in ("delivered", "opened") and opens:
            shown = max(opens, key=order)
        return shown["status"], shown
    deferrals = [r for r in reports if r["status"] == "deferred"]
    if deferrals:
        return "deferred", max(deferrals, key=order)
    return "unknown", max(reports, key=order)


def deadline(channel, reports):
    if any(r["status"] in FINAL for r in reports):
        return None
    pending = "deferred" if channel == "email" else "sent"
    times = [r["time"] for r in reports if r["status"] == pending and not r.get("fired")]
    if not times:
        return None
    return min(times) + (DEFERRAL_TIMEOUT if channel == "email" else SMS_VALIDITY)


def address_state(channel, events, reports, limit):
    """(state, reasons, soft_bounces) from every event and report of one address."""
    unblocks = [e for e in events if e["type"] == "unblock"]
    last_unblock = max(map(order, unblocks)) if unblocks else None

    def after_unblock(item):
        return last_unblock is None or order(item) > last_unblock

    reasons = set()
    if any(r["status"] == "hard_bounce" and after_unblock(r) for r in reports):
        reasons.add("hard_bounce")
    if any(e["type"] == "bounce_list" and e["list"] == "bounced" and after_unblock(e) for e in events):
        reasons.add("bounce_list")

    resubs = [order(e) for e in events if e["type"] == "resubscribe"]
    last_resub = max(resubs) if resubs else None
    unsubs = [order(e) for e in events
              if e["type"] == "unsubscribe" or (e["type"] == "bounce_list" and e["list"] == "unsubscribed")]
    if unsubs and (last_resub is None or max(unsubs) > last_resub):
        reasons.add("unsubscribed")
    complaints = [order(r) for r in reports if r["status"] == "complained"]
    if complaints and (last_resub is None or max(complaints) > last_resub):
        reasons.add("complaint")

    softs = [r for r in reports if r["status"] in SOFT[channel] and after_unblock(r)]
    deliveries = [r["time"] for r in reports if r["status"] in DELIVERED[channel]]

    def soft_set(at):
        """Messages that soft-bounced after the latest delivery, as of event time `at`."""
        before = [d for d in deliveries if d <= at]
        latest = max(before) if before else None
        return {r["message"] for r in softs if r["time"] <= at and (latest is None or r["time"] > latest)}

    far_future = datetime.max.replace(tzinfo=timezone.utc)
    current = soft_set(far_future)
    if channel == "email":
        # Sticky: blocked if at any moment (in event time) the set reached the limit.
        if any(len(soft_set(r["time"])) >= limit for r in softs):
            reasons.add("soft_bounce_limit")

    if reasons & BLOCKING:
        state = "blocked"
    elif reasons & OPT_OUT:
        state = "unsubscribed"
    else:
        state = "active"
    return state, sorted(reasons), len(current)


def message_record(key, reports):
    channel, address, message_id = key
    status, shown = message_view(reports)
    sendouts = [r["sendout_id"] for r in reports if r.get("sendout_id") is not None]
    return {"message_id": message_id, "channel": channel, "address": address,
            "sendout_id": sendouts[0] if sendouts else None,
            "status": status, "label": LABELS[status],
            "bounce_reason": shown.get("bounce_reason"), "bounce_code": shown.get("bounce_code"),
            "updated_at": shown["time"]}


# --- the fold ------------------------------------------------------------------------

CARD_MESSAGES = 100


def oracle_replay(lines, soft_bounce_limit=10, default_region="SE", lateness_horizon=timedelta(days=30)):
    rejected = []
    applied_ids = set()        # (scope, event_id)
    address_events = {}        # (channel, address) -> [event]
    messages = {}              # (channel, address, message_id) -> [report]
    records = {}               # (channel, address) -> (state, reasons, soft_bounces)
    updated = {}               # (channel, address) -> datetime
    contacts = {}              # contact_id -> latest contact event or None
    contact_messages = {}      # contact_id -> {message key}
    clock = None

    def reports_of(addr_key):
        return [r for k, rs in messages.items() if k[:2] == addr_key for r in rs]

    def touch(addr_key, when):
        """Recompute an address record; on a change (or when new) its updated_at is `when`."""
        new = address_state(addr_key[0], address_events.get(addr_key, []), reports_of(addr_key),
                            soft_bounce_limit)
        if records.get(addr_key) != new:
            records[addr_key] = new
            updated[addr_key] = when

    def see_contact(cid):
        contacts.setdefault(cid, None)
        contact_messages.setdefault(cid, set())

    for pos, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue  # a blank line is no event
        try:
            ev = decode(raw, default_region)
        except Invalid as e:
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            rejected.append({"line": pos, "error": str(e), "raw": text})
            continue

        if ev["type"] == "tick":
            if clock is not None and ev["at"] < clock:
                continue
            clock = ev["at"]
            due = []
            for key, reports in messages.items():
                d = deadline(key[0], reports)
                if d is not None and d <= clock:
                    due.append((d, key))
            for d, key in sorted(due):
                status = "soft_bounce" if key[0] == "email" else "validity_expired"
                fired = {"status": status, "time": d, "pos": pos, "fired": True, "message": key,
                         "bounce_reason": "deferred for 72 hours" if key[0] == "email" else None,
                         "bounce_code": "4.4.7" if key[0] == "email" else None}
                messages[key].append(fired)
                touch(key[:2], d)
            continue

        ev["pos"] = pos
        if ev["type"] == "delivery" and clock is not None and ev["time"] < clock - lateness_horizon:
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            rejected.append({"line": pos, "error": "too late", "raw": text})
            continue
        if ev["type"] == "contact":
            scope = ("contact", ev["contact_id"])
            if (scope, ev["event_id"]) in applied_ids:
                continue
            applied_ids.add((scope, ev["event_id"]))
            see_contact(ev["contact_id"])
            latest = contacts[ev["contact_id"]]
            if latest is None or order(ev) > order(latest):
                contacts[ev["contact_id"]] = ev
            # decisions.md: only address events give an address state of its own
            continue

        addr_key = (ev["channel"], ev["address"])
        scope = ("address",) + addr_key
        if (scope, ev["event_id"]) in applied_ids:
            continue
        applied_ids.add((scope, ev["event_id"]))
        if ev["type"] == "delivery":
            key = addr_key + (ev["message_id"],)
            ev["message"] = key
            messages.setdefault(key, []).append(ev)
            if ev["contact_id"] is not None:
                see_contact(ev["contact_id"])
                contact_messages[ev["contact_id"]].add(key)
        else:
            address_events.setdefault(addr_key, []).append(ev)
            if ev["type"] in ("unsubscribe", "resubscribe") and ev["contact_id"] is not None:
                see_contact(ev["contact_id"])
        touch(addr_key, ev["time"])

    def address_record(addr_key):
        state, reasons, soft = records[addr_key]
        return {"channel": addr_key[0], "address": addr_key[1], "state": state,
                "reasons": list(reasons), "soft_bounces": soft, "updated_at": fmt_time(updated[addr_key])}

    addresses = [address_record(k) for k in sorted(records)]
    suppressions = [a for a in addresses if a["reasons"]]

    contact_records = []
    for cid in sorted(contacts):
        latest = contacts[cid]
        keys = []
        if latest is not None:
            for channel, values in (("email", latest["emails"]), ("sms", latest["phones"])):
                for value in values:
                    if (channel, value) not in keys:
                        keys.append((channel, value))
        addrs = [address_record(k) if k in records else
                 {"channel": k[0], "address": k[1], "state": "active", "reasons": [], "soft_bounces": 0,
                  "updated_at": fmt_time(latest["time"])} for k in keys]
        msgs = [message_record(k, messages[k]) for k in contact_messages[cid]]
        msgs.sort(key=lambda m: (m["message_id"], m["channel"], m["address"]))
        msgs.sort(key=lambda m: m["updated_at"], reverse=True)
        msgs = msgs[:CARD_MESSAGES]
        for m in msgs:
            m["updated_at"] = fmt_time(m["updated_at"])
        contact_records.append({"contact_id": cid, "addresses": addrs, "messages": msgs,
                                "messages_total": len(contact_messages[cid])})

    return {"addresses": addresses, "suppressions": suppressions,
            "contacts": contact_records, "rejected": rejected}
