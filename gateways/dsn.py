"""RFC 3464 delivery status notifications: one event per recipient block.

The `message/delivery-status` part is looked for anywhere in the mail (MTAs wrap it in
multipart/mixed, forget the report-type, or forward it inside another message). Blocks
with a recipient field are recipients; the first other block is the per-message part.
Empty blocks (the part ended with a blank line) are nothing.

Which address: `Original-Recipient` when present and an address, the one the sender used
(RFC 3464 §2.3.1); else `Final-Recipient`, which may be a forwarding target or an
internal name. A recipient whose values are not addresses (a pipe, a file, a bare
domain, an X.400 name) is skipped with the reason; the other recipients still count.

Action failed (also the non-standard `failure`, `error`) is classified from Status and
Diagnostic-Code (rules.toml; without a diagnostic, the report's text about that
recipient); delayed is `deferred`; delivered is `delivered`; relayed and expanded say
nothing about the outcome. A block without a known Action is read from its Status class.
"""

from __future__ import annotations

from email.message import Message

from gateways.classify import Classifier, enhanced_code, smtp_code
from gateways.common import bad, delivery, verdict_event
from gateways.mail_parts import (NotAnAddress, SkippedRecipient, fields, find, human_text, original,
                                 paragraph_about, received_date, recipient, report_id, when)

PART = "message/delivery-status"
_RECIPIENT_FIELDS = ("Final-Recipient", "Original-Recipient", "Action", "Status")
_ACTIONS = {"failed": "failed", "failure": "failed", "error": "failed", "bounced": "failed",
            "delayed": "delayed", "delivered": "delivered", "relayed": "relayed", "expanded": "expanded"}
_BY_CLASS = {"5": "failed", "4": "delayed", "2": "delivered"}


def status_part(msg: Message) -> Message | None:
    return find(msg, PART)


def _recipient_blocks(part: Message) -> list[Message]:
    return [b for b in fields(part) if any(b.get(f) is not None for f in _RECIPIENT_FIELDS)]


def has_recipients(part: Message) -> bool:
    """An empty delivery-status part (some MTAs send one and say everything in the text)
    makes no DSN: the mail is then read as a plain-text bounce."""
    return bool(_recipient_blocks(part))


def _field(block: Message, name: str) -> str | None:
    value = block.get(name)
    return " ".join(str(value).split()) if value is not None and str(value).strip() else None


def _address(block: Message) -> tuple[str | None, str]:
    """The block's address, or None and why none of its values is one."""
    why = []
    for name in ("Original-Recipient", "Final-Recipient"):
        value = _field(block, name)
        if value is None:
            continue
        try:
            return recipient(value), ""
        except NotAnAddress as exc:
            why.append(f"{name}: {exc}")
    return None, "; ".join(why) or "no Final-Recipient or Original-Recipient"


def events(msg: Message, part: Message, raw: bytes, classifier: Classifier, arrived=None):
    """(events, skipped recipients) of a DSN."""
    blocks = fields(part)
    recipients = [b for b in blocks if any(b.get(f) is not None for f in _RECIPIENT_FIELDS)]
    per_message = next((b for b in blocks if b not in recipients), None)
    if not recipients:
        raise bad("DSN: no per-recipient fields (Final-Recipient, Action, Status)")
    envelope_id = (_field(per_message, "Original-Envelope-Id") or "").strip("<>") or None if per_message else None
    report = report_id(msg, raw, envelope_id)
    text = human_text(msg)
    mid, meta = original(msg, envelope_id, report, text)
    arrival = _field(per_message, "Arrival-Date") if per_message is not None else None
    out, skipped, seen = [], [], set()
    for n, block in enumerate(recipients, 1):
        where = f"DSN recipient {n}"
        address, why = _address(block)
        shown = _field(block, "Original-Recipient") or _field(block, "Final-Recipient") or ""
        if address is None:
            skipped.append(SkippedRecipient(shown, f"{where}: {why}"))
            continue
        status_field = _field(block, "Status")
        code = enhanced_code(status_field)
        word = (_field(block, "Action") or "").split("(")[0].strip().lower()
        action = _ACTIONS.get(word) or (_BY_CLASS.get(code[0]) if code else None)
        if action is None:
            skipped.append(SkippedRecipient(address, f"{where}: Action {word or 'missing'!r} and no Status class to read instead"))
            continue
        if action in ("relayed", "expanded") or (address, action) in seen:
            continue
        seen.add((address, action))
        at = when(f"{where}: date", _field(block, "Last-Attempt-Date"), msg.get("Date"), arrival,
                  received_date(msg), arrived)
        diagnostic = _field(block, "Diagnostic-Code")
        if diagnostic is None and status_field and not status_field.startswith(code or "\0"):
            diagnostic = status_field  # a Status that is no code at all ("553 Exceeded maximum ...")
        if diagnostic is None and action == "failed":
            diagnostic = paragraph_about(text, address)
        eid = f"dsn:{report}:{address}:{action}"
        if action == "failed":
            verdict = classifier.classify("dsn", (), status=code, text=diagnostic, default="soft_bounce", known_class="5")
            out += verdict_event(verdict, eid, at, "email", address, mid, meta)
        elif action == "delayed":
            out.append(delivery(eid, at, "email", address, mid, "deferred", meta, reason=diagnostic,
                                code=code or smtp_code(diagnostic)))
        else:
            out.append(delivery(eid, at, "email", address, mid, "delivered", meta))
    return out, skipped
