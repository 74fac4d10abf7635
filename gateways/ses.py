"""Amazon SES notifications (bounce/complaint/delivery notifications and event
publishing records), delivered by SNS. The SNS envelope and its signature: sns.py.

Covers: Bounce (bounceType Permanent/Transient/Undetermined with bounceSubType, each
bounced recipient with its status and diagnosticCode), Complaint (complaintFeedbackType),
Delivery, DeliveryDelay, Send, Open, Subscription (unsubscribeAll). Click, Reject and
Rendering Failure say nothing about an address and are ignored.

Event ids: a bounce or complaint is `ses:<feedbackId>:<recipient>`; a delivery, delay,
send or open is `ses:<mail.messageId>:<recipient>:<kind>[:<timestamp>]`. SES message tags
`contact_id`, `sendout_id` and `message_id` are carried into the events.
"""

from __future__ import annotations

import msgspec

from gateways.classify import Classifier
from gateways.common import bad, decode_json, delivery, from_iso, unsubscribe, verdict_event
from schemas.events import Event


class Mail(msgspec.Struct):
    messageId: str
    timestamp: str | None = None
    destination: list[str] = []
    tags: dict[str, list[str]] = {}


class BouncedRecipient(msgspec.Struct):
    emailAddress: str
    action: str | None = None
    status: str | None = None
    diagnosticCode: str | None = None


class Bounce(msgspec.Struct):
    bounceType: str
    bouncedRecipients: list[BouncedRecipient]
    timestamp: str
    feedbackId: str
    bounceSubType: str | None = None


class ComplainedRecipient(msgspec.Struct):
    emailAddress: str


class Complaint(msgspec.Struct):
    complainedRecipients: list[ComplainedRecipient]
    timestamp: str
    feedbackId: str
    complaintFeedbackType: str | None = None
    complaintSubType: str | None = None


class DeliveryInfo(msgspec.Struct):
    timestamp: str
    recipients: list[str]
    smtpResponse: str | None = None


class DelayedRecipient(msgspec.Struct):
    emailAddress: str
    status: str | None = None
    diagnosticCode: str | None = None


class DeliveryDelay(msgspec.Struct):
    timestamp: str
    delayedRecipients: list[DelayedRecipient]
    delayType: str | None = None


class Open(msgspec.Struct):
    timestamp: str


class TopicPreferences(msgspec.Struct):
    unsubscribeAll: bool = False


class Subscription(msgspec.Struct):
    timestamp: str
    newTopicPreferences: TopicPreferences | None = None


class Notification(msgspec.Struct):
    mail: Mail
    notificationType: str | None = None
    eventType: str | None = None
    bounce: Bounce | None = None
    complaint: Complaint | None = None
    delivery: DeliveryInfo | None = None
    deliveryDelay: DeliveryDelay | None = None
    open: Open | None = None
    subscription: Subscription | None = None


IGNORED = frozenset(("Click", "Reject", "Rendering Failure", "RenderingFailure", "AmazonSnsSubscriptionSucceeded"))


def _meta(mail: Mail) -> dict:
    return {k: v[0] for k, v in mail.tags.items() if v}


def _need(value, field: str):
    if value is None:
        raise bad(f"SES notification: `{field}` is missing")
    return value


def events(message: bytes | str, classifier: Classifier) -> list[Event]:
    """The canonical events of one SES notification (the SNS envelope's `Message`)."""
    raw = message.encode() if isinstance(message, str) else message
    n = decode_json(raw, Notification, "SES notification")
    kind = n.eventType or n.notificationType
    if kind is None:
        raise bad("SES notification: neither `notificationType` nor `eventType` is present")
    mail, meta = n.mail, _meta(n.mail)
    mid = mail.messageId
    out: list[Event] = []
    if kind == "Bounce":
        b = _need(n.bounce, "bounce")
        at = from_iso(b.timestamp, "bounce.timestamp")
        types = (f"{b.bounceType}/{b.bounceSubType}" if b.bounceSubType else b.bounceType, b.bounceType)
        default = "hard_bounce" if b.bounceType == "Permanent" else "soft_bounce"
        for r in b.bouncedRecipients:
            verdict = classifier.classify("ses", types, status=r.status, text=r.diagnosticCode, default=default)
            out += verdict_event(verdict, f"ses:{b.feedbackId}:{r.emailAddress}", at, "email", r.emailAddress,
                                 mid, meta)
    elif kind == "Complaint":
        c = _need(n.complaint, "complaint")
        at = from_iso(c.timestamp, "complaint.timestamp")
        types = (c.complaintFeedbackType,) if c.complaintFeedbackType else ()
        verdict = classifier.classify("arf", types, default="complained")
        for r in c.complainedRecipients:
            out += verdict_event(verdict, f"ses:{c.feedbackId}:{r.emailAddress}", at, "email", r.emailAddress,
                                 mid, meta)
    elif kind == "Delivery":
        d = _need(n.delivery, "delivery")
        at = from_iso(d.timestamp, "delivery.timestamp")
        for address in d.recipients:
            out.append(delivery(f"ses:{mid}:{address}:delivery", at, "email", address, mid, "delivered", meta))
    elif kind == "DeliveryDelay":
        d = _need(n.deliveryDelay, "deliveryDelay")
        at = from_iso(d.timestamp, "deliveryDelay.timestamp")
        for r in d.delayedRecipients:
            out.append(delivery(f"ses:{mid}:{r.emailAddress}:delay:{d.timestamp}", at, "email", r.emailAddress,
                                mid, "deferred", meta, reason=r.diagnosticCode or d.delayType, code=r.status))
    elif kind == "Send":
        at = from_iso(_need(mail.timestamp, "mail.timestamp"), "mail.timestamp")
        for address in mail.destination:
            out.append(delivery(f"ses:{mid}:{address}:send", at, "email", address, mid, "sent", meta))
    elif kind == "Open":
        o = _need(n.open, "open")
        at = from_iso(o.timestamp, "open.timestamp")
        # an open of a message to several recipients cannot say whose it was
        if len(mail.destination) == 1:
            address = mail.destination[0]
            out.append(delivery(f"ses:{mid}:{address}:open:{o.timestamp}", at, "email", address, mid, "opened", meta))
    elif kind == "Subscription":
        s = _need(n.subscription, "subscription")
        if s.newTopicPreferences is not None and s.newTopicPreferences.unsubscribeAll:
            at = from_iso(s.timestamp, "subscription.timestamp")
            for address in mail.destination:
                out.append(unsubscribe(f"ses:{mid}:{address}:unsubscribe:{s.timestamp}", at, "email", address, meta))
    elif kind not in IGNORED:
        raise bad(f"SES notification: unknown type {kind!r}")
    return out
