"""RFC 5965 feedback reports (ARF): a complaint by the recipient in Original-Rcpt-To, or,
without one, by the single addressee of the returned message.

Feedback loops redact the recipient (RFC 6590): no Original-Rcpt-To and a To such as
`<Undisclosed Recipients>`, `redacted@...`, or none. Such a report names no address, so
it gives no complaint: it is skipped as a redacted feedback report. A Feedback-Type the
rules ignore (not-spam, auth-failure) is skipped as what it is.
"""

from __future__ import annotations

from email.message import Message

from gateways.classify import Classifier
from gateways.common import bad, verdict_event
from gateways.mail_parts import (NotAnAddress, fields, find, original, received_date, recipient, report_id,
                                 returned_headers, when)

PART = "message/feedback-report"
_REDACTED_LOCAL_PARTS = frozenset(("redacted", "undisclosed", "undisclosed-recipients"))


def report_part(msg: Message) -> Message | None:
    return find(msg, PART)


def _complainants(report: Message, msg: Message) -> tuple[list[str], str]:
    """The addresses the report is about, or none and why."""
    values = [str(v) for v in (report.get_all("Original-Rcpt-To") or [])]
    source = "Original-Rcpt-To"
    if not values:
        headers = returned_headers(msg)
        to = headers.get_all("To") if headers is not None else None
        source = "the returned message's To"
        try:
            values = [a.addr_spec for h in (to or []) for a in getattr(h, "addresses", ()) if a.addr_spec]
        except Exception:  # a To the header parser cannot read names nobody we can use
            values = []
        if len(values) > 1:
            return [], f"no Original-Rcpt-To, and the returned message has {len(values)} addressees"
    found, why = [], []
    for value in values:
        try:
            address = recipient(value)
        except NotAnAddress as exc:
            why.append(str(exc))
            continue
        if address.partition("@")[0] in _REDACTED_LOCAL_PARTS:
            why.append(f"{address} is redacted")
            continue
        if address not in found:
            found.append(address)
    if found:
        return found, ""
    return [], f"{source}: " + ("; ".join(why) if why else "no address")


def events(msg: Message, part: Message, raw: bytes, classifier: Classifier, arrived=None):
    """(events, what the report was skipped as or None, why)."""
    blocks = fields(part)
    if not blocks:
        raise bad("ARF: the message/feedback-report part is empty")
    report = blocks[0]
    feedback_type = " ".join(str(report.get("Feedback-Type", "")).split()).lower()
    if not feedback_type:
        raise bad("ARF: `Feedback-Type` is missing")
    verdict = classifier.classify("arf", (feedback_type,), default="complained")
    if verdict.status == "ignore":
        return [], f"feedback report ({feedback_type})", f"Feedback-Type {feedback_type} is not a complaint"
    addresses, why = _complainants(report, msg)
    if not addresses:
        return [], "redacted feedback report", why
    at = when("ARF date", msg.get("Date"), report.get("Arrival-Date"), report.get("Received-Date"), received_date(msg),
              arrived)
    envelope_id = str(report.get("Original-Envelope-Id") or "").strip().strip("<>") or None
    report_key = report_id(msg, raw)
    mid, meta = original(msg, envelope_id, report_key)
    out = []
    for address in addresses:
        out += verdict_event(verdict, f"arf:{report_key}:{address}", at, "email", address, mid, meta)
    return out, None, ""
