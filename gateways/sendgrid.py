"""SendGrid Event Webhook: a JSON array of events, optionally signed.

Signed Event Webhook: SendGrid signs `X-Twilio-Email-Event-Webhook-Timestamp` followed
by the raw body with ECDSA P-256 / SHA-256; the base64 DER signature is in
`X-Twilio-Email-Event-Webhook-Signature`; the verification key is the base64 DER public
key shown in the mail settings (a PEM key is accepted too). The signed timestamp must be
within the window of the gateway's clock (webhook_auth.py).

Covers: processed (sent), deferred, delivered, open (opened), bounce with type
bounce/blocked and bounce_classification, dropped (by reason), spamreport (complained),
unsubscribe and group_unsubscribe (unsubscribe). click and group_resubscribe are ignored.
Event id: `sendgrid:<sg_event_id>`. Custom args `contact_id`, `sendout_id`,
`message_id` (top-level fields of each event) are carried into the events.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateways.classify import Classifier, enhanced_code, smtp_code
from gateways.batch import Batch, read_each
from gateways.common import Rejected, bad, decode_json, delivery, from_unix, unsubscribe, verdict_event
from gateways.webhook_auth import Window, credential_bytes, unix_seconds
from schemas.events import Event

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


class SGEvent(msgspec.Struct, rename={"smtp_id": "smtp-id"}):
    email: str
    timestamp: int | float
    event: str
    sg_event_id: str | None = None
    sg_message_id: str | None = None
    smtp_id: str | None = None
    reason: str | None = None
    status: str | None = None
    response: str | None = None
    type: str | None = None
    bounce_classification: str | None = None


IGNORED = frozenset(("click", "group_resubscribe"))
_FILTER_SUFFIX = re.compile(r"\.(?:filter|recvd)")


def load_key(text: str) -> ec.EllipticCurvePublicKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"SendGrid verification key is not a base64 DER or PEM public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("SendGrid verification key is not an elliptic-curve key")
    return key


def verify(body: bytes, headers, key: ec.EllipticCurvePublicKey, now: datetime, window: Window) -> None:
    signature, timestamp = headers.get(SIGNATURE), headers.get(TIMESTAMP)
    if not signature or not timestamp:
        raise Rejected(401, f"unsigned: {SIGNATURE} and {TIMESTAMP} are required")
    try:
        raw = base64.b64decode(credential_bytes(signature), validate=True)
        key.verify(raw, credential_bytes(timestamp) + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise Rejected(403, f"{SIGNATURE} does not verify with the configured key") from None
    window.check(unix_seconds(timestamp, TIMESTAMP), now, TIMESTAMP)


def _message_id(e: SGEvent, i: int) -> str:
    if e.sg_message_id:
        return _FILTER_SUFFIX.split(e.sg_message_id, 1)[0]
    if e.smtp_id:
        return e.smtp_id.strip().strip("<>")
    raise bad(f"SendGrid event {i}: neither `sg_message_id` nor `smtp-id` is present")


def events(body: bytes, classifier: Classifier) -> Batch:
    """The events of a batch. A body that is not a JSON array of objects is refused (400);
    an item that cannot become an event is refused alone, with its reason, and the others
    are kept (SendGrid resends a whole batch that is not answered 2xx)."""
    items = decode_json(body, list[msgspec.Raw], "SendGrid events")
    for i, item in enumerate(items):
        if not bytes(item).lstrip().startswith(b"{"):
            raise bad(f"SendGrid events: item {i} is not a JSON object: not a SendGrid Event Webhook body")
    raws = [bytes(item) for item in items]
    return read_each([(f"SendGrid event {i}", raw, (i, raw)) for i, raw in enumerate(raws)],
                     lambda item: _item(*item, classifier))


def _item(i: int, raw: bytes, classifier: Classifier) -> list[Event]:
    """The events of one item (an ignored kind: none)."""
    try:
        e, meta = msgspec.json.decode(raw, type=SGEvent), msgspec.json.decode(raw, type=dict[str, Any])
    except msgspec.ValidationError as exc:
        raise bad(str(exc)) from None
    out: list[Event] = []
    if e.event in IGNORED:
        return out
    if not e.sg_event_id:
        raise bad(f"SendGrid event {i}: `sg_event_id` is missing: without it a resend cannot be recognised")
    eid = f"sendgrid:{e.sg_event_id}"
    at = from_unix(e.timestamp, f"SendGrid event {i}: timestamp")
    addr = e.email
    if e.event == "processed":
        out.append(delivery(eid, at, "email", addr, _message_id(e, i), "sent", meta))
    elif e.event == "deferred":
        text = e.response or e.reason
        out.append(delivery(eid, at, "email", addr, _message_id(e, i), "deferred", meta, reason=text,
                            code=enhanced_code(text) or smtp_code(text)))
    elif e.event == "delivered":
        out.append(delivery(eid, at, "email", addr, _message_id(e, i), "delivered", meta))
    elif e.event == "open":
        out.append(delivery(eid, at, "email", addr, _message_id(e, i), "opened", meta))
    elif e.event == "bounce":
        kind = e.type or "bounce"
        types = (e.bounce_classification, kind)
        verdict = classifier.classify("sendgrid", types, status=e.status, text=e.reason,
                                      default="hard_bounce" if kind == "bounce" else "soft_bounce")
        out += verdict_event(verdict, eid, at, "email", addr, _message_id(e, i), meta)
    elif e.event == "dropped":
        verdict = classifier.classify("sendgrid", (f"dropped:{e.reason}" if e.reason else None, "dropped"),
                                      text=None, default="ignore")
        if verdict.status != "ignore":
            out += verdict_event(verdict, eid, at, "email", addr, _message_id(e, i), meta)
    elif e.event == "spamreport":
        out.append(delivery(eid, at, "email", addr, _message_id(e, i), "complained", meta))
    elif e.event in ("unsubscribe", "group_unsubscribe"):
        out.append(unsubscribe(eid, at, "email", addr, meta))
    else:
        raise bad(f"SendGrid event {i}: unknown event {e.event!r}")
    return out
