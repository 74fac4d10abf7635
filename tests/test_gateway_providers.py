"""Each provider's documented payloads, for every event type the issue lists, and the
exact canonical events they become (the adapters are pure: payload in, events out)."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
import pytest

from gateways import canonical, mailgun, postmark, sendgrid, ses, twilio
from gateways.classify import default_classifier
from gateways.common import Rejected
from tests.gateway_helpers import canon, expect, expect_unsubscribe

C = default_classifier()
J = msgspec.json.encode

# -- Amazon SES (notification contents as documented by AWS) -------------------------------

MAIL = {"timestamp": "2026-03-01T09:59:00.000Z", "source": "news@shop.example",
        "messageId": "0100018e-ses-msg-1", "destination": ["jane@example.com", "richard@example.com"],
        "tags": {"contact_id": ["c-1"], "sendout_id": ["so-7"]}}
MAIL_ONE = dict(MAIL, destination=["jane@example.com"], tags={})


def _bounce(bounce_type, sub_type, recipients):
    return {"notificationType": "Bounce", "mail": MAIL,
            "bounce": {"bounceType": bounce_type, "bounceSubType": sub_type, "bouncedRecipients": recipients,
                       "timestamp": "2026-03-01T10:00:01.000Z", "feedbackId": "fb-1",
                       "reportingMTA": "dsn; a27-30.smtp-out.eu-west-1.amazonses.com"}}


def test_ses_permanent_bounce_with_several_recipients():
    msg = _bounce("Permanent", "General", [
        {"emailAddress": "jane@example.com", "action": "failed", "status": "5.1.1",
         "diagnosticCode": "smtp; 550 5.1.1 user unknown"},
        {"emailAddress": "richard@example.com", "action": "failed", "status": "5.1.1",
         "diagnosticCode": "smtp; 550 5.1.1 user unknown"}])
    assert canon(ses.events(J(msg), C)) == [
        expect("ses:fb-1:jane@example.com", "2026-03-01T10:00:01Z", "jane@example.com", "0100018e-ses-msg-1",
               "hard_bounce", reason="smtp; 550 5.1.1 user unknown", code="5.1.1", contact_id="c-1", sendout_id="so-7"),
        expect("ses:fb-1:richard@example.com", "2026-03-01T10:00:01Z", "richard@example.com", "0100018e-ses-msg-1",
               "hard_bounce", reason="smtp; 550 5.1.1 user unknown", code="5.1.1", contact_id="c-1", sendout_id="so-7"),
    ]


@pytest.mark.parametrize("bounce_type, sub_type, recipient, status, code, reason", [
    ("Permanent", "NoEmail", {}, "hard_bounce", "Permanent/NoEmail", "permanent bounce"),
    ("Permanent", "Suppressed", {}, "hard_bounce", "Permanent/Suppressed", "permanent bounce"),
    ("Permanent", "OnAccountSuppressionList", {}, "hard_bounce", "Permanent/OnAccountSuppressionList", "permanent bounce"),
    # the trap: SES calls a policy block permanent; the SMTP evidence says it is about the sender
    ("Permanent", "General", {"status": "5.7.1", "diagnosticCode": "smtp; 550 5.7.1 Service unavailable, client host blocked using Spamhaus"},
     "soft_bounce", "5.7.1", "smtp; 550 5.7.1 Service unavailable, client host blocked using Spamhaus"),
    ("Transient", "MailboxFull", {"status": "5.2.2", "diagnosticCode": "smtp; 552 5.2.2 Mailbox full"},
     "soft_bounce", "5.2.2", "smtp; 552 5.2.2 Mailbox full"),
    ("Transient", "MessageTooLarge", {}, "soft_bounce", "Transient/MessageTooLarge", "message too large"),
    ("Transient", "ContentRejected", {}, "soft_bounce", "Transient/ContentRejected", "content rejected"),
    ("Transient", "AttachmentRejected", {}, "soft_bounce", "Transient/AttachmentRejected", "attachment rejected"),
    ("Transient", "General", {"status": "4.4.7", "diagnosticCode": "smtp; 451 4.4.7 delivery time expired"},
     "soft_bounce", "4.4.7", "smtp; 451 4.4.7 delivery time expired"),
    ("Undetermined", "Undetermined", {}, "soft_bounce", "Undetermined/Undetermined", "undetermined bounce"),
])
def test_ses_bounce_types(bounce_type, sub_type, recipient, status, code, reason):
    msg = _bounce(bounce_type, sub_type, [dict({"emailAddress": "jane@example.com"}, **recipient)])
    assert canon(ses.events(J(msg), C)) == [
        expect("ses:fb-1:jane@example.com", "2026-03-01T10:00:01Z", "jane@example.com", "0100018e-ses-msg-1", status,
               reason=reason, code=code, contact_id="c-1", sendout_id="so-7")]


def test_ses_complaint_delivery_delay_open_send():
    complaint = {"notificationType": "Complaint", "mail": MAIL_ONE,
                 "complaint": {"complainedRecipients": [{"emailAddress": "jane@example.com"}],
                               "timestamp": "2026-03-02T08:00:00.000Z", "feedbackId": "fb-2",
                               "complaintFeedbackType": "abuse", "userAgent": "AnyCompany Feedback Loop (V0.01)"}}
    assert canon(ses.events(J(complaint), C)) == [
        expect("ses:fb-2:jane@example.com", "2026-03-02T08:00:00Z", "jane@example.com", "0100018e-ses-msg-1",
               "complained", code="abuse")]
    not_spam = dict(complaint, complaint=dict(complaint["complaint"], complaintFeedbackType="not-spam"))
    assert ses.events(J(not_spam), C) == []

    delivered = {"notificationType": "Delivery", "mail": MAIL_ONE,
                 "delivery": {"timestamp": "2026-03-01T10:00:02.000Z", "processingTimeMillis": 546,
                              "recipients": ["jane@example.com"], "smtpResponse": "250 ok: Message 64111812 accepted"}}
    assert canon(ses.events(J(delivered), C)) == [
        expect("ses:0100018e-ses-msg-1:jane@example.com:delivery", "2026-03-01T10:00:02Z", "jane@example.com",
               "0100018e-ses-msg-1", "delivered")]

    delay = {"eventType": "DeliveryDelay", "mail": MAIL_ONE,
             "deliveryDelay": {"timestamp": "2026-03-01T10:20:00.000Z", "delayType": "TransientCommunicationFailure",
                               "expirationTime": "2026-03-01T22:00:00.000Z",
                               "delayedRecipients": [{"emailAddress": "jane@example.com", "status": "4.4.1",
                                                      "diagnosticCode": "smtp; 421 4.4.1 Unable to connect"}]}}
    assert canon(ses.events(J(delay), C)) == [
        expect("ses:0100018e-ses-msg-1:jane@example.com:delay:2026-03-01T10:20:00.000Z", "2026-03-01T10:20:00Z",
               "jane@example.com", "0100018e-ses-msg-1", "deferred", reason="smtp; 421 4.4.1 Unable to connect",
               code="4.4.1")]

    opened = {"eventType": "Open", "mail": MAIL_ONE,
              "open": {"ipAddress": "192.0.2.1", "timestamp": "2026-03-01T11:00:00.000Z", "userAgent": "Mozilla/5.0"}}
    assert canon(ses.events(J(opened), C)) == [
        expect("ses:0100018e-ses-msg-1:jane@example.com:open:2026-03-01T11:00:00.000Z", "2026-03-01T11:00:00Z",
               "jane@example.com", "0100018e-ses-msg-1", "opened")]
    # an open of a message to two recipients cannot say whose it was
    assert ses.events(J(dict(opened, mail=MAIL)), C) == []

    send = {"eventType": "Send", "mail": MAIL_ONE, "send": {}}
    assert canon(ses.events(J(send), C)) == [
        expect("ses:0100018e-ses-msg-1:jane@example.com:send", "2026-03-01T09:59:00Z", "jane@example.com",
               "0100018e-ses-msg-1", "sent")]
    assert ses.events(J({"eventType": "Click", "mail": MAIL_ONE, "click": {}}), C) == []


def test_ses_bad_payloads_are_refused_naming_the_field():
    with pytest.raises(Rejected, match="bounce"):
        ses.events(J({"notificationType": "Bounce", "mail": MAIL}), C)
    with pytest.raises(Rejected, match="`mail`"):
        ses.events(J({"notificationType": "Delivery"}), C)
    with pytest.raises(Rejected, match="unknown type"):
        ses.events(J({"notificationType": "Bogus", "mail": MAIL}), C)


# -- SendGrid Event Webhook ----------------------------------------------------------------

def _sg(event, **fields):
    base = {"email": "example@test.com", "timestamp": 1772359200, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "event": event, "category": "cat facts", "sg_event_id": f"sg-{event}-1",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "contact_id": "c-9"}
    return dict(base, **fields)


AT = "2026-03-01T10:00:00Z"
SG_MID = "14c5d75ce93.dfd.64b469"


def _sg_expect(event, status, **kw):
    return expect(f"sendgrid:sg-{event}-1", AT, "example@test.com", SG_MID, status, contact_id="c-9", **kw)


def test_sendgrid_every_event_type_in_one_array():
    body = J([
        _sg("processed"),
        _sg("deferred", response="400 try again later", attempt="5"),
        _sg("delivered", response="250 OK"),
        _sg("open", useragent="Mozilla/4.0", ip="255.255.255.255"),
        _sg("bounce", reason="500 unknown recipient", status="5.0.0", type="bounce"),
        _sg("bounce", sg_event_id="sg-blocked-1", reason="550 5.7.1 rejected by policy", status="5.7.1", type="blocked"),
        _sg("dropped", reason="Bounced Address", status="5.0.0"),
        _sg("spamreport"),
        _sg("unsubscribe"),
        _sg("group_unsubscribe", asm_group_id=10),
        _sg("click", url="http://example.com"),
        _sg("group_resubscribe", asm_group_id=10),
    ])
    assert canon(sendgrid.events(body, C)) == [
        _sg_expect("processed", "sent"),
        _sg_expect("deferred", "deferred", reason="400 try again later", code="400"),
        _sg_expect("delivered", "delivered"),
        _sg_expect("open", "opened"),
        # SendGrid says "bounce" (permanent), the text says the user does not exist
        _sg_expect("bounce", "hard_bounce", reason="500 unknown recipient", code="5.0.0"),
        expect("sendgrid:sg-blocked-1", AT, "example@test.com", SG_MID, "soft_bounce", contact_id="c-9",
               reason="550 5.7.1 rejected by policy", code="5.7.1"),
        _sg_expect("dropped", "hard_bounce", reason="dropped by SendGrid: the address bounced before",
                   code="dropped:Bounced Address"),
        _sg_expect("spamreport", "complained"),
        expect_unsubscribe("sendgrid:sg-unsubscribe-1", AT, "example@test.com", contact_id="c-9"),
        expect_unsubscribe("sendgrid:sg-group_unsubscribe-1", AT, "example@test.com", contact_id="c-9"),
    ]


@pytest.mark.parametrize("reason, status", [
    ("Unsubscribed Address", "unsubscribe"), ("Spam Reporting Address", "complained"), ("Invalid", "hard_bounce"),
    ("Spam Content (if spam checker app enabled)", None), ("Unsubscribed Group", None),
])
def test_sendgrid_dropped_reasons(reason, status):
    out = canon(sendgrid.events(J([_sg("dropped", reason=reason)]), C))
    if status is None:
        assert out == []
    elif status == "unsubscribe":
        assert out == [expect_unsubscribe("sendgrid:sg-dropped-1", AT, "example@test.com", contact_id="c-9")]
    else:
        assert [(e["status"], e["event_id"]) for e in out] == [(status, "sendgrid:sg-dropped-1")]


def test_sendgrid_blocked_by_classification_and_bounce_without_text():
    out = canon(sendgrid.events(J([_sg("bounce", type="blocked", bounce_classification="Reputation",
                                      reason="554 Message rejected")]), C))
    assert [(e["status"], e["bounce_code"]) for e in out] == [("soft_bounce", "554")]
    out = canon(sendgrid.events(J([_sg("bounce", type="bounce", bounce_classification="Invalid Address")]), C))
    assert [(e["status"], e["bounce_code"], e["bounce_reason"]) for e in out] == [
        ("hard_bounce", "Invalid Address", None)]


def test_sendgrid_refuses_an_event_without_sg_event_id_alone_and_a_non_array_whole():
    no_id = {k: v for k, v in _sg("delivered").items() if k != "sg_event_id"}
    batch = sendgrid.events(J([no_id, _sg("delivered"), {"event": "delivered"}]), C)
    assert [e["event_id"] for e in canon(batch)] == ["sendgrid:sg-delivered-1"]
    assert [(r.item, r.raw) for r in batch.dead] == [("SendGrid event 0", J(no_id)),
                                                     ("SendGrid event 2", J({"event": "delivered"}))]
    assert "`sg_event_id` is missing" in batch.dead[0].error and "`email`" in batch.dead[1].error
    with pytest.raises(Rejected, match="Expected `array`"):
        sendgrid.events(J(_sg("delivered")), C)
    with pytest.raises(Rejected, match="item 0 is not a JSON object"):
        sendgrid.events(J([[1]]), C)


# -- Mailgun -------------------------------------------------------------------------------

def _mg(event, **fields):
    data = {"event": event, "id": f"mg-{event}", "timestamp": 1772359200.5, "recipient": "alice@example.com",
            "message": {"headers": {"to": "Alice <alice@example.com>", "message-id": "20260301.1@mg.shop.example",
                                    "from": "Shop <news@shop.example>", "subject": "Hi"}},
            "user-variables": {"contact_id": "c-3", "sendout_id": "so-3"}}
    return J({"signature": {"timestamp": "1772359200", "token": "t" * 50, "signature": "0" * 64},
              "event-data": dict(data, **fields)})


MG_AT = "2026-03-01T10:00:00.500000Z"


def _mg_expect(event, status, **kw):
    return expect(f"mailgun:mg-{event}", MG_AT, "alice@example.com", "20260301.1@mg.shop.example", status,
                  contact_id="c-3", sendout_id="so-3", **kw)


def _mg_events(body):
    return canon(mailgun.events(mailgun.parse(body), C))


def test_mailgun_event_types():
    assert _mg_events(_mg("accepted")) == [_mg_expect("accepted", "sent")]
    assert _mg_events(_mg("delivered", **{"delivery-status": {"code": 250, "message": "OK"}})) == [
        _mg_expect("delivered", "delivered")]
    assert _mg_events(_mg("opened")) == [_mg_expect("opened", "opened")]
    assert _mg_events(_mg("complained")) == [_mg_expect("complained", "complained")]
    assert _mg_events(_mg("unsubscribed")) == [
        expect_unsubscribe("mailgun:mg-unsubscribed", MG_AT, "alice@example.com", contact_id="c-3")]
    assert _mg_events(_mg("clicked")) == []


def test_mailgun_failed_by_severity_reason_and_code():
    permanent = _mg("failed", severity="permanent", reason="bounce", **{"delivery-status": {
        "code": 550, "message": "5.1.1 The email account that you tried to reach does not exist.",
        "description": "", "attempt-no": 1}})
    assert _mg_events(permanent) == [_mg_expect(
        "failed", "hard_bounce", code="5.1.1", reason="550 5.1.1 The email account that you tried to reach does not exist.")]
    temporary = _mg("failed", severity="temporary", reason="generic", **{"delivery-status": {
        "code": 452, "message": "4.2.2 The email account that you tried to reach is over quota."}})
    assert _mg_events(temporary) == [_mg_expect(
        "failed", "deferred", code="4.2.2", reason="452 4.2.2 The email account that you tried to reach is over quota.")]
    suppressed = _mg("failed", severity="permanent", reason="suppress-bounce", **{"delivery-status": {
        "code": 605, "message": "", "description": "Not delivering to previously bounced address"}})
    assert _mg_events(suppressed) == [_mg_expect(
        "failed", "hard_bounce", code="suppress-bounce", reason="Not delivering to previously bounced address")]
    policy = _mg("failed", severity="permanent", reason="bounce", **{"delivery-status": {
        "code": 554, "message": "5.7.1 Message rejected due to DMARC policy", "enhanced-code": "5.7.1"}})
    assert _mg_events(policy)[0]["status"] == "soft_bounce"
    complained = _mg("failed", severity="permanent", reason="suppress-complaint")
    assert _mg_events(complained)[0]["status"] == "complained"
    unsub = _mg("failed", severity="permanent", reason="suppress-unsubscribe")
    assert _mg_events(unsub) == [expect_unsubscribe("mailgun:mg-failed", MG_AT, "alice@example.com", contact_id="c-3")]
    old = _mg("failed", severity="temporary", reason="old", **{"delivery-status": {"code": 498, "message": "No MX"}})
    assert [e["status"] for e in _mg_events(old)] == ["soft_bounce"]


def test_mailgun_refuses_what_it_cannot_read():
    with pytest.raises(Rejected, match="event-data"):
        mailgun.parse(J({"signature": {"timestamp": "1", "token": "t", "signature": "s"}}))
    with pytest.raises(Rejected, match="message-id"):
        mailgun.events(mailgun.parse(J({"event-data": {"event": "delivered", "id": "x", "timestamp": 1,
                                                       "recipient": "a@example.com"}})), C)


# -- Postmark ------------------------------------------------------------------------------

PM_MID = "883953f4-6105-42a2-a16a-77a8eac79483"


def _pm_bounce(type_, details, type_code=1, **extra):
    return J(dict({"RecordType": "Bounce", "ID": 4323372036854775807, "Type": type_, "TypeCode": type_code,
                   "Name": type_, "Tag": "Invitation", "MessageID": PM_MID, "ServerID": 23,
                   "MessageStream": "outbound", "Description": "The server was unable to deliver your message.",
                   "Details": details, "Email": "Zaphod@example.com", "From": "sender@example.com",
                   "BouncedAt": "2019-11-05T16:33:54.9070259Z", "DumpAvailable": True, "Inactive": True,
                   "CanActivate": True, "Subject": "Test subject", "Metadata": {"contact_id": "c-5"}}, **extra))


PM_AT = "2019-11-05T16:33:54.907025Z"


@pytest.mark.parametrize("type_, details, status, code", [
    ("HardBounce", "smtp;550 5.1.1 The email account that you tried to reach does not exist.", "hard_bounce", "5.1.1"),
    ("HardBounce", "smtp;550 5.7.1 Message rejected due to local policy", "soft_bounce", "5.7.1"),
    ("SoftBounce", "smtp;452 4.2.2 Mailbox full", "soft_bounce", "4.2.2"),
    ("Transient", "smtp;421 4.4.2 Connection timed out", "deferred", "4.4.2"),
    ("DnsError", "", "soft_bounce", "DnsError"),
    ("Blocked", "smtp;554 Message blocked", "soft_bounce", "554"),
    ("BadEmailAddress", "", "hard_bounce", "BadEmailAddress"),
    ("SpamNotification", "", "soft_bounce", "SpamNotification"),
])
def test_postmark_bounce_types(type_, details, status, code):
    reason = " ".join(details.split()) or "The server was unable to deliver your message."
    assert canon(postmark.events(_pm_bounce(type_, details), C)) == [
        expect("postmark:4323372036854775807", PM_AT, "Zaphod@example.com", PM_MID, status, reason=reason, code=code,
               contact_id="c-5")]


def test_postmark_autoresponder_and_challenge_are_not_bounces_and_unsubscribe_is_an_unsubscribe():
    assert postmark.events(_pm_bounce("AutoResponder", "I am on vacation until Monday", 64), C) == []
    assert postmark.events(_pm_bounce("ChallengeVerification", "Please verify you are human", 4096), C) == []
    assert canon(postmark.events(_pm_bounce("Unsubscribe", "please remove me", 16), C)) == [
        expect_unsubscribe("postmark:4323372036854775807", PM_AT, "Zaphod@example.com", contact_id="c-5")]


def test_postmark_spam_complaint_delivery_open_subscription_change():
    complaint = J({"RecordType": "SpamComplaint", "MessageStream": "outbound", "ID": 42, "Type": "SpamComplaint",
                   "TypeCode": 100001, "Name": "Spam complaint", "Tag": "Test", "MessageID": PM_MID, "ServerID": 1234,
                   "Description": "", "Details": "Test spam complaint details", "Email": "john@example.com",
                   "From": "sender@example.com", "BouncedAt": "2019-11-05T16:33:54.9070259Z", "DumpAvailable": True,
                   "Inactive": True, "CanActivate": False, "Subject": "Test subject"})
    assert canon(postmark.events(complaint, C)) == [
        expect("postmark:42", PM_AT, "john@example.com", PM_MID, "complained")]
    delivered = J({"RecordType": "Delivery", "ServerID": 23, "MessageStream": "outbound", "MessageID": PM_MID,
                   "Recipient": "john@example.com", "Tag": "welcome-email", "DeliveredAt": "2019-11-05T16:33:54.9070259Z",
                   "Details": "Test delivery webhook details", "Metadata": {"sendout_id": "so-1"}})
    assert canon(postmark.events(delivered, C)) == [
        expect(f"postmark:{PM_MID}:john@example.com:delivered", PM_AT, "john@example.com", PM_MID, "delivered",
               sendout_id="so-1")]
    opened = J({"RecordType": "Open", "MessageStream": "outbound", "FirstOpen": True, "Client": {"Name": "Chrome"},
                "Platform": "WebMail", "UserAgent": "Mozilla/5.0", "MessageID": PM_MID, "Metadata": {},
                "ReceivedAt": "2019-11-05T16:33:54.9070259Z", "Tag": "welcome-email", "Recipient": "john@example.com"})
    assert canon(postmark.events(opened, C)) == [
        expect(f"postmark:{PM_MID}:john@example.com:open:2019-11-05T16:33:54.9070259Z", PM_AT, "john@example.com",
               PM_MID, "opened")]
    change = {"RecordType": "SubscriptionChange", "MessageID": PM_MID, "ServerID": 123456, "MessageStream": "outbound",
              "ChangedAt": "2020-02-01T10:53:34.416071Z", "Recipient": "bounced-address@wildbit.com",
              "Origin": "Recipient", "SuppressSending": True, "SuppressionReason": "HardBounce", "Tag": "my-tag",
              "Metadata": {"example": "value"}}
    eid = f"postmark:{PM_MID}:bounced-address@wildbit.com:subscription:2020-02-01T10:53:34.416071Z"
    assert canon(postmark.events(J(change), C)) == [
        expect(eid + ":suppress", "2020-02-01T10:53:34.416071Z", "bounced-address@wildbit.com", PM_MID, "hard_bounce",
               reason="suppressed by Postmark after a hard bounce", code="HardBounce")]
    unsub = dict(change, SuppressionReason="ManualSuppression")
    assert canon(postmark.events(J(unsub), C)) == [
        expect_unsubscribe(eid + ":suppress", "2020-02-01T10:53:34.416071Z", "bounced-address@wildbit.com")]
    by_customer = dict(change, SuppressionReason="ManualSuppression", Origin="Customer", MessageID=None)
    assert postmark.events(J(by_customer), C) == []
    reactivated = dict(change, SuppressSending=False, SuppressionReason=None)
    assert canon(postmark.events(J(reactivated), C)) == [
        expect_unsubscribe(eid + ":reactivate", "2020-02-01T10:53:34.416071Z", "bounced-address@wildbit.com",
                           kind="resubscribe")]
    assert postmark.events(J({"RecordType": "Click", "MessageID": PM_MID, "Recipient": "john@example.com"}), C) == []


# -- Twilio SMS status callbacks -----------------------------------------------------------

RECEIVED = datetime(2026, 3, 1, 10, 0, 5, tzinfo=timezone.utc)


def _tw(status, **extra):
    form = {"AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01", "From": "+15017122661",
            "MessageSid": "SM" + "1" * 32, "MessageStatus": status, "SmsSid": "SM" + "1" * 32, "SmsStatus": status,
            "To": "+46701234567", **extra}
    return list(form.items())


SID = "SM" + "1" * 32


@pytest.mark.parametrize("status, error, canonical_status, code, reason", [
    ("sent", None, "sent", None, None),
    ("delivered", None, "delivered", None, None),
    ("undelivered", "30003", "soft_bounce", "30003", "Unreachable destination handset"),
    ("undelivered", "30005", "hard_bounce", "30005", "Unknown destination handset"),
    ("undelivered", "30006", "hard_bounce", "30006", "Landline or unreachable carrier"),
    ("undelivered", "30007", "soft_bounce", "30007", "Message filtered (carrier violation)"),
    ("undelivered", "30008", "undelivered", "30008", "Unknown error"),
    ("undelivered", "30036", "validity_expired", "30036", "Validity period expired"),
    ("failed", "30034", "soft_bounce", "30034", "Message from an unregistered number"),
    ("undelivered", None, "undelivered", None, None),
])
def test_twilio_statuses_and_error_codes(status, error, canonical_status, code, reason):
    params = _tw(status, **({"ErrorCode": error} if error else {}))
    assert canon(twilio.events(params, C, RECEIVED)) == [
        expect(f"twilio:{SID}:{status}", "2026-03-01T10:00:05Z", "+46701234567", SID, canonical_status,
               channel="sms", code=code, reason=reason)]


def test_twilio_queued_is_nothing_yet_and_dlr_date_is_the_event_time():
    assert twilio.events(_tw("queued"), C, RECEIVED) == []
    assert twilio.events(_tw("sending"), C, RECEIVED) == []
    out = canon(twilio.events(_tw("delivered", RawDlrDoneDate="2603011002"), C, RECEIVED))
    assert out[0]["occurred_at"] == "2026-03-01T10:02:00Z"
    assert canon(twilio.events(_tw("undelivered", ErrorCode="21610"), C, RECEIVED)) == [
        expect_unsubscribe(f"twilio:{SID}:undelivered", "2026-03-01T10:00:05Z", "+46701234567", channel="sms")]
    with pytest.raises(Rejected, match="To"):
        twilio.events([("MessageSid", SID), ("MessageStatus", "sent")], C, RECEIVED)


# -- the contract itself -------------------------------------------------------------------

def test_canonical_object_or_array():
    one = {"type": "delivery", "event_id": "ev-1", "occurred_at": "2026-03-01T10:00:00Z", "channel": "email",
           "address": "Anna@Example.com", "message_id": "m-1", "status": "soft_bounce", "bounce_reason": "Mailbox full",
           "bounce_code": "4.2.2"}
    unsub = {"type": "unsubscribe", "event_id": "ev-2", "occurred_at": "2026-03-01T10:00:00Z", "channel": "email",
             "address": "anna@example.com"}
    assert canon(canonical.events(J(one))) == [dict(one, sendout_id=None, contact_id=None)]
    assert canon(canonical.events(J([one, unsub]))) == [dict(one, sendout_id=None, contact_id=None),
                                                        dict(unsub, contact_id=None)]
    with pytest.raises(Rejected, match=r"event 1: .*\$.status"):
        canonical.events(J([one, dict(one, status="bounced")]))
    with pytest.raises(Rejected, match="tick"):
        canonical.events(J({"type": "tick", "at": "2026-03-04T10:00:00Z"}))
    with pytest.raises(Rejected, match="not valid JSON"):
        canonical.events(b"{")


@pytest.mark.parametrize("done, expected", [
    ("2603011000", "2026-03-01T10:00:00Z"),   # UTC, five seconds before the callback: taken
    ("2603011100", "2026-03-01T10:00:05Z"),   # a carrier at UTC+1 writes local time: an hour ahead, not taken
    ("2603010500", "2026-03-01T10:00:05Z"),   # a carrier at UTC-5: five hours behind, not taken
    ("2603010940", "2026-03-01T10:00:05Z"),   # 20 minutes before the callback: outside the window
    ("26030110", "2026-03-01T10:00:05Z"),     # not YYMMDDhhmm: the arrival, not a refused callback
])
def test_twilio_raw_dlr_done_date_only_where_it_agrees_with_the_arrival(done, expected):
    out = canon(twilio.events(_tw("delivered", RawDlrDoneDate=done), C, RECEIVED))
    assert out[0]["occurred_at"] == expected
