"""Postmark webhooks: one JSON record per request, `RecordType` Bounce, SpamComplaint,
Delivery, Open, Click or SubscriptionChange.

Postmark does not sign webhooks: it documents HTTP Basic auth credentials in the webhook
URL (`https://user:password@host/webhooks/postmark`) and custom HTTP headers on the
webhook. bounceback checks either or both when configured.

Covers: Bounce by Type (HardBounce, SoftBounce, Transient, DnsError, Blocked,
AutoResponder, SpamNotification, Unsubscribe, ... see rules.toml) with Details as the
diagnostic, SpamComplaint, Delivery, Open, SubscriptionChange (SuppressSending with
SuppressionReason HardBounce/SpamComplaint/ManualSuppression). Click is ignored.
Event ids: `postmark:<ID>` for bounces and complaints; `postmark:<MessageID>:<recipient>:
<kind>[:<time>]` otherwise. Metadata `contact_id`, `sendout_id`, `message_id` are carried.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateways.classify import Classifier
from gateways.common import bad, decode_json, delivery, from_iso, unsubscribe, verdict_event
from gateways.webhook_auth import check_credentials
from schemas.events import Event, Resubscribe


class Record(msgspec.Struct):
    RecordType: str | None = None
    ID: int | str | None = None
    Type: str | None = None
    MessageID: str | None = None
    Email: str | None = None
    Recipient: str | None = None
    BouncedAt: str | None = None
    DeliveredAt: str | None = None
    ReceivedAt: str | None = None
    ChangedAt: str | None = None
    Details: str | None = None
    Description: str | None = None
    Origin: str | None = None
    SuppressSending: bool | None = None
    SuppressionReason: str | None = None
    Metadata: dict[str, Any] | None = None


def verify(headers, username: str | None, password: str | None, header: tuple[str, str] | None) -> None:
    check_credentials(headers, username, password, header, where="the Postmark webhook URL")


def _need(value, field: str):
    if value in (None, ""):
        raise bad(f"Postmark record: `{field}` is missing")
    return value


def events(body: bytes, classifier: Classifier) -> list[Event]:
    r = decode_json(body, Record, "Postmark record")
    kind = r.RecordType or ("SpamComplaint" if r.Type == "SpamComplaint" else "Bounce" if r.BouncedAt else None)
    meta = r.Metadata
    if kind in ("Bounce", "SpamComplaint"):
        address, mid = _need(r.Email, "Email"), _need(r.MessageID, "MessageID")
        eid = f"postmark:{_need(r.ID, 'ID')}"
        at = from_iso(_need(r.BouncedAt, "BouncedAt"), "BouncedAt")
        if kind == "SpamComplaint":
            return [delivery(eid, at, "email", address, mid, "complained", meta)]
        kind_type = _need(r.Type, "Type")
        verdict = classifier.classify("postmark", (kind_type,), text=r.Details or None, default="soft_bounce",
                                      final=kind_type != "Transient")
        if verdict.reason is None and r.Description:
            verdict = type(verdict)(verdict.status, verdict.code, r.Description, verdict.rule)
        return verdict_event(verdict, eid, at, "email", address, mid, meta)
    if kind == "Delivery":
        address, mid = _need(r.Recipient, "Recipient"), _need(r.MessageID, "MessageID")
        at = from_iso(_need(r.DeliveredAt, "DeliveredAt"), "DeliveredAt")
        return [delivery(f"postmark:{mid}:{address}:delivered", at, "email", address, mid, "delivered", meta)]
    if kind == "Open":
        address, mid = _need(r.Recipient, "Recipient"), _need(r.MessageID, "MessageID")
        when = _need(r.ReceivedAt, "ReceivedAt")
        return [delivery(f"postmark:{mid}:{address}:open:{when}", from_iso(when, "ReceivedAt"), "email", address,
                         mid, "opened", meta)]
    if kind == "Click":
        return []
    if kind == "SubscriptionChange":
        address = _need(r.Recipient, "Recipient")
        when = _need(r.ChangedAt, "ChangedAt")
        at = from_iso(when, "ChangedAt")
        suppress = _need(r.SuppressSending, "SuppressSending")
        eid = f"postmark:{r.MessageID or '-'}:{address}:subscription:{when}:{'suppress' if suppress else 'reactivate'}"
        if not suppress:
            # a reactivation by the recipient is an opt-in; one by the sender or Postmark is
            # their own housekeeping (bounceback's own is an unblock), not the recipient's word
            if r.Origin == "Recipient":
                return [Resubscribe(event_id=eid, occurred_at=at, channel="email", address=address)]
            return []
        if r.SuppressionReason == "HardBounce" and r.MessageID:
            return [delivery(eid, at, "email", address, r.MessageID, "hard_bounce", meta,
                             reason="suppressed by Postmark after a hard bounce", code="HardBounce")]
        if r.SuppressionReason == "SpamComplaint" and r.MessageID:
            return [delivery(eid, at, "email", address, r.MessageID, "complained", meta)]
        if r.SuppressionReason == "ManualSuppression" and r.Origin == "Recipient":
            return [unsubscribe(eid, at, "email", address, meta)]
        return []
    raise bad(f"Postmark record: unknown RecordType {kind!r}")
