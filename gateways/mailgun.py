"""Mailgun webhooks: `{"signature": {...}, "event-data": {...}}`, one event per request.

Signature (Mailgun "Securing Webhooks"): HMAC-SHA256 of `timestamp` followed by `token`,
keyed with the webhook signing key, hex, in `signature.signature`. The event itself is
not signed, so a captured signature would vouch for any event: the timestamp must be
within the window and the token is used once (webhook_auth.py).

Covers: accepted (sent), delivered, failed with severity permanent/temporary and reason
(bounce, suppress-bounce, suppress-complaint, suppress-unsubscribe, old, generic, ...)
and delivery-status code/enhanced code/message, opened, complained, unsubscribed.
clicked, stored and list events are ignored.
Event id: `mailgun:<event-data.id>`. user-variables `contact_id`, `sendout_id`,
`message_id` are carried into the events.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

import msgspec

from gateways.classify import Classifier, enhanced_code, smtp_code
from gateways.common import Rejected, bad, decode_json, delivery, from_unix, unsubscribe, verdict_event
from gateways.webhook_auth import Window, credential_bytes, same_secret, unix_seconds
from schemas.events import Event


class Signature(msgspec.Struct):
    # untyped: a malformed credential is refused by `verify` (403), not taken for a malformed body (400)
    timestamp: Any = None
    token: Any = None
    signature: Any = None


class DeliveryStatus(msgspec.Struct, rename={"enhanced_code": "enhanced-code"}):
    code: int | str | None = None
    message: str | None = None
    description: str | None = None
    enhanced_code: str | None = None


class MessageInfo(msgspec.Struct):
    headers: dict[str, Any] = {}


class EventData(msgspec.Struct, rename={"delivery_status": "delivery-status", "user_variables": "user-variables"}):
    event: str
    id: str
    timestamp: float | int
    recipient: str | None = None
    severity: str | None = None
    reason: str | None = None
    message: MessageInfo | None = None
    delivery_status: DeliveryStatus | None = None
    user_variables: dict[str, Any] = {}


class Webhook(msgspec.Struct, rename={"event_data": "event-data"}):
    event_data: EventData
    signature: Signature | None = None


IGNORED = frozenset(("clicked", "stored", "list_member_uploaded", "list_member_upload_error", "list_uploaded"))


def parse(body: bytes) -> Webhook:
    return decode_json(body, Webhook, "Mailgun webhook")


def verify(hook: Webhook, signing_key: str, now: datetime, window: Window) -> tuple[str, datetime]:
    """Check the signature and the timestamp's freshness; return the token and the time
    it was signed, for the caller to use the token once."""
    s = hook.signature
    if s is None or s.signature in (None, "") or s.timestamp in (None, "") or s.token in (None, ""):
        raise Rejected(401, "unsigned: `signature` (timestamp, token, signature) is required")
    if not isinstance(s.token, str) or not isinstance(s.signature, str) or not isinstance(s.timestamp, (str, int)):
        raise Rejected(403, "Mailgun signature: timestamp, token and signature must be strings")
    signed = credential_bytes(f"{s.timestamp}{s.token}")
    expected = hmac.new(signing_key.encode(), signed, hashlib.sha256).hexdigest()
    if not same_secret(s.signature.strip().lower(), expected):
        raise Rejected(403, "Mailgun signature does not verify with the configured signing key")
    signed_at = unix_seconds(s.timestamp, "signature.timestamp")
    window.check(signed_at, now, "signature.timestamp")
    return s.token, signed_at


def events(hook: Webhook, classifier: Classifier) -> list[Event]:
    e = hook.event_data
    if e.event in IGNORED:
        return []
    if not e.recipient:
        raise bad("Mailgun webhook: `event-data.recipient` is missing")
    eid = f"mailgun:{e.id}"
    at = from_unix(e.timestamp, "event-data.timestamp")
    meta = e.user_variables
    headers = e.message.headers if e.message else {}
    mid = headers.get("message-id") if isinstance(headers.get("message-id"), str) else None
    if e.event in ("accepted", "delivered", "opened", "complained", "failed") and not mid:
        raise bad("Mailgun webhook: `event-data.message.headers.message-id` is missing")
    if e.event == "accepted":
        return [delivery(eid, at, "email", e.recipient, mid, "sent", meta)]
    if e.event == "delivered":
        return [delivery(eid, at, "email", e.recipient, mid, "delivered", meta)]
    if e.event == "opened":
        return [delivery(eid, at, "email", e.recipient, mid, "opened", meta)]
    if e.event == "complained":
        return [delivery(eid, at, "email", e.recipient, mid, "complained", meta)]
    if e.event == "unsubscribed":
        return [unsubscribe(eid, at, "email", e.recipient, meta)]
    if e.event == "failed":
        ds = e.delivery_status or DeliveryStatus()
        text = " ".join(t for t in (ds.message, ds.description) if t) or None
        # the SMTP reply code is a field of its own; put it where the classifier looks for it
        code = str(ds.code) if ds.code is not None else ""
        if code.isdigit() and 200 <= int(code) < 600 and not smtp_code(text):
            text = f"{code} {text}" if text else code
        severity = (e.severity or "permanent").lower()
        if severity == "temporary" and e.reason != "old":
            # Mailgun retries: a deferral, whatever the code says
            return [delivery(eid, at, "email", e.recipient, mid, "deferred", meta, reason=text,
                             code=ds.enhanced_code or enhanced_code(text) or smtp_code(text))]
        verdict = classifier.classify("mailgun", (e.reason, severity), status=ds.enhanced_code, text=text,
                                      default="hard_bounce")
        return verdict_event(verdict, eid, at, "email", e.recipient, mid, meta)
    raise bad(f"Mailgun webhook: unknown event {e.event!r}")
