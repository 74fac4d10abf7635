"""Bounce mail: RFC 3464 DSNs (multi-recipient, every Action), RFC 5965 ARF complaints,
and auto-replies, which are not bounces."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateways.classify import default_classifier
from gateways.common import Rejected
from gateways.mail import parse
from tests.gateway_helpers import canon, expect

MAIL = Path(__file__).parent / "mail"
C = default_classifier()


def _parse(name):
    return parse((MAIL / name).read_bytes(), C)


def test_multi_recipient_postfix_dsn():
    result = _parse("postfix-multi.eml")
    dsn = "dsn:20260301100500.4Qx@mx.shop.example"
    ids = dict(contact_id="c-1", sendout_id="so-7")
    assert result.kind == "dsn"
    assert canon(result.events) == [
        expect(f"{dsn}:anna@example.com:failed", "2026-03-01T10:05:00Z", "anna@example.com", "m-100@shop.example",
               "hard_bounce", code="5.1.1", **ids,
               reason="smtp; 550 5.1.1 <anna@example.com>: Recipient address rejected: User unknown in virtual mailbox table"),
        expect(f"{dsn}:bob@example.org:failed", "2026-03-01T10:05:00Z", "bob@example.org", "m-100@shop.example",
               "soft_bounce", code="5.7.1", **ids,
               reason="smtp; 550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"),
        expect(f"{dsn}:carl@example.net:failed", "2026-03-06T10:00:00Z", "carl@example.net", "m-100@shop.example",
               "soft_bounce", code="4.4.7", **ids,
               reason="X-Postfix; delivery temporarily suspended: connect to mx.example.net[192.0.2.9]:25: Connection timed out"),
        expect(f"{dsn}:dora@example.com:delayed", "2026-03-01T10:05:00Z", "dora@example.com", "m-100@shop.example",
               "deferred", code="4.2.2", reason="smtp; 452 4.2.2 Mailbox full", **ids),
        expect(f"{dsn}:erik@example.com:delivered", "2026-03-01T10:05:00Z", "erik@example.com", "m-100@shop.example",
               "delivered", **ids),
    ]


def test_dsn_without_returned_headers_uses_the_envelope_id():
    result = _parse("exchange-envid.eml")
    assert canon(result.events) == [
        expect("dsn:env-42:fia@corp.example:failed", "2026-03-02T08:00:00Z", "fia@corp.example", "env-42",
               "hard_bounce", code="5.4.1",
               reason="smtp;550 5.4.1 Recipient address rejected: Access denied. AS(201806281)")]


def test_the_same_dsn_twice_gives_the_same_event_ids():
    assert canon(_parse("postfix-multi.eml").events) == canon(_parse("postfix-multi.eml").events)


def test_arf_abuse_report_is_a_complaint():
    result = _parse("arf-abuse.eml")
    assert result.kind == "arf"
    assert canon(result.events) == [
        expect("arf:fbl-777@mailbox.example:gus@mailbox.example", "2026-03-05T14:00:00Z", "gus@mailbox.example",
               "m-101@shop.example", "complained", code="abuse")]


def test_arf_not_spam_is_skipped_as_what_it_is():
    raw = (MAIL / "arf-abuse.eml").read_bytes()
    result = parse(raw.replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam"), C)
    assert (result.events, result.skipped) == ([], "feedback report (not-spam)")


@pytest.mark.parametrize("to", [b"To: undisclosed-recipients:;\n", b"To: <Undisclosed Recipients>\n",
                                b"To: redacted@mailbox.example\n", b""])
def test_a_redacted_arf_report_gives_no_complaint(to):
    raw = (MAIL / "arf-abuse.eml").read_bytes()
    redacted = raw.replace(b"Original-Rcpt-To: <gus@mailbox.example>\n", b"").replace(b"To: <gus@mailbox.example>\n", to)
    result = parse(redacted, C)
    assert (result.kind, result.events, result.skipped) == ("arf", [], "redacted feedback report")


def test_rfc5965_minimal_report_is_redacted_and_the_maximal_one_a_complaint():
    minimal = parse((MAIL / "corpus/rfc/rfc5965-b1-minimal.eml").read_bytes(), C)
    assert (minimal.events, minimal.skipped) == ([], "redacted feedback report")
    maximal = parse((MAIL / "corpus/rfc/rfc5965-b2-maximum.eml").read_bytes(), C)
    assert [(e.address, e.status) for e in maximal.events] == [("user@example.com", "complained")]


@pytest.mark.parametrize("name", ["vacation.eml", "vacation-no-header.eml"])
def test_auto_replies_are_not_bounces(name):
    result = _parse(name)
    assert (result.kind, result.events) == ("auto-reply", [])


def test_ordinary_mail_is_refused_with_a_reason():
    with pytest.raises(Rejected, match="not a bounce"):
        _parse("ordinary.eml")
    with pytest.raises(Rejected, match="empty"):
        parse(b"", C)


def test_a_recipient_without_action_is_read_from_its_status_class():
    raw = (MAIL / "postfix-multi.eml").read_bytes()
    result = parse(raw.replace(b"Action: failed\nStatus: 5.7.1", b"Status: 5.7.1"), C)
    assert ("bob@example.org", "soft_bounce") in [(e.address, e.status) for e in result.events]


def test_a_dsn_that_names_no_message_is_still_evidence_about_the_address():
    raw = (MAIL / "postfix-multi.eml").read_bytes().replace(b"Message-ID: <m-100@shop.example>\n", b"")
    events = parse(raw, C).events
    assert {e.message_id for e in events} == {"unidentified:20260301100500.4Qx@mx.shop.example"}
    assert ("anna@example.com", "hard_bounce") in [(e.address, e.status) for e in events]


# -- issue 14: bounce mail as the world sends it --------------------------------------------

def _dsn(status_fields: str, returned: str = "message/rfc822", headers: str = "Message-ID: <m-7@shop.example>\n",
         top: str = "") -> bytes:
    """A DSN shaped like the reports of the named MTAs; only the parts under test vary."""
    return (f"From: MAILER-DAEMON@mx.example.net\nTo: bounces@shop.example\nDate: Mon, 02 Mar 2026 09:00:00 +0000\n"
            f"Message-ID: <dsn-1@mx.example.net>\nSubject: Undeliverable\n{top}MIME-Version: 1.0\n"
            f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\n"
            f"--b1\nContent-Type: text/plain\n\nDelivery has failed.\n\n"
            f"--b1\nContent-Type: message/delivery-status\n\n{status_fields}"
            f"--b1\nContent-Type: {returned}\n\n{headers}From: news@shop.example\nTo: anna@example.com\n"
            f"Subject: News\n\n--b1--\n").encode()


def test_a_status_part_ending_with_a_blank_line_is_read_office365_exchange_ses():
    # Office 365, Exchange and SES end the delivery-status part with a blank line: an empty block
    raw = _dsn("Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.outlook.com\n\n"
               "Final-Recipient: rfc822;anna@example.com\nAction: failed\nStatus: 5.1.10\n"
               "Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup\n\n\n")
    result = parse(raw, C)
    assert [(e.address, e.status, e.bounce_code) for e in result.events] == [("anna@example.com", "hard_bounce", "5.1.10")]


def test_original_recipient_is_the_address_the_sender_used():
    raw = _dsn("Reporting-MTA: dns; mx.example.net\n\n"
               "Original-Recipient: rfc822;anna@example.com\nFinal-Recipient: rfc822;anna@sims-ms-daemon\n"
               "Action: failed\nStatus: 5.1.1\n\n"
               "Final-Recipient: rfc822;@relay.example.net:bob@example.org\nAction: failed\nStatus: 5.1.1\n\n")
    assert [e.address for e in parse(raw, C).events] == ["anna@example.com", "bob@example.org"]


@pytest.mark.parametrize("value, what", [("rfc822;|/usr/local/bin/procmail", "pipe"), ("rfc822;/var/mail/anna", "file"),
                                         ("rfc822;@mx.example.net", "domain"), ("x400; /S=nair/O=corp/", "x400"),
                                         ("rfc822;anna@sims-ms-daemon", "invalid email")])
def test_a_recipient_that_is_not_an_address_is_skipped_with_a_reason_and_the_others_published(value, what):
    raw = _dsn("Reporting-MTA: dns; mx.example.net\n\n"
               f"Final-Recipient: {value}\nAction: failed\nStatus: 5.1.1\n\n"
               "Final-Recipient: rfc822;carl@example.net\nAction: failed\nStatus: 5.1.1\n\n")
    result = parse(raw, C)
    assert [e.address for e in result.events] == ["carl@example.net"]
    [skipped] = result.skipped_recipients
    assert what in skipped.reason and skipped.reason.startswith("DSN recipient 1")


@pytest.mark.parametrize("returned", ["message/rfc822-headers", "text/rfc822-headers"])
def test_the_message_id_is_read_from_a_returned_headers_part(returned):
    raw = _dsn("Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822;anna@example.com\n"
               "Action: failed\nStatus: 5.1.1\n\n", returned=returned,
               headers="Message-ID: <m-7@shop.example>\nX-Bounceback-Contact-Id: c-7\n")
    [event] = parse(raw, C).events
    assert (event.message_id, event.contact_id) == ("m-7@shop.example", "c-7")


QMAIL = (b"From: MAILER-DAEMON@mx.example.net\nTo: bounces@shop.example\nDate: Mon, 02 Mar 2026 09:00:00 +0000\n"
         b"Message-ID: <qmail-1@mx.example.net>\nSubject: failure notice\n%s\n"
         b"Hi. This is the qmail-send program at mx.example.net.\n"
         b"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
         b"This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
         b"<anna@example.com>:\n192.0.2.7 does not like recipient.\n"
         b"Remote host said: 550 5.1.1 <anna@example.com>: Recipient address rejected: User unknown\n"
         b"Giving up on 192.0.2.7.\n\n"
         b"--- Below this line is a copy of the message.\n\nMessage-ID: <m-9@shop.example>\n"
         b"From: news@shop.example\nTo: anna@example.com\n\nHello\n")


@pytest.mark.parametrize("marker", [b"Auto-Submitted: auto-replied", b"Auto-Submitted: auto-generated (failure)",
                                    b"X-Autoreply: yes"])
def test_a_bounce_by_its_content_is_never_skipped_as_an_auto_reply(marker):
    result = parse(QMAIL % marker, C)
    assert result.kind == "bounce" and result.skipped is None
    assert [(e.address, e.status, e.bounce_code, e.message_id) for e in result.events] == [
        ("anna@example.com", "hard_bounce", "5.1.1", "m-9@shop.example")]


def test_auto_generated_is_not_a_reply_and_auto_replied_is():
    generated = b"From: system@corp.example\nSubject: Your report\nAuto-Submitted: auto-generated\n\nSee attached.\n"
    with pytest.raises(Rejected, match="not a bounce"):
        parse(generated, C)
    replied = generated.replace(b"auto-generated", b"auto-replied")
    result = parse(replied, C)
    assert (result.skipped, result.events) == ("auto-reply", [])
    assert "Auto-Submitted: auto-replied" in result.note


@pytest.mark.parametrize("name, address, status, code", [
    ("corpus/flufl.bounce/qmail_01.eml", "userx@example.de", "soft_bounce", None),
    ("corpus/flufl.bounce/postfix_01.eml", "xxxxx@local.ie", "hard_bounce", "5.1.1"),
    ("corpus/flufl.bounce/exim_01.eml", "userx@its.example.nl", "hard_bounce", "5.1.1"),
    ("corpus/flufl.bounce/yahoo_03.eml", "userx@example.com", "hard_bounce", None),
    ("corpus/flufl.bounce/simple_07.eml", "userx@example.net", "soft_bounce", None),
    ("corpus/flufl.bounce/groupwise_01.eml", "userx@example.edu", "hard_bounce", None),
])
def test_plain_text_bounces_give_recipient_code_and_diagnostic(name, address, status, code):
    result = parse((MAIL / name).read_bytes(), C)
    assert result.kind == "bounce"
    [event] = result.events
    assert (event.address, event.status, event.bounce_code) == (address, status, code)
    assert event.bounce_reason and address.split("@")[0] in event.bounce_reason.lower()
