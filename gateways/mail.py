"""Bounce mail: RFC 3464 delivery status notifications and RFC 5965 ARF complaints,
parsed with the standard library's `email` package.

A DSN (multipart/report; report-type=delivery-status) gives one event per recipient
block: Action failed is classified from Status and Diagnostic-Code (rules.toml, provider
`dsn`), delayed is `deferred`, delivered is `delivered`; relayed and expanded say nothing
about the outcome and are skipped. An ARF report (report-type=feedback-report) is a
complaint of the recipient in Original-Rcpt-To (or the returned message's To) unless its
Feedback-Type says otherwise (not-spam, auth-failure: ignored).

Anything else marked as automatic (RFC 3834 Auto-Submitted, X-Autoreply, Precedence:
auto_reply, an out-of-office subject) is an auto-reply: it is not a bounce and gives no
event. Other mail is refused as not a report.

Which message bounced: `X-Bounceback-Message-Id` in the returned headers if the sender
set it, else the returned Message-ID, else the DSN's Original-Envelope-Id.
`X-Bounceback-Contact-Id` and `X-Bounceback-Sendout-Id` there are carried too.
Event ids: `dsn:<DSN Message-ID or Original-Envelope-Id>:<recipient>:<action>` and
`arf:<report Message-ID>:<recipient>` (a hash of the mail when it has no id).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser, HeaderParser

from gateways.classify import Classifier
from gateways.common import bad, delivery, from_rfc2822, verdict_event
from schemas.events import Event

_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response)|autoreply|abwesenheit|"
    r"r[ée]ponse automatique|on vacation|vacation( reply)?|away from)", re.IGNORECASE)


@dataclass
class MailResult:
    kind: str  # dsn, arf, auto-reply
    events: list[Event] = field(default_factory=list)
    note: str = ""


def _id(value: str | None) -> str | None:
    if not value:
        return None
    value = str(value).strip().strip("<>").strip()
    return value or None


def _address(value: str | None) -> str | None:
    """`rfc822; anna@example.com` -> anna@example.com (other address types: None)."""
    if not value:
        return None
    kind, sep, addr = str(value).partition(";")
    if not sep:
        addr, kind = kind, "rfc822"
    if kind.strip().lower() != "rfc822":
        return None
    addr = addr.strip().strip("<>").strip()
    return addr or None


def _fallback_id(raw: bytes) -> str:
    return "sha256-" + hashlib.sha256(raw).hexdigest()[:32]


def is_auto_reply(msg: EmailMessage) -> bool:
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("X-Autoresponder"):
        return True
    if str(msg.get("Precedence", "")).strip().lower() == "auto_reply":
        return True
    return bool(_AUTO_SUBJECT.match(str(msg.get("Subject", ""))))


def _returned_headers(msg: EmailMessage):
    """The headers of the original message returned in the report, if any."""
    for part in msg.iter_parts():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            return payload[0] if isinstance(payload, list) and payload else None
        if ctype in ("text/rfc822-headers", "message/rfc822-headers"):
            raw = part.get_payload(decode=True) or b""
            return BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    return None


def _original(msg: EmailMessage, envelope_id: str | None) -> tuple[str, dict]:
    headers = _returned_headers(msg)
    meta: dict = {}
    mid = None
    if headers is not None:
        mid = _id(headers.get("X-Bounceback-Message-Id")) or _id(headers.get("Message-ID"))
        for name, key in (("X-Bounceback-Contact-Id", "contact_id"), ("X-Bounceback-Sendout-Id", "sendout_id")):
            if headers.get(name):
                meta[key] = str(headers.get(name)).strip()
    mid = mid or envelope_id
    if not mid:
        raise bad("no Message-ID of the original message and no Original-Envelope-Id: cannot tell which message this is about")
    return mid, meta


def parse(raw: bytes, classifier: Classifier) -> MailResult:
    if not raw.strip():
        raise bad("an empty mail")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if msg.get_content_type() == "multipart/report":
        report_type = str(msg.get_param("report-type") or "").lower()
        if report_type == "delivery-status":
            return _dsn(msg, raw, classifier)
        if report_type == "feedback-report":
            return _arf(msg, raw, classifier)
    if is_auto_reply(msg):
        return MailResult("auto-reply", note=f"auto-reply ignored: {str(msg.get('Subject', ''))[:80]!r}")
    raise bad("not a delivery status notification (multipart/report; report-type=delivery-status) "
              "nor a feedback report (report-type=feedback-report)")


def _status_part(msg: EmailMessage, ctype: str):
    for part in msg.iter_parts():
        if part.get_content_type() == ctype:
            payload = part.get_payload()
            if isinstance(payload, list):
                return payload
            # some MTAs send the fields base64-encoded or as text: parse them ourselves
            text = part.get_payload(decode=True) or b""
            blocks = re.split(rb"\r?\n\s*\r?\n", text.strip())
            return [HeaderParser(policy=email.policy.default).parsestr(b.decode("utf-8", "replace")) for b in blocks]
    return None


def _dsn(msg: EmailMessage, raw: bytes, classifier: Classifier) -> MailResult:
    blocks = _status_part(msg, "message/delivery-status")
    if not blocks:
        raise bad("DSN: no message/delivery-status part")
    per_message, recipients = blocks[0], blocks[1:]
    if not recipients:
        raise bad("DSN: no per-recipient fields (Final-Recipient, Action, Status)")
    envelope_id = _id(per_message.get("Original-Envelope-Id"))
    mid, meta = _original(msg, envelope_id)
    report_id = _id(msg.get("Message-ID")) or envelope_id or _fallback_id(raw)
    report_date = msg.get("Date")
    out: list[Event] = []
    for n, block in enumerate(recipients, 1):
        where = f"DSN recipient {n}"
        address = _address(block.get("Final-Recipient")) or _address(block.get("Original-Recipient"))
        if not address:
            raise bad(f"{where}: `Final-Recipient` is missing or not an rfc822 address")
        action = str(block.get("Action", "")).split("(")[0].strip().lower()
        if not action:
            raise bad(f"{where}: `Action` is missing")
        when = block.get("Last-Attempt-Date") or report_date or per_message.get("Arrival-Date")
        if not when:
            raise bad(f"{where}: no Last-Attempt-Date, and the DSN has no Date")
        at = from_rfc2822(str(when), f"{where}: date")
        status = str(block.get("Status", "")).split("(")[0].strip() or None
        diagnostic = block.get("Diagnostic-Code")
        diagnostic = " ".join(str(diagnostic).split()) if diagnostic else None
        eid = f"dsn:{report_id}:{address}:{action}"
        if action == "failed":
            verdict = classifier.classify("dsn", (), status=status, text=diagnostic, default="soft_bounce")
            out += verdict_event(verdict, eid, at, "email", address, mid, meta)
        elif action == "delayed":
            out.append(delivery(eid, at, "email", address, mid, "deferred", meta, reason=diagnostic, code=status))
        elif action == "delivered":
            out.append(delivery(eid, at, "email", address, mid, "delivered", meta))
        elif action not in ("relayed", "expanded"):
            raise bad(f"{where}: Action {action!r} is not failed, delayed, delivered, relayed or expanded")
    return MailResult("dsn", out)


def _arf(msg: EmailMessage, raw: bytes, classifier: Classifier) -> MailResult:
    blocks = _status_part(msg, "message/feedback-report")
    if not blocks:
        raise bad("ARF: no message/feedback-report part")
    report = blocks[0]
    feedback_type = str(report.get("Feedback-Type", "")).strip().lower()
    if not feedback_type:
        raise bad("ARF: `Feedback-Type` is missing")
    mid, meta = _original(msg, _id(report.get("Original-Envelope-Id")))
    recipients = [a for a in (_address(v) for v in (report.get_all("Original-Rcpt-To") or [])) if a]
    if not recipients:
        headers = _returned_headers(msg)
        to = headers.get("To") if headers is not None else None
        addresses = [a.addr_spec for a in to.addresses] if to is not None and hasattr(to, "addresses") else []
        if len(addresses) == 1:
            recipients = addresses
    if not recipients:
        raise bad("ARF: no Original-Rcpt-To and no single To in the returned message: the report is redacted")
    when = msg.get("Date") or report.get("Arrival-Date") or report.get("Received-Date")
    if not when:
        raise bad("ARF: no Date and no Arrival-Date")
    at = from_rfc2822(str(when), "ARF date")
    report_id = _id(msg.get("Message-ID")) or _fallback_id(raw)
    verdict = classifier.classify("arf", (feedback_type,), default="complained")
    out: list[Event] = []
    for address in recipients:
        out += verdict_event(verdict, f"arf:{report_id}:{address}", at, "email", address, mid, meta)
    return MailResult("arf", out)
