"""Twilio SMS status callbacks: form-encoded POSTs with MessageSid, MessageStatus, To,
ErrorCode (for undelivered/failed) and more.

Signature (Twilio "Webhook security"): HMAC-SHA1, keyed with the auth token, of the full
URL Twilio called followed by every POST parameter, sorted by name, as name+value; base64
in `X-Twilio-Signature`. Behind a proxy the URL Twilio called is not the one the gateway
sees: configure it (`twilio.url`).

Covers: MessageStatus queued/accepted/scheduled/sending (ignored: nothing happened yet),
sent, delivered, undelivered and failed with ErrorCode (30003, 30005, 30006, 30007,
30008, 30036, ...: rules.toml), read (delivered). Event id:
`twilio:<MessageSid>:<MessageStatus>`. A callback carries no event time: `RawDlrDoneDate`
(YYMMDDhhmm, UTC) is used when present, else the time the callback arrived.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone

from gateways.carrier import classify_code
from gateways.classify import Classifier
from gateways.common import Rejected, bad, delivery, verdict_event
from schemas.events import Event

SIGNATURE = "X-Twilio-Signature"
IGNORED = frozenset(("queued", "accepted", "scheduled", "sending", "receiving", "received", "canceled"))


def signature(url: str, params: list[tuple[str, str]], auth_token: str) -> str:
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()).decode()


def verify(url: str, params: list[tuple[str, str]], headers, auth_token: str) -> None:
    got = headers.get(SIGNATURE)
    if not got:
        raise Rejected(401, f"unsigned: {SIGNATURE} is required")
    if not hmac.compare_digest(got.encode(), signature(url, params, auth_token).encode()):
        raise Rejected(403, f"{SIGNATURE} does not verify for {url} with the configured auth token")


def _done_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value.strip(), "%y%m%d%H%M").replace(tzinfo=timezone.utc)
    except ValueError:
        raise bad(f"Twilio callback: RawDlrDoneDate {value!r} is not YYMMDDhhmm") from None


def events(params: list[tuple[str, str]], classifier: Classifier, received_at: datetime) -> list[Event]:
    form = dict(params)
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    to = form.get("To")
    for name, value in (("MessageSid", sid), ("MessageStatus", status), ("To", to)):
        if not value:
            raise bad(f"Twilio callback: `{name}` is missing")
    if status in IGNORED:
        return []
    eid = f"twilio:{sid}:{status}"
    at = _done_date(form.get("RawDlrDoneDate")) or received_at
    if status == "sent":
        return [delivery(eid, at, "sms", to, sid, "sent")]
    if status in ("delivered", "read"):
        return [delivery(eid, at, "sms", to, sid, "delivered")]
    if status in ("undelivered", "failed"):
        verdict = classify_code(classifier, [("twilio", form.get("ErrorCode"))])
        return verdict_event(verdict, eid, at, "sms", to, sid)
    raise bad(f"Twilio callback: unknown MessageStatus {status!r}")
