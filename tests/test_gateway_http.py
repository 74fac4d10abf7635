"""The gateway over HTTP: signatures (valid, tampered, missing) per provider, size limit,
bad input answered 4xx with the reason and never 500, and nothing published from a
rejected request."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import msgspec
import pytest

from gateways.service.app import Gateway
from gateways import twilio
from gateways.config import GatewayConfig, load
from tests.gateway_helpers import (NOW, Collected, ec_public_b64, mailgun_signature, request, request_text,
                                   rsa_cert, sendgrid_headers, sns_envelope)

J = msgspec.json.encode

SES_BOUNCE = {"notificationType": "Bounce",
              "mail": {"messageId": "ses-m-1", "destination": ["jane@example.com"], "timestamp": "2026-03-01T09:59:00Z"},
              "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "timestamp": "2026-03-01T10:00:01Z",
                         "feedbackId": "fb-1", "bouncedRecipients": [
                             {"emailAddress": "jane@example.com", "status": "5.1.1",
                              "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}}


def _config(tmp_path, text: str = "") -> GatewayConfig:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return load(path)


def _gateway(config, sink=None):
    sink = sink if sink is not None else Collected()
    gw = Gateway(config, sink, clock=lambda: NOW)
    return gw, sink


def _trusted(tmp_path, cert_name="SimpleNotificationService-test.pem", extra=""):
    certs = tmp_path / "sns-certs"
    certs.mkdir(exist_ok=True)
    (certs / cert_name).write_bytes(rsa_cert()[1])
    return _config(tmp_path, f'[ses]\ntrust = "sns-certs"\n{extra}')


# -- Amazon SES via SNS --------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1", "2"])
def test_sns_signed_notification_is_published(tmp_path, version):
    gw, sink = _gateway(_trusted(tmp_path))
    status, body = request(gw.app, "POST", "/webhooks/ses", data=J(sns_envelope(SES_BOUNCE, version=version)))
    assert (status, body) == (200, {"published": 1})
    assert [(e["event_id"], e["status"]) for e in sink.events] == [("ses:fb-1:jane@example.com", "hard_bounce")]


def test_sns_certificate_is_looked_up_by_name_then_among_all_trusted(tmp_path):
    gw, sink = _gateway(_trusted(tmp_path, cert_name="renamed.pem"))
    status, _ = request(gw.app, "POST", "/webhooks/ses", data=J(sns_envelope(SES_BOUNCE)))
    assert status == 200 and len(sink.events) == 1


def test_sns_tampered_unsigned_and_untrusted_are_refused_and_nothing_is_published(tmp_path):
    gw, sink = _gateway(_trusted(tmp_path))
    env = sns_envelope(SES_BOUNCE)
    tampered = dict(env, Message=env["Message"].replace("Permanent", "Transient"))
    assert request(gw.app, "POST", "/webhooks/ses", data=J(tampered))[0] == 403
    unsigned = {k: v for k, v in env.items() if k not in ("Signature", "SignatureVersion")}
    status, body = request(gw.app, "POST", "/webhooks/ses", data=J(unsigned))
    assert status == 401 and "not signed" in body["error"]
    # signed with a key whose certificate is not in the trust path (e.g. one an attacker
    # published at a SigningCertURL of their own): refused, and that URL is never fetched
    from cryptography.hazmat.primitives.asymmetric import rsa
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = sns_envelope(SES_BOUNCE, key=other, cert_url="https://attacker.example/cert.pem")
    status, body = request(gw.app, "POST", "/webhooks/ses", data=J(forged))
    assert status == 403 and "trusted certificate" in body["error"]
    # raw delivery (no SNS envelope) cannot be verified
    assert request(gw.app, "POST", "/webhooks/ses", data=J(SES_BOUNCE))[0] == 401
    assert sink.batches == []


def test_sns_topic_allowlist(tmp_path):
    gw, sink = _gateway(_trusted(tmp_path, extra='topic_arns = ["arn:aws:sns:eu-west-1:123456789012:other"]\n'))
    status, body = request(gw.app, "POST", "/webhooks/ses", data=J(sns_envelope(SES_BOUNCE)))
    assert status == 403 and "TopicArn" in body["error"] and sink.batches == []


def test_sns_subscription_confirmation_is_logged_not_fetched_by_default(tmp_path):
    gw, sink = _gateway(_trusted(tmp_path))
    env = sns_envelope("You have chosen to subscribe to the topic", kind="SubscriptionConfirmation")
    status, body = request(gw.app, "POST", "/webhooks/ses", data=J(env))
    assert (status, body["subscription"], body["why"]) == (200, "logged", "confirm_subscriptions is off")
    assert gw.confirmations == [env["SubscribeURL"]] and sink.batches == []


def test_sns_subscription_confirmation_never_fetches_an_address_outside_aws(tmp_path):
    gw, _ = _gateway(_trusted(tmp_path, extra="confirm_subscriptions = true\n"))
    env = sns_envelope("subscribe", kind="SubscriptionConfirmation")
    env_bad = dict(env, SubscribeURL="https://attacker.example/confirm")
    # re-sign with the changed SubscribeURL so only the host check can refuse it
    from gateways import sns
    from tests.gateway_helpers import rsa_cert as _rc
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    data = sns.string_to_sign(msgspec.json.decode(J(env_bad), type=sns.Envelope))
    env_bad["Signature"] = base64.b64encode(_rc()[0].sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()
    status, body = request(gw.app, "POST", "/webhooks/ses", data=J(env_bad))
    assert (status, body["subscription"]) == (200, "logged")
    assert "sns.<region>.amazonaws.com" in body["why"]


def test_ses_without_trust_accepts_unverified(tmp_path):
    gw, sink = _gateway(_config(tmp_path))
    assert "/webhooks/ses" in gw.unprotected()
    assert request(gw.app, "POST", "/webhooks/ses", data=J(SES_BOUNCE))[0] == 200
    assert len(sink.events) == 1


# -- SendGrid ------------------------------------------------------------------------------

SG = [{"email": "a@example.com", "timestamp": 1772359200, "event": "delivered", "sg_event_id": "e1",
       "sg_message_id": "m1.filter0001"},
      {"email": "b@example.com", "timestamp": 1772359200, "event": "bounce", "type": "bounce", "status": "5.1.1",
       "reason": "550 5.1.1 user unknown", "sg_event_id": "e2", "sg_message_id": "m2.filter0001"}]


def test_sendgrid_signature_valid_tampered_missing(tmp_path):
    gw, sink = _gateway(_config(tmp_path, f'[sendgrid]\npublic_key = "{ec_public_b64()}"\n'))
    body = J(SG)
    headers = sendgrid_headers(body)
    assert request(gw.app, "POST", "/webhooks/sendgrid", data=body, headers=headers) == (200, {"published": 2})
    tampered = body.replace(b"user unknown", b"mailbox full")
    assert request(gw.app, "POST", "/webhooks/sendgrid", data=tampered, headers=headers)[0] == 403
    other_time = dict(headers, **{"X-Twilio-Email-Event-Webhook-Timestamp": "1772359201"})
    assert request(gw.app, "POST", "/webhooks/sendgrid", data=body, headers=other_time)[0] == 403
    status, answer = request(gw.app, "POST", "/webhooks/sendgrid", data=body)
    assert status == 401 and "X-Twilio-Email-Event-Webhook-Signature" in answer["error"]
    assert len(sink.batches) == 1


def test_bad_events_of_a_batch_are_dead_lettered_and_the_good_ones_published(tmp_path):
    gw, sink = _gateway(_config(tmp_path))
    dropped_invalid = {"email": "not-an-address", "timestamp": 1772359200, "event": "dropped", "reason": "Invalid",
                       "sg_event_id": "e3", "sg_message_id": "m3.filter0001"}
    unknown = dict(SG[0], event="teleported", sg_event_id="e4")
    batch = SG + [dropped_invalid, unknown]
    status, body = request(gw.app, "POST", "/webhooks/sendgrid", data=J(batch))
    assert status == 200 and (body["published"], body["dead_lettered"]) == (2, 2)
    assert [e["event_id"] for e in sink.events] == ["sendgrid:e1", "sendgrid:e2"]
    letters = {letter.item: (letter.reason, letter.raw, letter.source) for letter in sink.letters}
    assert letters.keys() == {"SendGrid event 2", "SendGrid event 3"}
    assert "$.address" in letters["SendGrid event 2"][0] and letters["SendGrid event 2"][1] == J(dropped_invalid)
    assert "teleported" in letters["SendGrid event 3"][0] and letters["SendGrid event 3"][1] == J(unknown)
    assert {source for _, _, source in letters.values()} == {"gateway /webhooks/sendgrid SendGrid event 2",
                                                             "gateway /webhooks/sendgrid SendGrid event 3"}
    assert [d["item"] for d in body["dead_letters"]] == ["SendGrid event 2", "SendGrid event 3"]
    metrics = request_text(gw.app, "/metrics")
    assert 'bounceback_gateway_dead_letters_total{route="/webhooks/sendgrid"} 2.0' in metrics
    # a body that is not SendGrid's format at all is still refused whole
    assert request(gw.app, "POST", "/webhooks/sendgrid", data=J({"email": "a@example.com"}))[0] == 400


def test_a_single_event_webhook_with_a_bad_address_is_dead_lettered_not_refused(tmp_path):
    gw, sink = _gateway(_config(tmp_path))
    hook = msgspec.json.decode(_mg(mailgun_signature(MG_KEY)))
    hook["event-data"]["recipient"] = "alice at example.com"
    status, body = request(gw.app, "POST", "/webhooks/mailgun", data=J(hook))
    assert (status, body["published"], body["dead_lettered"]) == (200, 0, 1)
    [letter] = sink.letters
    assert letter.raw == J(hook) and "$.address" in letter.reason


# -- Mailgun -------------------------------------------------------------------------------

MG_KEY = "key-0123456789abcdef"


def _mg(signature):
    return J({"signature": signature, "event-data": {
        "event": "failed", "id": "mg-1", "timestamp": 1772359200, "severity": "permanent", "reason": "bounce",
        "recipient": "alice@example.com", "message": {"headers": {"message-id": "mg-m-1@shop.example"}},
        "delivery-status": {"code": 550, "message": "5.1.1 mailbox does not exist"}}})


def test_mailgun_signature_valid_tampered_missing(tmp_path):
    gw, sink = _gateway(_config(tmp_path, f'[mailgun]\nsigning_key = "{MG_KEY}"\n'))
    good = mailgun_signature(MG_KEY)
    assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(good)) == (200, {"published": 1})
    assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(dict(good, token="b" * 50)))[0] == 403
    assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(mailgun_signature("wrong-key")))[0] == 403
    no_sig = msgspec.json.decode(_mg(good))
    del no_sig["signature"]
    assert request(gw.app, "POST", "/webhooks/mailgun", data=J(no_sig))[0] == 401
    assert [e["status"] for e in sink.events] == ["hard_bounce"]


# -- Postmark ------------------------------------------------------------------------------

PM = J({"RecordType": "Delivery", "MessageID": "pm-1", "Recipient": "john@example.com",
        "DeliveredAt": "2026-03-01T10:00:00Z", "Details": "ok"})


def _basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_postmark_basic_auth_and_header_token(tmp_path):
    gw, sink = _gateway(_config(tmp_path, '[postmark]\nusername = "pm"\npassword = "s3cret"\n'
                                          'header_name = "X-Webhook-Token"\nheader_value = "tok"\n'))
    ok = dict(_basic("pm", "s3cret"), **{"X-Webhook-Token": "tok"})
    assert request(gw.app, "POST", "/webhooks/postmark", data=PM, headers=ok) == (200, {"published": 1})
    assert request(gw.app, "POST", "/webhooks/postmark", data=PM, headers=dict(ok, **_basic("pm", "guess")))[0] == 403
    assert request(gw.app, "POST", "/webhooks/postmark", data=PM, headers={"X-Webhook-Token": "tok"})[0] == 401
    assert request(gw.app, "POST", "/webhooks/postmark", data=PM, headers=_basic("pm", "s3cret"))[0] == 401
    assert request(gw.app, "POST", "/webhooks/postmark", data=PM,
                   headers=dict(ok, **{"X-Webhook-Token": "nope"}))[0] == 403
    assert len(sink.batches) == 1


# -- Twilio --------------------------------------------------------------------------------

TW_URL = "https://hooks.shop.example/webhooks/twilio?tenant=1"
TW = [("AccountSid", "AC" + "0" * 32), ("ErrorCode", "30005"), ("From", "+15017122661"),
      ("MessageSid", "SM" + "1" * 32), ("MessageStatus", "undelivered"), ("To", "+46701234567")]


def test_twilio_signature_valid_tampered_missing(tmp_path):
    gw, sink = _gateway(_config(tmp_path, f'[twilio]\nauth_token = "12345"\nurl = "{TW_URL}"\n'))
    headers = {"X-Twilio-Signature": twilio.signature(TW_URL, TW, "12345"),
               "Content-Type": "application/x-www-form-urlencoded"}
    assert request(gw.app, "POST", "/webhooks/twilio", data=urlencode(TW), headers=headers) == (200, {"published": 1})
    tampered = [(k, "30003" if k == "ErrorCode" else v) for k, v in TW]
    assert request(gw.app, "POST", "/webhooks/twilio", data=urlencode(tampered), headers=headers)[0] == 403
    assert request(gw.app, "POST", "/webhooks/twilio", data=urlencode(TW),
                   headers={"Content-Type": "application/x-www-form-urlencoded"})[0] == 401
    assert [(e["channel"], e["status"], e["bounce_code"]) for e in sink.events] == [("sms", "hard_bounce", "30005")]


def test_twilio_signature_is_the_documented_example():
    # Twilio's documented example: this URL and these parameters with auth token 12345
    params = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"),
              ("From", "+12349013030"), ("To", "+18005551212")]
    assert twilio.signature("https://mycompany.com/myapp.php?foo=1&bar=2", params, "12345") == \
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


# -- the contract and bounce mail ---------------------------------------------------------

def test_canonical_with_bearer_token(tmp_path):
    gw, sink = _gateway(_config(tmp_path, '[canonical]\ntoken = "t0k"\n'))
    event = {"type": "delivery", "event_id": "ev-1", "occurred_at": "2026-03-01T10:00:00Z", "channel": "email",
             "address": "Anna@Example.com", "message_id": "m-1", "status": "hard_bounce"}
    auth = {"Authorization": "Bearer t0k"}
    assert request(gw.app, "POST", "/events", json=[event, dict(event, event_id="ev-2")], headers=auth) == \
        (200, {"published": 2})
    assert sink.events[0]["address"] == "anna@example.com"  # normalised before publishing
    assert request(gw.app, "POST", "/events", json=event)[0] == 401
    assert request(gw.app, "POST", "/events", json=event, headers={"Authorization": "Bearer nope"})[0] == 403


def test_mail_endpoint(tmp_path):
    from pathlib import Path
    gw, sink = _gateway(_config(tmp_path))
    raw = (Path(__file__).parent / "mail" / "postfix-multi.eml").read_bytes()
    assert request(gw.app, "POST", "/mail", data=raw) == (200, {"published": 5, "kind": "dsn"})
    status, body = request(gw.app, "POST", "/mail", data=b"Subject: hi\n\nhello")
    assert status == 400 and "not a bounce" in body["error"]


def test_skipped_mail_is_answered_with_what_it_was_skipped_as_and_counted(tmp_path):
    from pathlib import Path
    gw, sink = _gateway(_config(tmp_path))
    mail = Path(__file__).parent / "mail"
    status, body = request(gw.app, "POST", "/mail", data=(mail / "vacation.eml").read_bytes())
    assert (status, body["published"], body["skipped"]) == (200, 0, "auto-reply") and "auto-repl" in body["reason"]
    status, body = request(gw.app, "POST", "/mail", data=(mail / "corpus/rfc/rfc5965-b1-minimal.eml").read_bytes())
    assert (status, body["published"], body["skipped"]) == (200, 0, "redacted feedback report")
    metrics = request_text(gw.app, "/metrics")
    assert 'bounceback_gateway_mail_skipped_total{skipped_as="auto-reply"} 1.0' in metrics
    assert 'bounceback_gateway_mail_skipped_total{skipped_as="redacted feedback report"} 1.0' in metrics
    assert sink.batches == []


MIXED_DSN = (b"From: MAILER-DAEMON@mx.example.net\nTo: bounces@shop.example\nDate: Mon, 02 Mar 2026 09:00:00 +0000\n"
             b"Message-ID: <dsn-9@mx.example.net>\nSubject: Undeliverable\nMIME-Version: 1.0\n"
             b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
             b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
             b"Final-Recipient: rfc822;anna@example.com\nAction: failed\nStatus: 5.1.1\n\n"
             b"Final-Recipient: rfc822;bob@localhost\nAction: failed\nStatus: 5.1.1\n\n"
             b"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <m-5@shop.example>\n\n--b--\n")


def test_the_same_mail_gives_the_same_events_over_http_and_ingest_mail(tmp_path):
    from click.testing import CliRunner

    from bounceback.cli import main
    gw, sink = _gateway(_config(tmp_path))
    status, body = request(gw.app, "POST", "/mail", data=MIXED_DSN)
    assert (status, body["published"]) == (200, 1)
    assert [s["recipient"] for s in body["skipped_recipients"]] == ["rfc822;bob@localhost"]
    path = tmp_path / "mixed.eml"
    path.write_bytes(MIXED_DSN)
    result = CliRunner().invoke(main, ["ingest-mail", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    printed = [msgspec.json.decode(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert printed == sink.events
    assert "recipient 'rfc822;bob@localhost' skipped" in result.stderr


# -- limits and failures -------------------------------------------------------------------

def test_body_over_the_limit_is_413_and_not_read(tmp_path):
    gw, sink = _gateway(_config(tmp_path, "max_body_bytes = 2048\n"))
    big = J([dict(SG[0], padding="x" * 4000)])
    status, body = request(gw.app, "POST", "/webhooks/sendgrid", data=big)
    assert status == 413 and "2048" in body["error"]

    async def chunks():  # no Content-Length: the limit holds while reading
        yield big

    status, _ = request(gw.app, "POST", "/webhooks/sendgrid", data=chunks())
    assert status == 413 and sink.batches == []


@pytest.mark.parametrize("path, body", [
    ("/webhooks/ses", b"{not json"), ("/webhooks/ses", b"[]"), ("/webhooks/ses", J({"Type": "Notification"})),
    ("/webhooks/sendgrid", b"\xff\xfe"), ("/webhooks/sendgrid", J({"a": 1})), ("/webhooks/sendgrid", J([[1]])),
    ("/webhooks/mailgun", J({"event-data": {"event": 5}})), ("/webhooks/mailgun", b""),
    ("/webhooks/postmark", J({"RecordType": "Bounce"})), ("/webhooks/postmark", J({"RecordType": "Delivery", "MessageID": 3})),
    ("/webhooks/twilio", b"%%%=&&"), ("/webhooks/twilio", b"MessageStatus=delivered"),
    ("/events", J({"type": "tick", "at": "2026-03-01T00:00:00Z"})), ("/events", J([])), ("/mail", b"\x00\x01"),
    ("/webhooks/ses", J({"notificationType": "Bounce", "mail": {"messageId": "m"}, "bounce": {
        "bounceType": "Permanent", "timestamp": "yesterday", "feedbackId": "f",
        "bouncedRecipients": [{"emailAddress": "a@example.com"}]}})),
])
def test_bad_input_is_400_with_a_reason_never_500(tmp_path, path, body):
    gw, sink = _gateway(_config(tmp_path))
    status, answer = request(gw.app, "POST", path, data=body)
    assert status == 400 and answer["error"]
    assert sink.batches == []


def test_broker_failure_is_503_so_the_provider_retries(tmp_path):
    gw, _ = _gateway(_config(tmp_path), sink=Collected(fail=True))
    status, body = request(gw.app, "POST", "/webhooks/sendgrid", data=J(SG))
    assert status == 503 and "retry" in body["error"]


def test_config_errors_are_named(tmp_path):
    with pytest.raises(ValueError, match="sendgird"):
        _config(tmp_path, "[sendgird]\npublic_key = 'x'\n")
    with pytest.raises(ValueError, match="username and password"):
        _config(tmp_path, "[postmark]\nusername = 'x'\n")
    with pytest.raises(ValueError, match="no certificate"):
        (tmp_path / "empty").mkdir()
        Gateway(_config(tmp_path, '[ses]\ntrust = "empty"\n'), Collected())
