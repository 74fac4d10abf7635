"""The classifier over real-world SMTP replies and provider codes: the soft/hard decision
as a deliverability engineer makes it, including the known traps."""

from __future__ import annotations

import pytest

from gateways.classify import Classifier, RulesError, enhanced_code, smtp_code
from gateways.classify import default_classifier

C = default_classifier()

# (provider, types, stated status, diagnostic text, final?) -> status
CASES = [
    # address does not exist: hard
    ("dsn", (), "5.1.1", "smtp; 550 5.1.1 <anna@example.com>: Recipient address rejected: User unknown in virtual mailbox table", "hard_bounce"),
    ("dsn", (), "5.1.1", "smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking", "hard_bounce"),
    ("dsn", (), "5.0.0", "smtp; 550 5.1.1 <x@outlook.com>: Recipient address rejected: Access denied", "hard_bounce"),
    ("dsn", (), None, "smtp; 554 delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0]", "hard_bounce"),
    ("dsn", (), "5.5.0", "smtp; 550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302)", "hard_bounce"),
    ("dsn", (), None, "smtp; 550 No such user here", "hard_bounce"),
    ("dsn", (), None, "smtp; 550 <bob@example.org>... User unknown", "hard_bounce"),
    ("dsn", (), "5.1.2", "smtp; 550 5.1.2 Host unknown (Name server: example.invalid: host not found)", "hard_bounce"),
    ("dsn", (), "5.4.4", "smtp; 554 5.4.4 [internal] Domain Lookup Failed", "hard_bounce"),
    ("dsn", (), "5.1.10", "smtp; 556 5.1.10 Recipient address has null MX", "hard_bounce"),
    ("dsn", (), "5.2.1", "smtp; 550 5.2.1 The email account that you tried to reach is disabled.", "hard_bounce"),
    ("dsn", (), "5.0.0", "Host or domain name not found. Name service error for name=example.invalid type=A: Host not found", "hard_bounce"),
    ("dsn", (), "5.1.6", "smtp; 551 5.1.6 Recipient no longer on server", "hard_bounce"),
    ("dsn", (), "5.0.0", "smtp; 550 Unrouteable address", "hard_bounce"),
    ("dsn", (), "5.1.3", "smtp; 501 5.1.3 Bad recipient address syntax", "hard_bounce"),
    # Office 365 directory-based edge blocking: 5.4.1 looks like routing, means no such recipient
    ("dsn", (), "5.4.1", "smtp; 550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [DM6NAM12FT034.eop-nam12.prod.protection.outlook.com]", "hard_bounce"),
    # the 5.7.x trap: policy and reputation say nothing about the address
    ("dsn", (), "5.7.1", "smtp; 550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", "soft_bounce"),
    ("dsn", (), "5.7.26", "smtp; 550-5.7.26 This mail is unauthenticated, which poses a security risk to the sender and Gmail users", "soft_bounce"),
    ("dsn", (), "5.7.1", "smtp; 550 5.7.1 [IPTS04] Messages from 192.0.2.1 are not accepted due to policy reasons", "soft_bounce"),
    ("dsn", (), "5.7.9", "smtp; 554 5.7.9 Message not accepted for policy reasons", "soft_bounce"),
    ("dsn", (), "5.7.1", "smtp; 554 5.7.1 <a@b>: Relay access denied", "soft_bounce"),
    ("dsn", (), "5.7.606", "smtp; 550 5.7.606 Access denied, banned sending IP [192.0.2.1]", "soft_bounce"),
    ("dsn", (), "5.7.1", "smtp; 550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Part of their network is on our block list (S3150)", "soft_bounce"),
    ("dsn", (), "5.7.1", "smtp; 550 5.7.1 Message rejected as spam by Content Filtering", "soft_bounce"),
    ("dsn", (), None, "smtp; 554 Service unavailable; Client host [192.0.2.1] blocked using Barracuda Reputation", "soft_bounce"),
    ("dsn", (), "5.0.0", "smtp; 550 5.0.0 Your IP 192.0.2.1 is listed at b.barracudacentral.org", "soft_bounce"),
    # mailbox full (5.2.2) is soft, even dressed as something else
    ("dsn", (), "5.2.2", "smtp; 552 5.2.2 Mailbox full", "soft_bounce"),
    ("dsn", (), "5.2.2", "smtp; 552-5.2.2 The email account that you tried to reach is over quota", "soft_bounce"),
    ("dsn", (), "5.0.0", "smtp; 550 5.1.1 Quota exceeded (mailbox for user is full)", "soft_bounce"),
    ("dsn", (), None, "smtp; 554 Mailbox size limit exceeded", "soft_bounce"),
    # 4.4.7 in a final report: delivery time expired, a soft bounce (not a deferral)
    ("dsn", (), "4.4.7", "Delivery time expired", "soft_bounce"),
    ("dsn", (), "4.4.1", "connect to mx.example.net[192.0.2.9]:25: Connection timed out", "soft_bounce"),
    ("dsn", (), "5.4.7", "retry timeout exceeded", "soft_bounce"),
    # other permanent failures that say nothing about the address
    ("dsn", (), "5.3.4", "smtp; 552 5.3.4 Message size exceeds fixed limit", "soft_bounce"),
    ("dsn", (), "5.6.0", "smtp; 554 5.6.0 Message contains invalid header", "soft_bounce"),
    ("dsn", (), "5.0.0", "smtp; 550 5.0.0 something nobody wrote a rule for", "soft_bounce"),
    ("dsn", (), None, "smtp; 550 Too many messages, rate limited, try again later", "soft_bounce"),
    # auto-replies are not bounces
    ("dsn", (), None, "Out of Office: I am on vacation until Monday", "ignore"),
    # providers' own types
    ("ses", ("Permanent/General", "Permanent"), None, None, "hard_bounce"),
    ("ses", ("Transient/General", "Transient"), None, None, "soft_bounce"),
    ("ses", ("Permanent/General", "Permanent"), "5.2.2", "smtp; 552 5.2.2 Mailbox full", "soft_bounce"),
    ("postmark", ("HardBounce",), None, "smtp;550 5.1.1 unknown user", "hard_bounce"),
    ("postmark", ("AutoResponder",), None, "Thank you for your mail, I will reply soon", "ignore"),
    ("postmark", ("SoftBounce",), None, None, "soft_bounce"),
    ("sendgrid", ("Invalid Address", "bounce"), "5.0.0", "550 Invalid recipient", "hard_bounce"),
    ("sendgrid", (None, "blocked"), "4.0.0", "421 Service not available", "soft_bounce"),
    ("mailgun", ("suppress-bounce", "permanent"), None, "Not delivering to previously bounced address", "hard_bounce"),
    ("arf", ("abuse",), None, None, "complained"),
    ("arf", ("not-spam",), None, None, "ignore"),
    # SMS carrier error codes
    ("twilio", ("30003",), None, None, "soft_bounce"),
    ("twilio", ("30005",), None, None, "hard_bounce"),
    ("twilio", ("30006",), None, None, "hard_bounce"),
    ("twilio", ("30007",), None, None, "soft_bounce"),
    ("twilio", ("30036",), None, None, "validity_expired"),
]


