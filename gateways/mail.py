"""Bounce mail: what one RFC 822 message sent to the bounce or feedback address says.

In this order, each by its content, so that a bounce is never taken for a reply:
1. an RFC 3464 DSN (a `message/delivery-status` part anywhere): gateways/dsn.py;
2. an RFC 5965 feedback report (`message/feedback-report`): gateways/arf.py;
3. a plain-text bounce of a family flufl.bounce knows: gateways/plain_bounce.py;
4. an auto-reply (RFC 3834 `Auto-Submitted: auto-replied`, X-Autoreply and kin,
   Precedence: auto_reply, an out-of-office subject): skipped, no event.
   `Auto-Submitted: auto-generated` marks machine-made mail, not a reply (RFC 3834 §5):
   DSNs carry it, and several MTAs put `auto-replied` on real bounces too, which is why
   the content is read first.
Anything else is refused as not a report.

A mail that gives no event by design (an auto-reply, a redacted or not-spam feedback
report) is `skipped` with what it was skipped as; a recipient that gives no event (not an
address, or not one the normaliser accepts) is listed in `skipped_recipients` with the
reason while the others are published. `ingest` is what both `POST /mail` and
`bounceback ingest-mail` run, so the same mail gives the same events either way.

Which message bounced: `X-Bounceback-Message-Id` in the returned headers if the sender
set it, else the returned Message-ID, else the DSN's Original-Envelope-Id, else
`unidentified:<report id>`. `X-Bounceback-Contact-Id` and `X-Bounceback-Sendout-Id` there
are carried too. Event ids: `dsn:<report id>:<recipient>:<action>`,
`bounce:<report id>:<recipient>:<action>` (plain text), `arf:<report id>:<recipient>`,
where the report id is the mail's Message-ID (or the DSN's Original-Envelope-Id, or a
hash of the mail).
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from datetime import datetime

from gateways import arf, dsn, plain_bounce
from gateways.classify import Classifier
from gateways.common import bad
from gateways.mail_parts import SkippedRecipient
from projections.intake import normalise_event
from projections.normalise import AddressNormaliser
from schemas.events import Event, InvalidEvent

_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response)|autoreply|abwesenheit|"
    r"r[ée]ponse automatique|on vacation|vacation( reply)?|away from)", re.IGNORECASE)


@dataclass
class MailResult:
    kind: str  # dsn, arf, bounce (plain text), auto-reply
    events: list[Event] = field(default_factory=list)
    skipped: str | None = None  # what the whole mail was skipped as, when it gives no event by design
    note: str = ""
    skipped_recipients: list[SkippedRecipient] = field(default_factory=list)

    def answer(self) -> dict:
        """What the gateway says about the mail besides the number published."""
        out: dict = {"kind": self.kind}
        if self.skipped:
            out["skipped"] = self.skipped
            out["reason"] = self.note
        if self.skipped_recipients:
            out["skipped_recipients"] = [{"recipient": s.recipient, "reason": s.reason} for s in self.skipped_recipients]
        return out


def auto_reply_marker(msg) -> str | None:
    """What marks the mail as a reply made by a program, if anything (RFC 3834)."""
    auto = " ".join(str(msg.get("Auto-Submitted", "")).split()).lower()
    if auto.startswith("auto-replied"):
        return "Auto-Submitted: auto-replied"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        value = str(msg.get(name, "")).strip().lower()
        if value and value not in ("no", "false", "0"):
            return f"{name}: {value}"
    if str(msg.get("Precedence", "")).strip().lower() == "auto_reply":
        return "Precedence: auto_reply"
    subject = str(msg.get("Subject", ""))
    if _AUTO_SUBJECT.match(subject):
        return f"Subject: {subject[:80]}"
    return None


def parse(raw: bytes, classifier: Classifier, arrived: datetime | None = None) -> MailResult:
    """What the mail says. `arrived`: when it reached the gateway, the event time of a
    report that carries no date at all (no Last-Attempt-Date, Date or Received)."""
    if not raw.strip():
        raise bad("an empty mail")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = dsn.status_part(msg)
    if part is not None and dsn.has_recipients(part):
        events, skipped = dsn.events(msg, part, raw, classifier, arrived)
        return MailResult("dsn", events, skipped_recipients=skipped)
    part = arf.report_part(msg)
    if part is not None:
        events, skipped_as, why = arf.events(msg, part, raw, classifier, arrived)
        return MailResult("arf", events, skipped=skipped_as, note=why)
    found = plain_bounce.detect(raw)
    if found is not None:
        events, skipped = plain_bounce.events(msg, raw, found, classifier, arrived)
        return MailResult("bounce", events, skipped_recipients=skipped)
    marker = auto_reply_marker(msg)
    if marker is not None:
        return MailResult("auto-reply", skipped="auto-reply", note=f"an auto-reply ({marker}), not a bounce")
    raise bad("not a bounce: no delivery status notification (message/delivery-status), no feedback report "
              "(message/feedback-report), no plain-text bounce of a known family, and not an auto-reply")


def ingest(raw: bytes, classifier: Classifier, normalise: AddressNormaliser,
           arrived: datetime | None = None) -> MailResult:
    """`parse`, then each event's address normalised as the pipeline will: a recipient the
    normaliser refuses is skipped with its reason, the rest are kept."""
    result = parse(raw, classifier, arrived)
    kept = []
    for event in result.events:
        try:
            kept.append(normalise_event(event, normalise))
        except InvalidEvent as exc:
            result.skipped_recipients.append(SkippedRecipient(event.address, str(exc)))
    result.events = kept
    return result
