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


def test_arf_not_spam_and_redacted_reports():
    raw = (MAIL / "arf-abuse.eml").read_bytes()
    assert parse(raw.replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam"), C).events == []
    redacted = raw.replace(b"Original-Rcpt-To: <gus@mailbox.example>\n", b"").replace(
        b"To: <gus@mailbox.example>\n", b"To: undisclosed-recipients:;\n")
    with pytest.raises(Rejected, match="redacted"):
        parse(redacted, C)


@pytest.mark.parametrize("name", ["vacation.eml", "vacation-no-header.eml"])
def test_auto_replies_are_not_bounces(name):
    result = _parse(name)
    assert (result.kind, result.events) == ("auto-reply", [])


def test_ordinary_mail_and_broken_reports_are_refused_with_a_reason():
    with pytest.raises(Rejected, match="not a delivery status notification"):
        _parse("ordinary.eml")
    with pytest.raises(Rejected, match="empty"):
        parse(b"", C)
    raw = (MAIL / "postfix-multi.eml").read_bytes()
    with pytest.raises(Rejected, match="DSN recipient 2: `Action` is missing"):
        parse(raw.replace(b"Action: failed\nStatus: 5.7.1", b"Status: 5.7.1"), C)
    no_id = raw.replace(b"Message-ID: <m-100@shop.example>\n", b"")
    with pytest.raises(Rejected, match="cannot tell which message"):
        parse(no_id, C)