def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("provider, types, status, text, expected", CASES,
                         ids=[f"{i}-{c[0]}-{c[2] or ''}" for i, c in enumerate(CASES)])
def test_classification(provider, types, status, text, expected):
    assert C.classify(provider, types, status=status, text=text, default="soft_bounce").status == expected


def test_a_transient_code_in_a_report_that_is_not_final_is_a_deferral():
    assert C.classify("dsn", (), status="4.4.1", text="421 4.4.1 timed out", final=False).status == "deferred"


def test_bounce_code_and_reason_are_kept():
    v = C.classify("dsn", (), status="5.0.0", text="smtp; 550 5.1.1 <a@b.example>: User unknown")
    assert (v.status, v.code, v.reason) == ("hard_bounce", "5.1.1", "smtp; 550 5.1.1 <a@b.example>: User unknown")
    v = C.classify("twilio", ("30005",))
    assert (v.code, v.reason) == ("30005", "Unknown destination handset")


def test_code_extraction():
    assert enhanced_code("smtp; 550-5.1.1 The email account") == "5.1.1"
    assert enhanced_code("550 5.7.26 unauthenticated") == "5.7.26"
    assert enhanced_code("version 1.2.3.4") is None
    assert smtp_code("smtp; 550-5.1.1 x") == "550"
    assert smtp_code("nothing here") is None


