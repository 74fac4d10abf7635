"""Bounces that are not RFC 3464 DSNs: qmail, older Exim and Sendmail, Postfix before
DSNs, Lotus Notes/GroupWise, Exchange, SMTP32, Yahoo, AOL and the many texts of the
"The following addresses had permanent fatal errors" kind.

Who bounced comes from flufl.bounce (GNU Mailman's bounce detectors: every family it
knows, permanent and temporary failures apart). It reports addresses only, so the status
code and the diagnostic are read here from the report's own text: the paragraph that
names the recipient (qmail's `<a@b>:` block, Exim's indented reason, Sendmail's
`(reason: ...)`), classified like a DSN's Diagnostic-Code.
"""

from __future__ import annotations

import email
from email.message import Message

from flufl.bounce import all_failures

from gateways.classify import Classifier, enhanced_code, smtp_code
from gateways.common import delivery, verdict_event
from gateways.mail_parts import (NotAnAddress, SkippedRecipient, human_text, original, paragraph_about, received_date,
                                 recipient, report_id, when)


def detect(raw: bytes) -> tuple[list[str], list[str]] | None:
    """(permanent, temporary) recipients as written in the report, or None when it is not
    a bounce any detector knows."""
    try:
        temporary, permanent = all_failures(email.message_from_bytes(raw))  # flufl reads compat32 messages
    except Exception:  # a detector choking on odd mail means it did not recognise it
        return None
    if not temporary and not permanent:
        return None
    decode = lambda values: sorted({v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values})
    permanent_list = decode(permanent)
    return permanent_list, [t for t in decode(temporary) if t not in permanent_list]


def events(msg: Message, raw: bytes, found: tuple[list[str], list[str]], classifier: Classifier, arrived=None):
    """(events, skipped recipients) of a recognised plain-text bounce."""
    permanent, temporary = found
    text = human_text(msg)
    if not text.strip():
        body = msg.get_body(("plain",)) if hasattr(msg, "get_body") else None
        text = body.get_content() if body is not None else ""
    report = report_id(msg, raw)
    mid, meta = original(msg, None, report, text)
    at = when("bounce date", msg.get("Date"), received_date(msg), arrived)
    out, skipped, seen = [], [], set()
    for written, action in [(a, "failed") for a in permanent] + [(a, "delayed") for a in temporary]:
        try:
            address = recipient(written)
        except NotAnAddress as exc:
            skipped.append(SkippedRecipient(written, str(exc)))
            continue
        if address in seen:
            continue
        seen.add(address)
        diagnostic = paragraph_about(text, written, or_first=True)
        eid = f"bounce:{report}:{address}:{action}"
        if action == "failed":
            verdict = classifier.classify("bounce", (), text=diagnostic, default="soft_bounce", known_class="5")
            out += verdict_event(verdict, eid, at, "email", address, mid, meta)
        else:
            out.append(delivery(eid, at, "email", address, mid, "deferred", meta, reason=diagnostic,
                                code=enhanced_code(diagnostic) or smtp_code(diagnostic)))
    return out, skipped
