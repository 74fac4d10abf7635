"""Vonage (Nexmo) SMS API delivery receipts: one receipt per request, form-encoded (POST)
or JSON (POST-JSON), with `msisdn` (the recipient), `messageId`, `status`, `err-code`,
`scts` (YYMMDDhhmm, when the carrier reported), `message-timestamp`, `client-ref`, and with
signed webhooks `timestamp`, `nonce` and `sig`.

Signing (Vonage "Signing Messages"; verified like Vonage's SDKs do): every parameter but
`sig`, sorted by name, as `&name=value` with `&` and `=` in values replaced by `_`; then
with the signature secret either appended and MD5-hashed (`md5hash`, the dashboard's
default) or as the key of an HMAC (`md5`, `sha1`, `sha256`, `sha512`); hex, compared
without regard to case. The signed parameters include `timestamp` (Unix seconds, when
Vonage sent the request): a verified receipt whose timestamp is outside the window of the
gateway's clock is refused (`vonage.window_seconds`, webhook_auth.Window), and a signed
receipt without one is refused as unsigned.

status: accepted, buffered -> nothing yet; delivered -> delivered; expired ->
validity_expired; unknown -> no_status; failed, rejected -> classified by `err-code`
(rules.toml, table `vonage`), `undelivered` when no rule knows it. Event time: `scts`
(UTC), else `message-timestamp`, else the arrival. Message id: `messageId` (Vonage gives
one per part of a long message), or `message_id` of a JSON `client-ref`. Event id:
`vonage:<messageId>:<status>:<err-code>`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import msgspec

from gateways.batch import Batch, read_each
from gateways.carrier import classify_code, international, reference_meta
from gateways.classify import Classifier
from gateways.common import Rejected, bad, delivery, json_object, verdict_event
from gateways.webhook_auth import Window, credential_bytes, same_secret, unix_seconds
from schemas.events import Event

METHODS = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
NOTHING_YET = frozenset(("accepted", "buffered"))
FAILED = frozenset(("failed", "rejected"))


def params(body: bytes, content_type: str) -> dict[str, str]:
    """The receipt's parameters, from a JSON or a form-encoded body."""
    if "json" in content_type or body.lstrip()[:1] == b"{":
        doc = json_object(body, "a Vonage delivery receipt")
        return {str(k): v if isinstance(v, str) else msgspec.json.encode(v).decode() for k, v in doc.items()
                if v is not None}
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad(f"not a form-encoded body: {exc}") from None


def signature(fields: dict[str, str], secret: str, method: str = "md5hash") -> str:
    data = "".join(f"&{k}={str(v).replace('&', '_').replace('=', '_')}" for k, v in sorted(fields.items()) if k != "sig")
    if method == "md5hash":
        return hashlib.md5(credential_bytes(data + secret)).hexdigest()
    return hmac.new(secret.encode(), credential_bytes(data), METHODS[method]).hexdigest()


def verify(fields: dict[str, str], secret: str, method: str, now: datetime, window: Window) -> None:
    """Check the signature, then the freshness of the signed `timestamp`: 401 unsigned, 403
    a wrong or malformed signature or a timestamp outside the window."""
    got, stamp = fields.get("sig"), fields.get("timestamp")
    if not got or not stamp:
        raise Rejected(401, "unsigned: the `sig` and `timestamp` parameters are required "
                            "(signed webhooks are configured)")
    if not same_secret(got.lower(), signature(fields, secret, method)):
        raise Rejected(403, f"`sig` does not verify with the configured signature secret ({method})")
    window.check(unix_seconds(stamp, "`timestamp`"), now, "`timestamp`")


def _time(fields: dict[str, str], received_at: datetime) -> datetime:
    for name, layout, shown in (("scts", "%y%m%d%H%M", "YYMMDDhhmm"),
                                ("message-timestamp", "%Y-%m-%d %H:%M:%S", "YYYY-MM-DD HH:MM:SS")):
        value = (fields.get(name) or "").strip()
        if value:
            try:
                return datetime.strptime(value, layout).replace(tzinfo=timezone.utc)
            except ValueError:
                raise bad(f"Vonage receipt: `{name}` {value!r} is not {shown}") from None
    return received_at


def events(fields: dict[str, str], classifier: Classifier, received_at: datetime) -> list[Event]:
    msisdn, mid, status = fields.get("msisdn"), fields.get("messageId"), (fields.get("status") or "").lower()
    for name, value in (("msisdn", msisdn), ("messageId", mid), ("status", status)):
        if not value:
            raise bad(f"Vonage receipt: `{name}` is missing")
    if status in NOTHING_YET:
        return []
    err = (fields.get("err-code") or "").strip()
    eid = f"vonage:{mid}:{status}:{err}"
    if err == "0":  # Vonage's "Delivered": no error
        err = ""
    at = _time(fields, received_at)
    address = international(msisdn)
    meta = reference_meta(fields.get("client-ref"))
    if status == "delivered":
        return [delivery(eid, at, "sms", address, mid, "delivered", meta)]
    if status == "expired":
        return [delivery(eid, at, "sms", address, mid, "validity_expired", meta, reason="Expired", code=err or None)]
    if status == "unknown":
        return [delivery(eid, at, "sms", address, mid, "no_status", meta, code=err or None)]
    if status in FAILED:
        verdict = classify_code(classifier, [("vonage", err)])
        verdict = type(verdict)(verdict.status, verdict.code, verdict.reason or status, verdict.rule)
        return verdict_event(verdict, eid, at, "sms", address, mid, meta)
    raise bad(f"Vonage receipt: unknown status {status!r}")


def read(fields: dict[str, str], raw: bytes, classifier: Classifier, received_at: datetime) -> Batch:
    return read_each([(f"receipt {fields.get('messageId') or '?'}", raw, fields)],
                     lambda f: events(f, classifier, received_at))