def test_user_rules_are_tried_first(tmp_path):
    override = tmp_path / "rules.toml"
    override.write_text('[[rule]]\ncode = "5.7.1"\ntext = "hard block"\nstatus = "hard_bounce"\n'
                        '[[rule]]\nprovider = "twilio"\ntype = "30003"\nstatus = "undelivered"\n')
    c = Classifier(override=override)
    assert c.classify("dsn", (), status="5.7.1", text="550 5.7.1 hard block").status == "hard_bounce"
    assert c.classify("dsn", (), status="5.7.1", text="550 5.7.1 policy").status == "soft_bounce"
    assert c.classify("twilio", ("30003",)).status == "undelivered"


@pytest.mark.parametrize("text, message", [
    ('[[rule]]\nstatus = "hard_bounce"\n', "needs at least one of"),
    ('[[rule]]\ncode = "5.x"\nstatus = "hard_bounce"\n', "class.subject.detail"),
    ('[[rule]]\ntext = "("\nstatus = "hard_bounce"\n', "not a regular expression"),
    ('[[rule]]\ncode = "5.1.1"\nstatus = "dead"\n', "status"),
    ('[[rule]]\ncode = "5.1.1"\nstatus = "hard_bounce"\ncolour = "red"\n', "colour"),
])
def test_a_bad_rules_file_is_refused_naming_the_rule(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RulesError, match=message):
        Classifier(override=path)


# issue 14: classification misses seen in real bounce mail, each checked against RFC 3463 and
# the IANA registry of enhanced status codes (docs/decisions.md: the registry, code by code)
ISSUE_14 = [
    # Lotus Notes' user unknown contains "listed in", which the block-list rule must not take
    ("dsn", (), "5.1.1", "X-Notes; User jane (jane@corp.example) not listed in public Name & Address Book", "hard_bounce"),
    ("dsn", (), "5.0.0", "X-Notes; Recipient jane not listed in Domino Directory", "hard_bounce"),
    # RFC 7293 (RRVS) and RFC 5248: the mailbox changed owner, the account is disabled
    ("dsn", (), "5.7.17", "smtp; 550 5.7.17 Mailbox owner has changed", "hard_bounce"),
    ("dsn", (), "5.7.18", "smtp; 550 5.7.18 Domain owner has changed", "hard_bounce"),
    ("dsn", (), "5.7.13", "smtp; 525 5.7.13 User account disabled", "hard_bounce"),
    ("dsn", (), "5.0.0", "smtp; 550 No such domain at this location", "hard_bounce"),
    # a null MX (RFC 7505) is about the domain even when the reporting MTA says 4.0.0
    ("dsn", (), "4.0.0", "X-Postfix; Domain example.net does not accept mail (nullMX)", "hard_bounce"),
    # Gmail's rate limit is soft even when it comes with 5.2.1
    ("dsn", (), "5.2.1", "smtp; 550-5.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered", "soft_bounce"),
    # a 5.1.x about the sender's own address is no evidence about the recipient
    ("dsn", (), "5.1.0", "smtp; 550 5.1.0 <news@shop.example> sender rejected", "soft_bounce"),
    ("dsn", (), "5.1.0", "smtp; 450 Sender address rejected: Domain not found", "soft_bounce"),
    ("dsn", (), "5.1.8", "smtp; 553 5.1.8 <news@shop.example>... Domain of sender address does not exist", "soft_bounce"),
    # a user-unknown text wins over the 5.7.1 some servers give it
    ("dsn", (), "5.7.1", "smtp; 554 5.7.1 <x@inbox.example>: Recipient address rejected: Nonexistent user", "hard_bounce"),
]


@pytest.mark.parametrize("provider, types, status, text, expected", ISSUE_14)
def test_issue_14_classification(provider, types, status, text, expected):
    assert C.classify(provider, types, status=status, text=text).status == expected


def test_a_plain_text_bounce_known_to_be_permanent_matches_class_5_rules_without_a_code():
    text = 'thornborrow@connect4free.net: unrouteable mail domain "connect4free.net"'
    assert C.classify("bounce", (), text=text).status == "soft_bounce"
    assert C.classify("bounce", (), text=text, known_class="5").status == "hard_bounce"
