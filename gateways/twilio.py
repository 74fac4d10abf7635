"""Twilio SMS status callbacks: form-encoded POSTs with MessageSid, MessageStatus, To,
ErrorCode (for undelivered/failed) and more.

Signature (Twilio "Webhook security"): HMAC-SHA1, keyed with the auth token, of the full
URL Twilio called followed by every POST parameter, sorted by name, as name+value; base64
in `X-Twilio-Signature`. Behind a proxy the URL Twilio called is not the one the gateway
sees: configure it (`twilio.url`). As Twilio's SDKs do, a signature over the URL with its
port removed, or with the scheme's default port (:443, :80) added, is accepted too.

Covers: MessageStatus queued/accepted/scheduled/sending (ignored: nothing happened yet),
sent, delivered, undelivered and failed with ErrorCode (30003, 30005, 30006, 30007,
30008, 30036, ...: rules.toml), read (delivered). Event id:
`twilio:<MessageSid>:<MessageStatus>`.

A callback carries no event time of its own. `RawDlrDoneDate` (YYMMDDhhmm) is the
carrier's delivery-receipt time, but with no time zone: the offset varies by carrier
(Twilio changelog, 2023-02-14). Read as UTC it is used only when it agrees with the
callback's arrival: no more than DONE_DATE_BEFORE before it and DONE_DATE_AFTER after it.
Every real time zone is at least 30 minutes off UTC, so a local time of a non-UTC carrier
falls outside unless the callback was late by about that offset, and the time taken is then
never more than 15 minutes from the arrival. Otherwise (and when it is not YYMMDDhhmm) the
arrival time stands. docs/decisions.md: Twilio time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

from gateways.carrier import classify_code
from gateways.classify import Classifier
from gateways.common import Rejected, bad, delivery, verdict_event
from gateways.webhook_auth import same_secret
from schemas.events import Event

SIGNATURE = "X-Twilio-Signature"
IGNORED = frozenset(("queued", "accepted", "scheduled", "sending", "receiving", "received", "canceled"))
DONE_DATE_BEFORE = timedelta(minutes=15)  # a receipt a little older than its callback: delivery, then the callback
DONE_DATE_AFTER = timedelta(minutes=2)    # clock skew; the field has minutes only


def signature(url: str, params: list[tuple[str, str]], auth_token: str) -> str:
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()).decode()


def signed_urls(url: str) -> list[str]:
    """The URL and its other form Twilio may have signed: without its port if it has one,
    else with the scheme's default port (Twilio's SDKs, RequestValidator.validate)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if port is not None:
        netloc = parts.netloc[: parts.netloc.rindex(":")]
    else:
        netloc = f"{parts.netloc}:{443 if parts.scheme == 'https' else 80}"
    return [url, urlunsplit(parts._replace(netloc=netloc))]


def verify(url: str, params: list[tuple[str, str]], headers, auth_token: str) -> None:
    got = headers.get(SIGNATURE)
    if not got:
        raise Rejected(401, f"unsigned: {SIGNATURE} is required")
    if not any([same_secret(got, signature(form, params, auth_token)) for form in signed_urls(url)]):
        raise Rejected(403, f"{SIGNATURE} does not verify for {url} with the configured auth token")


def event_time(raw_done_date: str | None, received_at: datetime) -> datetime:
    """RawDlrDoneDate read as UTC when it agrees with the arrival, else the arrival."""
    if not raw_done_date:
        return received_at
    try:
        done = datetime.strptime(raw_done_date.strip(), "%y%m%d%H%M").replace(tzinfo=timezone.utc)
    except ValueError:
        return received_at
    if received_at - DONE_DATE_BEFORE <= done <= received_at + DONE_DATE_AFTER:
        return done
    return received_at


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
    at = event_time(form.get("RawDlrDoneDate"), received_at)
    if status == "sent":
        return [delivery(eid, at, "sms", to, sid, "sent")]
    if status in ("delivered", "read"):
        return [delivery(eid, at, "sms", to, sid, "delivered")]
    if status in ("undelivered", "failed"):
        verdict = classify_code(classifier, [("twilio", form.get("ErrorCode"))])
        return verdict_event(verdict, eid, at, "sms", to, sid)
    raise bad(f"Twilio callback: unknown MessageStatus {status!r}")
