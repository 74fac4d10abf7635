"""Write examples/sample.jsonl: a realistic, deterministic bounceback event log.

Summary. The log starts on 2026-03-01 with a CRM sync of 30 contacts (c-1001..c-1030)
and an import of old-esp-bounces.csv (10 rows, then 2 rows re-imported under new event
ids; one row is also logged twice), then runs 12 email send-outs (so-2026-03-spring on
2026-03-02 to so-2026-03-14-lastcall) and 6 SMS send-outs, plus a few transactional
messages without a send-out, with a tick every 6 hours and a last tick on 2026-03-21,
well after every deadline. Intended outcomes:
mats.lindqvist@example.net soft-bounces in 10 consecutive send-outs (10 message ids, one
report duplicated) and is blocked on 2026-03-12 [soft_bounce_limit];
sara.nilsson@example.org soft-bounces 9 times, gets a delivered receipt on 2026-03-11 (her
9th bounce report is logged after that receipt but happened before it, so it does not
count), then soft-bounces 3 more times and stays active with soft_bounces 3;
+46709876543 (Henrik) soft-bounces / is undelivered / expires 12 times (6 send-outs, 6 transactional) and is never
blocked; kontoret@example.org, shared by c-1020, c-1021, c-1022 and by c-1032 (created
after the block), hard-bounces 5.1.1 and is blocked on all four cards [hard_bounce];
+46762223344 hard-bounces 30005 [hard_bounce]; johan.karlsson@example.net hard-bounces,
is unblocked by support@shop.example on 2026-03-08, the gateway re-sends the same
hard-bounce line afterwards (duplicate event_id, must change nothing), and later mails are
delivered, so it ends active with no reasons; the 8 "bounced" rows of the bounce list are
blocked [bounce_list], among them anders.bjork@example.com (c-1027, existing contact),
+46731234000 (c-1029) and bo.lindgren@example.org, whose contact c-1031 is only created on
2026-03-09; the 2 "unsubscribed" rows kerstin.falk@example.org and +46761112233 get
[unsubscribed]; emma.larsson@example.com unsubscribes (her phone keeps getting SMS);
+46735556677 (Gustav) unsubscribes by SMS; oskar.persson@example.org unsubscribes and later
resubscribes (ends active and is mailed again); nils.eriksson@example.net marks a mail as
spam [complaint]; olof.gustafsson@example.org has two deferrals that never resolve, so the
72 h deadline turns both into soft bounces 4.4.7 (active, soft_bounces 2), while
lisa.andersson@example.net and others are deferred and then delivered within 72 h;
frida.axelsson (+46725551234) and Henrik have SMS with no report after sent, so the 48 h
validity deadline fires. familjen.berg@example.net (c-1005, c-1006) and +46731112233
(c-1010, c-1011) are shared and used once per send-out; c-1003 (Maria Olsson) changes her
address set on 2026-03-08 (maria.olsson@example.com -> maria.olsson@mail.shop.example, plus
a second phone). Out-of-order reports: a delivered logged before its sent (Anna, email, and
Linnea, SMS), an opened logged before its delivered (Erik), a deferred logged after the
delivery that settled it (Hanna); duplicates repeat exact lines. Every email status (sent,
delivered, opened, deferred, soft_bounce, hard_bounce, control_group, complained) and every
SMS status (sent, delivered, soft_bounce, hard_bounce, undelivered, validity_expired,
no_status, control_group) occurs; some addresses are written with mixed case and
surrounding spaces, and phone numbers appear as +4670..., "070-123 45 67" and
"+46 70 123 45 67".

Run:  python examples/make_sample.py   (stdlib only, seeded, no network)
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

OUT = Path(__file__).resolve().parent / "sample.jsonl"
RNG = random.Random(20260302)
UTC = timezone.utc


def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def norm(channel: str, address: str) -> str:
    """A tiny stand-in for RULES.md §1, only to pick audiences in this script."""
    if channel == "email":
        return address.strip().lower()
    digits = "".join(ch for ch in address if ch.isdigit() or ch == "+")
    return "+46" + digits[1:] if digits.startswith("0") else digits


# --------------------------------------------------------------------------- log

_log: list[tuple[datetime, int, dict]] = []  # (log time, sequence, event)


def emit(event: dict, log_at: datetime | None = None) -> dict:
    """Append an event; it is logged at its occurred_at unless log_at says otherwise."""
    when = log_at or at(event["occurred_at"])
    _log.append((when, len(_log), event))
    return event


def duplicate(event: dict, log_at: datetime) -> None:
    """Log the very same line again later (same event_id)."""
    _log.append((log_at, len(_log), event))


def new_message_id() -> str:
    return f"m-{RNG.getrandbits(40):010x}"


def delivery(t, channel, address, mid, status, sendout_id, contact_id, reason=None, code=None, log_at=None):
    ev = {"type": "delivery", "event_id": None, "occurred_at": iso(t), "channel": channel,
          "address": address, "message_id": mid, "status": status}
    if sendout_id is not None:
        ev["sendout_id"] = sendout_id
    if contact_id is not None:
        ev["contact_id"] = contact_id
    if reason is not None:
        ev["bounce_reason"] = reason
    if code is not None:
        ev["bounce_code"] = code
    return emit(ev, log_at)


# ---------------------------------------------------------------- model (script only)

suppressed: dict[tuple[str, str], set[str]] = {}


def suppress(channel, address, reason):
    suppressed.setdefault((channel, norm(channel, address)), set()).add(reason)


def lift(channel, address, reasons):
    key = (channel, norm(channel, address))
    suppressed[key] = suppressed.get(key, set()) - set(reasons)


def is_suppressed(channel, address):
    return bool(suppressed.get((channel, norm(channel, address))))


# ---------------------------------------------------------------------- contacts

# contact_id: (name, emails as the CRM wrote them, phones as the CRM wrote them)
CONTACTS = {
    "c-1001": ("Anna Svensson", ["anna.svensson@example.com"], ["+46701234567"]),
    "c-1002": ("Erik Johansson", ["erik.johansson@example.org"], ["070-234 56 78"]),
    "c-1003": ("Maria Olsson", ["maria.olsson@example.com"], ["+46 73 345 67 89"]),
    "c-1004": ("Johan Karlsson", ["johan.karlsson@example.net"], []),
    "c-1005": ("Lars Berg", ["familjen.berg@example.net", "lars.berg@example.com"], ["+46702345678"]),
    "c-1006": ("Karin Berg", ["Familjen.Berg@example.net"], ["+46 70 456 78 90"]),
    "c-1007": ("Mats Lindqvist", ["mats.lindqvist@example.net"], []),
    "c-1008": ("Sara Nilsson", ["sara.nilsson@example.org"], []),
    "c-1009": ("Lisa Andersson", ["lisa.andersson@example.net"], ["+46765432109"]),
    "c-1010": ("Peter Holm", ["peter.holm@example.com"], ["+46731112233"]),
    "c-1011": ("Elin Holm", ["elin.holm@example.com"], ["073-111 22 33"]),
    "c-1012": ("Olof Gustafsson", ["olof.gustafsson@example.org"], []),
    "c-1013": ("Emma Larsson", ["emma.larsson@example.com"], ["+46709998877"]),
    "c-1014": ("Oskar Persson", ["oskar.persson@example.org"], []),
    "c-1015": ("Nils Eriksson", ["nils.eriksson@example.net"], []),
    "c-1016": ("Ingrid Lund", ["ingrid.lund@example.com"], ["+46762223344"]),
    "c-1017": ("Henrik Sjöberg", ["henrik.sjoberg@example.org"], ["+46709876543"]),
    "c-1018": ("Frida Axelsson", ["frida.axelsson@example.com"], ["+46 72 555 12 34"]),
    "c-1019": ("Gustav Wallin", ["gustav.wallin@example.net"], ["+46735556677"]),
    "c-1020": ("Åsa Berglund", ["asa.berglund@example.com", "kontoret@example.org"], []),
    "c-1021": ("Magnus Ek", ["magnus.ek@example.net", "Kontoret@Example.org"], []),
    "c-1022": ("Sofia Dahl", ["kontoret@example.org"], ["+46 70 777 88 99"]),
    "c-1023": ("Viktor Hedlund", ["viktor.hedlund@example.com"], []),
    "c-1024": ("Linnea Strand", ["linnea.strand@example.org"], ["+46738889900"]),
    "c-1025": ("Axel Norberg", [" Axel.Norberg@Example.COM "], ["+46703334455"]),
    "c-1026": ("Julia Forsberg", ["julia.forsberg@example.net"], ["0704445566"]),
    "c-1027": ("Anders Björk", ["anders.bjork@example.com"], []),
    "c-1028": ("Kerstin Falk", ["kerstin.falk@example.org"], ["+46706667788"]),
    "c-1029": ("David Sandberg", ["david.sandberg@example.net"], ["073-123 40 00"]),
    "c-1030": ("Hanna Ström", ["hanna.strom@example.com"], ["+46736547890"]),
}
LATE_CONTACTS = {  # created after the bounce-list import / after the hard bounce
    "c-1031": ("Bo Lindgren", ["bo.lindgren@example.org"], ["+46 79 012 34 56"], at("2026-03-09T13:41:07Z")),
    "c-1032": ("Tove Lindholm", ["tove.lindholm@example.com", "kontoret@example.org"], [], at("2026-03-11T09:12:44Z")),
}
current = {cid: (emails, phones) for cid, (_, emails, phones) in CONTACTS.items()}
created: dict[str, datetime] = {}


def contact_event(t, cid, emails, phones):
    current[cid] = (emails, phones)
    created.setdefault(cid, t)
    emit({"type": "contact", "event_id": None, "occurred_at": iso(t), "contact_id": cid,
          "emails": list(emails), "phones": list(phones)})


t = at("2026-03-01T07:00:00Z")
for cid, (_, emails, phones) in CONTACTS.items():
    contact_event(t, cid, emails, phones)
    t += timedelta(seconds=RNG.randint(2, 9))

# --------------------------------------------------------------- bounce-list import

BOUNCE_LIST = [
    ("email", " Anders.Bjork@Example.com ", "bounced"),   # existing contact c-1027
    ("email", "bo.lindgren@example.org", "bounced"),      # contact c-1031 created later
    ("email", "old.customer@example.net", "bounced"),
    ("email", "p.nyberg@example.com", "bounced"),
    ("email", "kalle.test@example.org", "bounced"),
    ("email", "info@outlet.shop.example", "bounced"),
    ("sms", "+46 70 123 00 01", "bounced"),
    ("sms", "0731234000", "bounced"),                     # phone of c-1029
    ("email", "Kerstin.Falk@example.org", "unsubscribed"),  # c-1028
    ("sms", "+46 76 111 22 33", "unsubscribed"),
]
t = at("2026-03-01T11:58:00Z")
imported = []
for channel, address, lst in BOUNCE_LIST:
    imported.append(emit({"type": "bounce_list", "event_id": None, "occurred_at": iso(t), "channel": channel,
                          "address": address, "list": lst, "source": "old-esp-bounces.csv"}))
    suppress(channel, address, "bounce_list" if lst == "bounced" else "unsubscribed")
    t += timedelta(seconds=1)
# the import job was retried for two rows (new event ids: a re-import, changes nothing) ...
t = at("2026-03-01T12:31:10Z")
for channel, address, lst in BOUNCE_LIST[2:4]:
    emit({"type": "bounce_list", "event_id": None, "occurred_at": iso(t), "channel": channel,
          "address": address, "list": lst, "source": "old-esp-bounces.csv"})
    t += timedelta(seconds=1)
# ... and one row was written to the log twice (same event_id)
duplicate(imported[0], at("2026-03-01T12:31:15Z"))

# ------------------------------------------------------------------ send-outs

EMAIL_SENDOUTS = [  # (sendout_id, start)
    ("so-2026-03-spring", "2026-03-02T08:00:00Z"),
    ("so-2026-03-03-newsletter", "2026-03-03T08:00:00Z"),
    ("so-2026-03-04-flash", "2026-03-04T08:00:00Z"),
    ("so-2026-03-05-members", "2026-03-05T08:00:00Z"),
    ("so-2026-03-06-weekend", "2026-03-06T08:00:00Z"),
    ("so-2026-03-07-reminder", "2026-03-07T08:00:00Z"),
    ("so-2026-03-09-newsletter", "2026-03-09T08:00:00Z"),
    ("so-2026-03-10-flash", "2026-03-10T08:00:00Z"),
    ("so-2026-03-11-members", "2026-03-11T08:00:00Z"),
    ("so-2026-03-12-easter-preview", "2026-03-12T08:00:00Z"),
    ("so-2026-03-13-weekend", "2026-03-13T08:00:00Z"),
    ("so-2026-03-14-lastcall", "2026-03-14T08:00:00Z"),
]
SMS_SENDOUTS = {  # email send-out index -> SMS part of the same campaign, 10:00Z
    0: "2026-03-02T10:00:00Z", 2: "2026-03-04T10:00:00Z", 4: "2026-03-06T10:00:00Z",
    7: "2026-03-10T10:00:00Z", 9: "2026-03-12T10:00:00Z", 10: "2026-03-13T10:00:00Z",
}

MATS, SARA, JOHAN = "c-1007", "c-1008", "c-1004"
SOFT_EMAIL = [("Mailbox full", "4.2.2"), ("Connection timed out", "4.4.1"),
              ("Mail server temporarily unavailable", "4.3.0"), ("Mailbox full", "4.2.2")]

# Scripted email outcomes: send-out index -> {contact_id: outcome}
EMAIL_SCRIPT: dict[int, dict[str, str]] = {i: {} for i in range(12)}
for i in range(10):
    EMAIL_SCRIPT[i][MATS] = "soft"
for i in range(12):
    EMAIL_SCRIPT[i][SARA] = "soft"
EMAIL_SCRIPT[8][SARA] = "soft_logged_late"          # logged after her receipt is delivered
EMAIL_SCRIPT[0].update({JOHAN: "delivered", "c-1012": "delivered", "c-1013": "opened", "c-1014": "delivered",
                        "c-1003": "delivered", "c-1015": "opened", "c-1024": "control", "c-1025": "opened"})
EMAIL_SCRIPT[1].update({JOHAN: "hard", "c-1020": "hard_shared", "c-1014": "opened", "c-1005": "delivered",
                        "c-1023": "unknown"})
EMAIL_SCRIPT[2].update({"c-1009": "deferred_ok", "c-1001": "sent_logged_late", "c-1013": "delivered",
                        "c-1015": "delivered"})
EMAIL_SCRIPT[3].update({"c-1012": "deferred_expire", "c-1003": "soft_full", "c-1013": "opened"})
EMAIL_SCRIPT[4].update({"c-1015": "complained", "c-1002": "opened_logged_first", "c-1003": "soft_full"})
EMAIL_SCRIPT[5].update({"c-1026": "control", "c-1023": "unknown", "c-1025": "delivered"})
EMAIL_SCRIPT[6].update({"c-1006": "opened", "c-1003": "opened"})
EMAIL_SCRIPT[7].update({"c-1030": "deferred_logged_late"})
EMAIL_SCRIPT[8].update({JOHAN: "opened", "c-1014": "opened"})
EMAIL_SCRIPT[9].update({"c-1003": "delivered", "c-1014": "delivered", "c-1009": "deferred_ok"})
EMAIL_SCRIPT[10].update({JOHAN: "delivered"})
EMAIL_SCRIPT[11].update({"c-1012": "deferred_expire", "c-1001": "opened"})

# Addresses that only ever get their scripted outcome (never drawn at random)
RESERVED_EMAIL = {norm("email", a) for a in [
    "mats.lindqvist@example.net", "sara.nilsson@example.org", "johan.karlsson@example.net",
    "kontoret@example.org", "olof.gustafsson@example.org", "nils.eriksson@example.net",
    "emma.larsson@example.com", "oskar.persson@example.org", "maria.olsson@example.com",
    "maria.olsson@mail.shop.example", "viktor.hedlund@example.com", "hanna.strom@example.com"]}

HENRIK, INGRID, FRIDA = "c-1017", "c-1016", "c-1018"
SMS_SCRIPT: dict[int, dict[str, str]] = {i: {} for i in SMS_SENDOUTS}
SMS_SCRIPT[0].update({HENRIK: "soft", INGRID: "hard", FRIDA: "expire", "c-1019": "delivered",
                      "c-1013": "delivered"})
SMS_SCRIPT[2].update({HENRIK: "undelivered", "c-1010": "delivered_dup", "c-1026": "no_status",
                      "c-1019": "delivered"})
SMS_SCRIPT[4].update({HENRIK: "soft", FRIDA: "expire", "c-1001": "control", "c-1019": "delivered",
                      "c-1013": "delivered"})
SMS_SCRIPT[7].update({HENRIK: "validity_expired", "c-1024": "sent_logged_late", "c-1011": "delivered",
                      "c-1013": "delivered"})
SMS_SCRIPT[9].update({HENRIK: "expire", FRIDA: "delivered", "c-1003": "delivered_second_phone"})
SMS_SCRIPT[10].update({HENRIK: "soft", "c-1022": "no_status", "c-1030": "undelivered"})
RESERVED_SMS = {norm("sms", a) for a in ["+46709876543", "+46762223344", "+46725551234", "+46735556677"]}

messages_log: list[tuple[str, str, str, str]] = []  # (channel, address, status, cid) for the summary check


def email_outcome(t0, address, cid, so, outcome):
    mid = new_message_id()
    sent_at = t0
    if outcome == "control":
        delivery(t0, "email", address, mid, "control_group", so, cid)
        return
    if outcome == "receipt":  # Sara's order receipt, at fixed times so the story in the docstring holds
        delivery(t0, "email", address, mid, "sent", so, cid)
        delivery(at("2026-03-11T15:00:03Z"), "email", address, mid, "delivered", so, cid)
        return
    if outcome == "sent_logged_late":
        d = sent_at + timedelta(seconds=80)
        delivery(d, "email", address, mid, "delivered", so, cid)
        delivery(sent_at, "email", address, mid, "sent", so, cid, log_at=d + timedelta(minutes=19))
        return
    delivery(sent_at, "email", address, mid, "sent", so, cid)
    if outcome == "unknown":
        return
    if outcome in ("delivered", "opened", "complained", "delivered_dup"):
        d = sent_at + timedelta(seconds=RNG.randint(20, 240))
        ev = delivery(d, "email", address, mid, "delivered", so, cid)
        if outcome == "delivered_dup":
            duplicate(ev, d + timedelta(hours=RNG.randint(3, 9), minutes=RNG.randint(0, 59)))
        if outcome in ("opened", "complained"):
            o = d + timedelta(seconds=RNG.randint(900, 30000))
            delivery(o, "email", address, mid, "opened", so, cid)
            if outcome == "complained":
                delivery(o + timedelta(seconds=74), "email", address, mid, "complained", so, cid)
        return
    if outcome == "opened_logged_first":
        d = sent_at + timedelta(seconds=100)
        o = d + timedelta(hours=3, minutes=12)
        delivery(o, "email", address, mid, "opened", so, cid)
        delivery(d, "email", address, mid, "delivered", so, cid, log_at=o + timedelta(minutes=10))
        return
    if outcome in ("soft", "soft_full", "soft_logged_late"):
        reason, code = ("Mailbox full", "4.2.2") if outcome != "soft" or cid == SARA else RNG.choice(SOFT_EMAIL)
        b = sent_at + timedelta(seconds=RNG.randint(60, 600))
        log_at = at("2026-03-11T15:30:12Z") if outcome == "soft_logged_late" else None
        ev = delivery(b, "email", address, mid, "soft_bounce", so, cid, reason, code, log_at=log_at)
        if cid == MATS and so == "so-2026-03-06-weekend":
            duplicate(ev, b + timedelta(hours=2, minutes=41))
        return
    if outcome == "hard":
        ev = delivery(sent_at + timedelta(seconds=RNG.randint(5, 90)), "email", address, mid, "hard_bounce", so, cid,
                      "No such user", "5.1.1")
        if cid == JOHAN:  # the gateway re-sends this exact report after the manual unblock
            duplicate(ev, at("2026-03-09T03:12:40Z"))
        return
    if outcome == "hard_shared":
        delivery(sent_at + timedelta(seconds=RNG.randint(5, 90)), "email", address, mid, "hard_bounce", so, cid,
                 "Recipient address rejected: User unknown in virtual mailbox table", "5.1.1")
        return
    if outcome in ("deferred_ok", "deferred_expire"):
        d1 = sent_at + timedelta(seconds=RNG.randint(60, 300))
        delivery(d1, "email", address, mid, "deferred", so, cid, "Greylisted, please try again later", "4.7.1")
        d2 = d1 + timedelta(hours=RNG.randint(4, 8), minutes=RNG.randint(0, 59))
        delivery(d2, "email", address, mid, "deferred", so, cid, "Too many connections from your IP", "4.7.0")
        if outcome == "deferred_ok":
            ok = d1 + timedelta(hours=RNG.randint(20, 60), minutes=RNG.randint(0, 59))
            delivery(ok, "email", address, mid, "delivered", so, cid)
            delivery(ok + timedelta(minutes=RNG.randint(30, 300)), "email", address, mid, "opened", so, cid)
        return
    if outcome == "deferred_short":
        d1 = sent_at + timedelta(seconds=RNG.randint(60, 300))
        delivery(d1, "email", address, mid, "deferred", so, cid, "Greylisted, please try again later", "4.7.1")
        delivery(d1 + timedelta(minutes=RNG.randint(15, 180)), "email", address, mid, "delivered", so, cid)
        return
    if outcome == "deferred_logged_late":
        d1 = sent_at + timedelta(seconds=150)
        ok = d1 + timedelta(hours=4, minutes=47)
        delivery(ok, "email", address, mid, "delivered", so, cid)
        delivery(d1, "email", address, mid, "deferred", so, cid, "Greylisted, please try again later", "4.7.1",
                 log_at=ok + timedelta(minutes=14))
        return
    raise ValueError(outcome)


def sms_outcome(t0, address, cid, so, outcome):
    mid = new_message_id()
    if outcome == "control":
        delivery(t0, "sms", address, mid, "control_group", so, cid)
        return
    if outcome == "sent_logged_late":
        d = t0 + timedelta(seconds=7)
        delivery(d, "sms", address, mid, "delivered", so, cid)
        delivery(t0, "sms", address, mid, "sent", so, cid, log_at=d + timedelta(minutes=12))
        return
    delivery(t0, "sms", address, mid, "sent", so, cid)
    if outcome == "expire":
        return
    if outcome in ("delivered", "delivered_dup", "delivered_second_phone"):
        d = t0 + timedelta(seconds=RNG.randint(3, 60))
        ev = delivery(d, "sms", address, mid, "delivered", so, cid)
        if outcome == "delivered_dup":
            duplicate(ev, d + timedelta(hours=1, minutes=RNG.randint(0, 59)))
        return
    if outcome == "no_status":
        delivery(t0 + timedelta(seconds=RNG.randint(30, 600)), "sms", address, mid, "no_status", so, cid)
        return
    if outcome == "soft":
        delivery(t0 + timedelta(minutes=RNG.randint(20, 300)), "sms", address, mid, "soft_bounce", so, cid,
                 "Unreachable destination handset", "30003")
        return
    if outcome == "undelivered":
        delivery(t0 + timedelta(minutes=RNG.randint(30, 600)), "sms", address, mid, "undelivered", so, cid,
                 "Unknown error", "30008")
        return
    if outcome == "validity_expired":
        delivery(t0 + timedelta(hours=24, seconds=RNG.randint(1, 30)), "sms", address, mid, "validity_expired",
                 so, cid, "Message validity period expired")
        return
    if outcome == "hard":
        delivery(t0 + timedelta(seconds=RNG.randint(2, 20)), "sms", address, mid, "hard_bounce", so, cid,
                 "Unknown destination handset", "30005")
        return
    raise ValueError(outcome)


def audience(channel, t0, scripted, reserved, n_random):
    """Audience in contact order; each normalised address used once; suppressed ones skipped."""
    picks: dict[str, tuple[str, str]] = {}  # cid -> (address as written, outcome)
    for cid, outcome in scripted.items():
        emails, phones = current[cid]
        if channel == "email":
            # the shared office address is the one the send-out picked for c-1020 / c-1032
            addr = next((e for e in emails if norm("email", e) == "kontoret@example.org"), emails[0]) \
                if outcome == "hard_shared" else emails[0]
        else:
            addr = phones[-1] if outcome == "delivered_second_phone" else phones[0]
        picks[cid] = (addr, outcome)
    pool = []
    for cid, (emails, phones) in current.items():
        if cid in picks or created.get(cid, t0) > t0:
            continue
        addrs = emails if channel == "email" else phones
        for a in addrs:
            if norm(channel, a) not in reserved and not is_suppressed(channel, a):
                pool.append((cid, a))
    for cid, a in RNG.sample(pool, min(n_random, len(pool))):
        if cid not in picks:
            r = RNG.random()
            if channel == "email":
                outcome = ("delivered" if r < 0.45 else "opened" if r < 0.80 else "deferred_short" if r < 0.87
                           else "unknown" if r < 0.92 else "control" if r < 0.96 else "soft_full")
            else:
                outcome = ("delivered" if r < 0.80 else "no_status" if r < 0.86 else "control" if r < 0.92
                           else "undelivered" if r < 0.96 else "expire")
            picks[cid] = (a, outcome)
    result, used = [], set()
    for cid in sorted(picks):
        addr, outcome = picks[cid]
        key = norm(channel, addr)
        if key in used or is_suppressed(channel, addr):
            continue
        used.add(key)
        result.append((cid, addr, outcome))
    return result


def run_email_sendout(i):
    so, start = EMAIL_SENDOUTS[i]
    t0 = at(start)
    n_random = 5
    for k, (cid, addr, outcome) in enumerate(audience("email", t0, EMAIL_SCRIPT[i], RESERVED_EMAIL, n_random)):
        email_outcome(t0 + timedelta(seconds=4 * k + RNG.randint(0, 3)), addr, cid, so, outcome)
        messages_log.append(("email", norm("email", addr), outcome, cid))
        if outcome in ("hard", "hard_shared"):
            suppress("email", addr, "hard_bounce")
        if outcome == "complained":
            suppress("email", addr, "complaint")
    if i == 9:
        suppress("email", "mats.lindqvist@example.net", "soft_bounce_limit")


def run_sms_sendout(i):
    so = EMAIL_SENDOUTS[i][0]
    t0 = at(SMS_SENDOUTS[i])
    for k, (cid, addr, outcome) in enumerate(audience("sms", t0, SMS_SCRIPT[i], RESERVED_SMS, 3)):
        sms_outcome(t0 + timedelta(seconds=2 * k + RNG.randint(0, 1)), addr, cid, so, outcome)
        messages_log.append(("sms", norm("sms", addr), outcome, cid))
        if outcome == "hard":
            suppress("sms", addr, "hard_bounce")


def simple(kind, t, channel, address, cid=None, **extra):
    ev = {"type": kind, "event_id": None, "occurred_at": iso(t), "channel": channel, "address": address}
    if cid is not None:
        ev["contact_id"] = cid
    ev.update(extra)
    emit(ev)


def transactional(t, channel, address, cid, outcome):
    if channel == "email":
        email_outcome(t, address, cid, None, outcome)
    else:
        sms_outcome(t, address, cid, None, outcome)


# Timeline of everything that is not a send-out, in event time.
ACTIONS = [
    (at("2026-03-03T16:22:31Z"), lambda t: transactional(t, "sms", "+46709876543", HENRIK, "soft")),
    (at("2026-03-04T21:10:05Z"), lambda t: (simple("unsubscribe", t, "email", "oskar.persson@example.org", "c-1014"),
                                            suppress("email", "oskar.persson@example.org", "unsubscribed"))),
    (at("2026-03-05T12:40:18Z"), lambda t: transactional(t, "email", "peter.holm@example.com", "c-1010", "delivered")),
    (at("2026-03-05T19:22:47Z"), lambda t: (simple("unsubscribe", t, "email", " Emma.Larsson@example.com", "c-1013"),
                                            suppress("email", "emma.larsson@example.com", "unsubscribed"))),
    (at("2026-03-07T11:05:09Z"), lambda t: (simple("unsubscribe", t, "sms", "+46 73 555 66 77", "c-1019"),
                                            suppress("sms", "+46735556677", "unsubscribed"))),
    (at("2026-03-07T14:48:55Z"), lambda t: transactional(t, "sms", "+46709876543", HENRIK, "undelivered")),
    (at("2026-03-08T09:30:00Z"), lambda t: contact_event(
        t, "c-1003", ["maria.olsson@mail.shop.example"], ["+46 73 345 67 89", "+46 70 888 12 34"])),
    (at("2026-03-08T14:20:33Z"), lambda t: (simple(
        "unblock", t, "email", "johan.karlsson@example.net", actor="support@shop.example",
        note="Customer called support: mailbox was re-created, address confirmed working"),
        lift("email", "johan.karlsson@example.net", ["hard_bounce", "soft_bounce_limit", "bounce_list"]))),
    (at("2026-03-09T13:41:07Z"), lambda t: contact_event(t, "c-1031", *LATE_CONTACTS["c-1031"][1:3])),
    (at("2026-03-09T17:02:40Z"), lambda t: transactional(t, "sms", "+46709876543", HENRIK, "soft")),
    (at("2026-03-10T10:15:21Z"), lambda t: (simple("resubscribe", t, "email", "Oskar.Persson@example.org", "c-1014"),
                                            lift("email", "oskar.persson@example.org", ["unsubscribed"]))),
    (at("2026-03-10T16:55:02Z"), lambda t: transactional(t, "email", "julia.forsberg@example.net", "c-1026", "opened")),
    (at("2026-03-11T09:12:44Z"), lambda t: contact_event(t, "c-1032", *LATE_CONTACTS["c-1032"][1:3])),
    # Sara's order receipt: delivered at 15:00, after her 9th soft bounce (08:0x, logged 15:30)
    (at("2026-03-11T14:59:48Z"), lambda t: transactional(t, "email", "sara.nilsson@example.org", SARA, "receipt")),
    (at("2026-03-11T18:26:13Z"), lambda t: transactional(t, "sms", "+46709876543", HENRIK, "undelivered")),
    (at("2026-03-14T12:07:36Z"), lambda t: transactional(t, "sms", "+46709876543", HENRIK, "soft")),
    (at("2026-03-15T09:44:20Z"), lambda t: transactional(t, "sms", "+46709876543", HENRIK, "soft")),
    (at("2026-03-15T13:18:02Z"), lambda t: transactional(t, "sms", "+46701234567", "c-1001", "delivered")),
]


timeline = [(at(EMAIL_SENDOUTS[i][1]), lambda t, i=i: run_email_sendout(i)) for i in range(12)]
timeline += [(at(SMS_SENDOUTS[i]), lambda t, i=i: run_sms_sendout(i)) for i in SMS_SENDOUTS]
timeline += ACTIONS
for when, action in sorted(timeline, key=lambda x: x[0]):
    action(when)

# ------------------------------------------------------------------- ticks, ids

ordered = [ev for _, _, ev in sorted(_log, key=lambda x: (x[0], x[1]))]
log_times = [lt for lt, _, _ in sorted(_log, key=lambda x: (x[0], x[1]))]
ticks = []
tick = at("2026-03-01T12:00:00Z")
while tick <= at("2026-03-18T00:00:00Z"):
    ticks.append(tick)
    tick += timedelta(hours=6)
ticks.append(at("2026-03-21T00:00:00Z"))  # well after every 72 h / 48 h deadline

lines: list[dict] = []
ti = 0
for lt, ev in zip(log_times, ordered):
    while ti < len(ticks) and ticks[ti] < lt:
        lines.append({"type": "tick", "at": iso(ticks[ti])})
        ti += 1
    lines.append(ev)
lines.extend({"type": "tick", "at": iso(x)} for x in ticks[ti:])

n = 0
for ev in lines:
    if "event_id" in ev and ev["event_id"] is None:
        n += 1
        ev["event_id"] = f"ev-{n:06d}"

# ------------------------------------------------------------ contract self-check

STATUSES = {
    "email": {"sent", "delivered", "opened", "deferred", "soft_bounce", "hard_bounce", "control_group", "complained"},
    "sms": {"sent", "delivered", "soft_bounce", "hard_bounce", "undelivered", "validity_expired", "no_status",
            "control_group"},
}
REQUIRED = {
    "delivery": ["event_id", "occurred_at", "channel", "address", "message_id", "status"],
    "unsubscribe": ["event_id", "occurred_at", "channel", "address"],
    "resubscribe": ["event_id", "occurred_at", "channel", "address"],
    "unblock": ["event_id", "occurred_at", "channel", "address", "actor"],
    "bounce_list": ["event_id", "occurred_at", "channel", "address", "list", "source"],
    "contact": ["event_id", "occurred_at", "contact_id", "emails", "phones"],
    "tick": ["at"],
}
seen_status = {"email": set(), "sms": set()}
for ev in lines:
    for f in REQUIRED[ev["type"]]:
        assert ev.get(f) is not None, (f, ev)
    if ev["type"] == "delivery":
        assert ev["status"] in STATUSES[ev["channel"]], ev
        seen_status[ev["channel"]].add(ev["status"])
for ch in STATUSES:
    assert seen_status[ch] == STATUSES[ch], (ch, STATUSES[ch] - seen_status[ch])
tick_ats = [ev["at"] for ev in lines if ev["type"] == "tick"]
assert tick_ats == sorted(tick_ats)
ids = Counter(ev.get("event_id") for ev in lines if ev["type"] != "tick")
dups = sum(c - 1 for c in ids.values() if c > 1)

with open(OUT, "w", encoding="utf-8") as f:
    for ev in lines:
        f.write(json.dumps(ev, ensure_ascii=False) + "\n")

if __name__ == "__main__":
    kinds = Counter(ev["type"] for ev in lines)
    print(__doc__.split("Summary. ", 1)[1].split("\n\nRun:", 1)[0].replace("\n", " "))
    print()
    print(f"wrote {OUT.name}: {len(lines)} lines ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}; "
          f"{dups} duplicated lines)")
