"""Sinch SMS REST API delivery report callbacks (Sinch "Delivery reports" and "Webhooks").

A callback is one JSON object: a `recipient_delivery_report_sms` (one recipient; sent when
the batch asks for `per_recipient` or `per_recipient_final` reports) or a
`delivery_report_sms` (a batch summary: `statuses[]` with the `recipients` of each status
when the batch asks for a `full` report; a `summary` report names no recipient and gives
no event). MMS reports (`..._mms`) are read the same way; inbound messages (`mo_*`) are
not reports and give no event.

Signing (Sinch callback signing, as its SDKs verify it): headers
`x-sinch-webhook-signature-nonce`, `x-sinch-webhook-signature-timestamp`,
`x-sinch-webhook-signature-algorithm` (HmacSHA256, or HmacSHA512) and
`x-sinch-webhook-signature` = base64 HMAC, keyed with the callback secret, of the raw body,
".", the nonce, ".", the timestamp. The timestamp (Unix seconds) is signed, so a verified
callback whose timestamp is outside the window of the gateway's clock is refused
(`sinch.window_seconds`, webhook_auth.Window), like SendGrid's and Mailgun's. Sinch can
instead call the URL with HTTP Basic credentials; both are checked when configured.

status: Queued, Dispatched -> nothing yet; Delivered -> delivered; Expired ->
validity_expired; Unknown (no receipt, or one Sinch could not read) -> no_status;
Cancelled (by the sender, before the SMSC) -> no_status; Aborted, Rejected, Failed, Deleted
-> classified by `code` (rules.toml, table `sinch`), `undelivered` when no rule knows it.
Event time: `operator_status_at`, else `at`, else the arrival. Message id: the `batch_id`
(bounceback keeps messages per number, so one id for a batch's recipients is one message
per number), or `message_id` of a JSON `client_reference`. Event id:
`sinch:<batch_id>:<recipient>:<status>:<code>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

import msgspec

from gateways.batch import Batch, read_each
from gateways.carrier import classify_code, international, reference_meta
from gateways.classify import Classifier
from gateways.common import Rejected, bad, decode_json, delivery, from_iso, verdict_event
from gateways.webhook_auth import Window, credential_bytes, same_secret, unix_seconds
from schemas.events import Event

SIGNATURE = "x-sinch-webhook-signature"
NONCE = "x-sinch-webhook-signature-nonce"
TIMESTAMP = "x-sinch-webhook-signature-timestamp"
ALGORITHM = "x-sinch-webhook-signature-algorithm"
_DIGESTS = {"hmacsha256": hashlib.sha256, "hmacsha512": hashlib.sha512}

REPORT_TYPES = frozenset(("recipient_delivery_report_sms", "recipient_delivery_report_mms"))
SUMMARY_TYPES = frozenset(("delivery_report_sms", "delivery_report_mms"))
NOTHING_YET = frozenset(("queued", "dispatched"))
FAILED = frozenset(("aborted", "rejected", "failed", "deleted"))


def signature(body: bytes, nonce: str, timestamp: str, secret: str, algorithm: str = "HmacSHA256") -> str:
    digest = _DIGESTS[algorithm.lower()]
    # the header values as the bytes the client sent (they may not be UTF-8)
    data = body + b"." + credential_bytes(nonce) + b"." + credential_bytes(timestamp)
    return base64.b64encode(hmac.new(secret.encode(), data, digest).digest()).decode()


def verify(body: bytes, headers, secret: str, now: datetime, window: Window) -> None:
    """Check the signature, then the freshness of the signed timestamp: 401 unsigned, 403
    a wrong or malformed signature or a timestamp outside the window."""
    got, nonce, stamp = headers.get(SIGNATURE), headers.get(NONCE), headers.get(TIMESTAMP)
    if not got or nonce is None or stamp is None:
        raise Rejected(401, f"unsigned: {SIGNATURE}, {NONCE} and {TIMESTAMP} are required")
    algorithm = headers.get(ALGORITHM) or "HmacSHA256"
    if algorithm.lower() not in _DIGESTS:
        raise Rejected(403, f"{ALGORITHM} {ascii(algorithm)} is not HmacSHA256 or HmacSHA512")
    if not same_secret(got, signature(body, nonce, stamp, secret, algorithm)):
        raise Rejected(403, f"{SIGNATURE} does not verify with the configured secret")
    window.check(unix_seconds(stamp, TIMESTAMP), now, TIMESTAMP)


class Status(msgspec.Struct):
    status: str
    code: int | str | None = None
    recipients: list[str] = []


class Callback(msgspec.Struct):
    type: str
    batch_id: str | None = None
    recipient: str | None = None
    status: str | None = None
    code: int | str | None = None
    at: str | None = None
    operator_status_at: str | None = None
    client_reference: str | None = None
    statuses: list[Status] = []


def _report(batch_id: str | None, recipient: str | None, status: str | None, code, at: datetime,
            reference: str | None, classifier: Classifier) -> list[Event]:
    for name, value in (("batch_id", batch_id), ("recipient", recipient), ("status", status)):
        if not value:
            raise bad(f"Sinch delivery report: `{name}` is missing")
    kind = status.lower()
    if kind in NOTHING_YET:
        return []
    code = None if code is None else str(code)
    eid = f"sinch:{batch_id}:{recipient}:{status}:{code or ''}"
    if code == "0":  # Sinch's "no error"
        code = None
    meta = reference_meta(reference)
    address = international(recipient)
    if kind == "delivered":
        return [delivery(eid, at, "sms", address, batch_id, "delivered", meta)]
    if kind == "expired":
        return [delivery(eid, at, "sms", address, batch_id, "validity_expired", meta, reason="Expired", code=code)]
    if kind == "unknown":
        return [delivery(eid, at, "sms", address, batch_id, "no_status", meta, reason="no delivery receipt", code=code)]
    if kind == "cancelled":
        return [delivery(eid, at, "sms", address, batch_id, "no_status", meta,
                         reason="cancelled before reaching the SMSC", code=code)]
    if kind in FAILED:
        verdict = classify_code(classifier, [("sinch", code)])
        verdict = type(verdict)(verdict.status, verdict.code, verdict.reason or status, verdict.rule)
        return verdict_event(verdict, eid, at, "sms", address, batch_id, meta)
    raise bad(f"Sinch delivery report: unknown status {status!r}")


def read(body: bytes, classifier: Classifier, received_at: datetime) -> Batch:
    cb = decode_json(body, Callback, "Sinch callback")
    if cb.type in REPORT_TYPES:
        def one(_: Any) -> list[Event]:
            stamp = cb.operator_status_at or cb.at
            at = from_iso(stamp, "Sinch delivery report: operator_status_at") if stamp else received_at
            return _report(cb.batch_id, cb.recipient, cb.status, cb.code, at, cb.client_reference, classifier)

        return read_each([(f"report of {cb.recipient or '?'}", body, None)], one)
    if cb.type in SUMMARY_TYPES:
        items = [(f"statuses[{i}].recipients[{j}]", msgspec.json.encode({"batch_id": cb.batch_id, "recipient": r,
                                                                          "status": s.status, "code": s.code}), (s, r))
                 for i, s in enumerate(cb.statuses) for j, r in enumerate(s.recipients)]
        return read_each(items, lambda item: _report(cb.batch_id, item[1], item[0].status, item[0].code, received_at,
                                                     cb.client_reference, classifier))
    if cb.type.startswith("mo_"):
        return Batch([])
    raise bad(f"Sinch callback: unknown type {cb.type!r}")
