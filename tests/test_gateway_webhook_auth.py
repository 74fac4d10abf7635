"""Webhook authentication over HTTP that a captured request cannot get through again:
freshness windows on the signed timestamps (Mailgun, SendGrid, SNS), Mailgun tokens used
once, malformed credentials refused 401/403 without exception texts, the SNS
SubscribeURL host check, and Twilio's signature over the URL with or without its port.
The providers' own published test vectors are the positive cases; the gateway's clock
is set, never slept for."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import msgspec
import pytest

from gateways.service.app import Gateway
from gateways import mailgun, twilio
from gateways.config import load
from tests.gateway_helpers import (NOW, NOW_UNIX, Clock, Collected, ec_public_b64, mailgun_signature, raw_request,
                                   request, rsa_cert, sendgrid_headers, sns_envelope)

J = msgspec.json.encode
UTC = timezone.utc


def _gateway(tmp_path, config_text: str = "", clock: Clock | None = None, fetch=None, sink=None):
    path = tmp_path / "gateway.toml"
    path.write_text(config_text)
    sink = sink if sink is not None else Collected()
    return Gateway(load(path), sink, clock=clock or Clock(), fetch=fetch), sink


def _unix(offset_seconds: int) -> str:
    return str(int(NOW.timestamp()) + offset_seconds)


def _refused_without_internals(status: int, body: dict, expected: int) -> None:
    assert status == expected, body
    assert "could not interpret" not in body["error"] and "Error" not in body["error"]


# -- Mailgun ---------------------------------------------------------------------------------

MG_KEY = "key-0123456789abcdef"


def _mg(signature: dict, recipient: str = "alice@example.com", event_id: str = "mg-1") -> bytes:
    return J({"signature": signature, "event-data": {
        "event": "failed", "id": event_id, "timestamp": 1772359200, "severity": "permanent", "reason": "bounce",
        "recipient": recipient, "message": {"headers": {"message-id": "mg-m-1@shop.example"}},
        "delivery-status": {"code": 550, "message": "5.1.1 mailbox does not exist"}}})


def _mg_gateway(tmp_path, extra: str = "", clock: Clock | None = None, sink=None):
    return _gateway(tmp_path, f'[mailgun]\nsigning_key = "{MG_KEY}"\n{extra}', clock=clock, sink=sink)


# Mailgun's PHP SDK, tests/MailgunTest.php (testVerifyWebhookGood): signed in June 2014.
MG_SDK_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
MG_SDK_SIGNATURE = {"timestamp": "1403645220", "token": "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6",
                    "signature": "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33"}


def test_mailgun_sdk_vector_verifies_at_its_own_time_and_is_stale_today(tmp_path):
    config = f'[mailgun]\nsigning_key = "{MG_SDK_KEY}"\n'
    signed_at = datetime.fromtimestamp(1403645220, UTC)
    then, sink = _gateway(tmp_path, config, clock=Clock(signed_at + timedelta(seconds=30)))
    assert request(then.app, "POST", "/webhooks/mailgun", data=_mg(MG_SDK_SIGNATURE)) == (200, {"published": 1})
    # the same captured signature with an event of the attacker's choosing, years later
    today, later_sink = _gateway(tmp_path, config)
    status, body = request(today.app, "POST", "/webhooks/mailgun", data=_mg(MG_SDK_SIGNATURE, "victim@example.com"))
    assert status == 403 and "mailgun.window_seconds" in body["error"]
    assert later_sink.batches == [] and len(sink.events) == 1


def test_mailgun_replayed_token_with_other_event_data_is_refused(tmp_path):
    gw, sink = _mg_gateway(tmp_path)
    signature = mailgun_signature(MG_KEY)
    assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(signature)) == (200, {"published": 1})
    forged = _mg(signature, recipient="victim@example.com", event_id="mg-forged")
    status, body = request(gw.app, "POST", "/webhooks/mailgun", data=forged)
    assert status == 403 and "already used" in body["error"]
    # the same request resent verbatim is refused too: the token is spent
    assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(signature))[0] == 403
    assert [e["address"] for e in sink.events] == ["alice@example.com"]


@pytest.mark.parametrize("offset, status", [(-301, 403), (301, 403), (-299, 200), (299, 200),
                                            (-30 * 86400, 403), (365 * 86400, 403)])
def test_mailgun_timestamp_window_allows_skew_both_ways(tmp_path, offset, status):
    gw, sink = _mg_gateway(tmp_path)
    answer = request(gw.app, "POST", "/webhooks/mailgun", data=_mg(mailgun_signature(MG_KEY, timestamp=_unix(offset))))
    assert answer[0] == status
    assert len(sink.batches) == (status == 200)


def test_mailgun_window_is_configurable(tmp_path):
    gw, _ = _mg_gateway(tmp_path, "window_seconds = 60\n")
    assert request(gw.app, "POST", "/webhooks/mailgun",
                   data=_mg(mailgun_signature(MG_KEY, timestamp=_unix(-61), token="c" * 50)))[0] == 403
    assert request(gw.app, "POST", "/webhooks/mailgun",
                   data=_mg(mailgun_signature(MG_KEY, timestamp=_unix(-59), token="d" * 50)))[0] == 200
    with pytest.raises(ValueError, match="window_seconds"):
        _mg_gateway(tmp_path, "window_seconds = 0\n")


def test_mailgun_token_is_kept_until_its_window_closes(tmp_path):
    clock = Clock()
    gw, _ = _mg_gateway(tmp_path, clock=clock)
    signature = mailgun_signature(MG_KEY)
    assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(signature))[0] == 200
    clock.advance(299)
    assert len(gw.mailgun_tokens) == 1
    assert "already used" in request(gw.app, "POST", "/webhooks/mailgun", data=_mg(signature))[1]["error"]
    clock.advance(2)  # the window has closed: the token is forgotten, and the timestamp refuses the request
    assert len(gw.mailgun_tokens) == 0
    assert "window" in request(gw.app, "POST", "/webhooks/mailgun", data=_mg(signature))[1]["error"]


def test_mailgun_token_cache_is_bounded_and_refuses_with_503_rather_than_forget(tmp_path):
    clock = Clock()
    gw, sink = _mg_gateway(tmp_path, "max_tokens = 2\n", clock=clock)
    for token in ("e" * 50, "f" * 50):
        assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(mailgun_signature(MG_KEY, token=token)))[0] == 200
    status, body = request(gw.app, "POST", "/webhooks/mailgun", data=_mg(mailgun_signature(MG_KEY, token="g" * 50)))
    assert status == 503 and "mailgun.max_tokens" in body["error"]
    clock.advance(301)
    fresh = mailgun_signature(MG_KEY, timestamp=_unix(301), token="g" * 50)
    assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(fresh))[0] == 200
    assert len(sink.batches) == 3


def test_mailgun_token_of_a_refused_request_can_be_used_by_the_retry(tmp_path):
    signature = mailgun_signature(MG_KEY)
    failing = Collected(fail=True)
    gw, _ = _mg_gateway(tmp_path, sink=failing)
    assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(signature))[0] == 503
    failing.fail = False  # the broker is back; Mailgun retries with the same signature
    assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(signature)) == (200, {"published": 1})
    assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(signature))[0] == 403
    # refused after the signature check (400): nothing published, the token is not spent either
    # (an address that does not normalise is dead-lettered and answered 200 since issue 14;
    # an event without a recipient is still refused)
    other = mailgun_signature(MG_KEY, token="h" * 50)
    assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(other, recipient=""))[0] == 400
    assert request(gw.app, "POST", "/webhooks/mailgun", data=_mg(other)) == (200, {"published": 1})


def _mg_signed(timestamp, token: str = "a" * 50) -> dict:
    sig = hmac.new(MG_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": sig}


@pytest.mark.parametrize("signature", [
    _mg_signed("yesterday"), _mg_signed("1.772366e9"), _mg_signed("nan"), _mg_signed(" " + NOW_UNIX),
    _mg_signed("١٧٧٢٣٦٦٤٠٠"),  # Arabic-Indic digits: int() would read them
    dict(_mg_signed(NOW_UNIX), signature="é" * 64),  # non-ASCII: hmac.compare_digest raised TypeError
    dict(_mg_signed(NOW_UNIX), signature=12345), dict(_mg_signed(NOW_UNIX), token=["a"]),
])
def test_mailgun_malformed_credentials_are_403_without_internals(tmp_path, signature):
    gw, sink = _mg_gateway(tmp_path)
    status, body = request(gw.app, "POST", "/webhooks/mailgun", data=_mg(signature))
    _refused_without_internals(status, body, 403)
    assert sink.batches == []


# -- SendGrid --------------------------------------------------------------------------------

SG = J([{"email": "a@example.com", "timestamp": 1772359200, "event": "delivered", "sg_event_id": "e1",
         "sg_message_id": "m1.filter0001"}])

# SendGrid's Python SDK, test/unit/test_eventwebhook.py: key, payload (with its trailing
# CRLF), signature and timestamp of September 2020.
SG_SDK_KEY = ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
              "2fNNRaINXvVpiglSI8eNEc6wEA3F+g==")
SG_SDK_PAYLOAD = (b'[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address",'
                  b'"sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",'
                  b'"sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",'
                  b'"smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n')
SG_SDK_HEADERS = {"X-Twilio-Email-Event-Webhook-Signature":
                  "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=",
                  "X-Twilio-Email-Event-Webhook-Timestamp": "1600112502"}


def test_sendgrid_sdk_vector_verifies_at_its_own_time_and_is_stale_today(tmp_path):
    config = f'[sendgrid]\npublic_key = "{SG_SDK_KEY}"\n'
    then, sink = _gateway(tmp_path, config, clock=Clock(datetime.fromtimestamp(1600112502 + 60, UTC)))
    status, body = request(then.app, "POST", "/webhooks/sendgrid", data=SG_SDK_PAYLOAD, headers=SG_SDK_HEADERS)
    assert (status, body) == (200, {"published": 1})
    assert [(e["address"], e["status"]) for e in sink.events] == [("hello@world.com", "hard_bounce")]
    today, later_sink = _gateway(tmp_path, config)
    status, body = request(today.app, "POST", "/webhooks/sendgrid", data=SG_SDK_PAYLOAD, headers=SG_SDK_HEADERS)
    assert status == 403 and "sendgrid.window_seconds" in body["error"] and later_sink.batches == []


@pytest.mark.parametrize("timestamp, status", [
    (_unix(-30 * 86400), 403), (_unix(-5 * 365 * 86400), 403), (_unix(365 * 86400), 403),
    (_unix(-301), 403), (_unix(301), 403), (_unix(-299), 200), (_unix(299), 200),
    ("yesterday", 403), ("1e9", 403), ("-1", 403), ("", 401),
])
def test_sendgrid_timestamp_window(tmp_path, timestamp, status):
    gw, sink = _gateway(tmp_path, f'[sendgrid]\npublic_key = "{ec_public_b64()}"\n')
    answer = request(gw.app, "POST", "/webhooks/sendgrid", data=SG, headers=sendgrid_headers(SG, timestamp=timestamp))
    assert answer[0] == status, answer
    assert len(sink.batches) == (status == 200)


def test_sendgrid_window_is_configurable(tmp_path):
    gw, _ = _gateway(tmp_path, f'[sendgrid]\npublic_key = "{ec_public_b64()}"\nwindow_seconds = 3600\n')
    assert request(gw.app, "POST", "/webhooks/sendgrid", data=SG, headers=sendgrid_headers(SG, _unix(-3500)))[0] == 200
    assert request(gw.app, "POST", "/webhooks/sendgrid", data=SG, headers=sendgrid_headers(SG, _unix(-3700)))[0] == 403


@pytest.mark.parametrize("header", ["X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"])
def test_sendgrid_raw_bytes_in_a_header_are_403(tmp_path, header):
    gw, sink = _gateway(tmp_path, f'[sendgrid]\npublic_key = "{ec_public_b64()}"\n')
    headers = dict(sendgrid_headers(SG))
    sent = [(k.encode(), v.encode() + b"\xff" if k == header else v.encode()) for k, v in headers.items()]
    status, body = raw_request(gw.app, "/webhooks/sendgrid", sent + [(b"Content-Type", b"application/json")], SG)
    _refused_without_internals(status, body, 403)
    assert sink.batches == []


# -- Amazon SNS ------------------------------------------------------------------------------

SES_DELIVERY = {"notificationType": "Delivery",
                "mail": {"messageId": "ses-m-1", "destination": ["jane@example.com"]},
                "delivery": {"timestamp": "2026-03-01T10:00:01Z", "recipients": ["jane@example.com"]}}


def _sns_gateway(tmp_path, extra: str = "", fetch=None):
    certs = tmp_path / "sns-certs"
    certs.mkdir(exist_ok=True)
    (certs / "SimpleNotificationService-test.pem").write_bytes(rsa_cert()[1])
    return _gateway(tmp_path, f'[ses]\ntrust = "sns-certs"\n{extra}', fetch=fetch)


def _iso(offset_seconds: int) -> str:
    return (NOW + timedelta(seconds=offset_seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize("timestamp, status", [
    ("2019-01-01T00:00:00.000Z", 403), (_iso(-3601), 403), (_iso(3601), 403), (_iso(-3599), 200), (_iso(600), 200),
    ("yesterday", 403), ("2026-03-01T12:00:00", 403),  # no offset: not RFC 3339
])
def test_sns_timestamp_window(tmp_path, timestamp, status):
    gw, sink = _sns_gateway(tmp_path)
    status_got, body = request(gw.app, "POST", "/webhooks/ses", data=J(sns_envelope(SES_DELIVERY, timestamp=timestamp)))
    assert status_got == status, body
    assert len(sink.batches) == (status == 200)


def test_sns_window_is_configurable(tmp_path):
    gw, _ = _sns_gateway(tmp_path, "window_seconds = 60\n")
    status, body = request(gw.app, "POST", "/webhooks/ses", data=J(sns_envelope(SES_DELIVERY, timestamp=_iso(-120))))
    assert status == 403 and "ses.window_seconds" in body["error"]


def test_sns_malformed_signature_is_403(tmp_path):
    gw, sink = _sns_gateway(tmp_path)
    env = dict(sns_envelope(SES_DELIVERY), Signature="é" * 344)
    _refused_without_internals(*request(gw.app, "POST", "/webhooks/ses", data=J(env)), 403)
    assert sink.batches == []


class Fetched:
    """The gateway's GET of a SubscribeURL, recorded instead of sent."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    async def __call__(self, url: str) -> int:
        self.urls.append(url)
        return 200


CONFIRM = "/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:ses-events&Token=2336412f"


@pytest.mark.parametrize("url", [
    "https://sns.eu-west-1.amazonaws.com" + CONFIRM, "https://sns.eu-west-1.amazonaws.com:443" + CONFIRM,
    "https://sns.cn-north-1.amazonaws.com.cn" + CONFIRM, "https://sns.us-gov-west-1.amazonaws.com" + CONFIRM,
])
def test_sns_subscribe_url_on_an_sns_endpoint_is_fetched(tmp_path, url):
    fetched = Fetched()
    gw, _ = _sns_gateway(tmp_path, "confirm_subscriptions = true\n", fetch=fetched)
    env = sns_envelope("subscribe", kind="SubscriptionConfirmation", subscribe_url=url)
    assert request(gw.app, "POST", "/webhooks/ses", data=J(env)) == (200, {"published": 0, "subscription": "confirmed"})
    assert fetched.urls == [url]


@pytest.mark.parametrize("url", [
    "https://sns.mybucket.s3.amazonaws.com/",  # an S3 bucket named sns.mybucket: anyone can own it
    "https://sns.eu-west-1.amazonaws.com:8443" + CONFIRM, "https://sns.eu-west-1.amazonaws.com:80" + CONFIRM,
    "https://sns.eu-west-1.amazonaws.com:x" + CONFIRM, "http://sns.eu-west-1.amazonaws.com" + CONFIRM,
    "https://sns.eu-west-1.amazonaws.com.attacker.example" + CONFIRM, "https://sns.eu.amazonaws.com" + CONFIRM,
    "https://sns.eu_west.amazonaws.com" + CONFIRM, "https://attacker.example/sns.eu-west-1.amazonaws.com",
    "https://me@sns.eu-west-1.amazonaws.com" + CONFIRM, "https://sns.eu-west-1.amazonaws.co" + CONFIRM,
])
def test_sns_subscribe_url_elsewhere_is_logged_not_fetched(tmp_path, url):
    fetched = Fetched()
    gw, _ = _sns_gateway(tmp_path, "confirm_subscriptions = true\n", fetch=fetched)
    env = sns_envelope("subscribe", kind="SubscriptionConfirmation", subscribe_url=url)
    status, body = request(gw.app, "POST", "/webhooks/ses", data=J(env))
    assert (status, body["subscription"]) == (200, "logged") and fetched.urls == []
    assert gw.confirmations == [url]


# -- Twilio ----------------------------------------------------------------------------------

# Twilio's Python SDK, tests/unit/test_request_validator.py: auth token 12345, this URL and
# these parameters; the signature over the URL as given, with :443 added, and for the http
# URL with :80 added.
TW_SDK_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TW_SDK_PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
                 ("From", "+14158675309"), ("To", "+18005551212")]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("configured, signature", [
    (TW_SDK_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    (TW_SDK_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),  # signed over https://mycompany.com:443/...
    (TW_SDK_URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),  # over http://mycompany.com:80/...
    (TW_SDK_URL.replace(".com", ".com:1234"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # the SDK drops a port
])
def test_twilio_sdk_vectors_verify_with_and_without_the_port(tmp_path, configured, signature):
    gw, _ = _gateway(tmp_path, f'[twilio]\nauth_token = "12345"\nurl = "{configured}"\n')
    status, body = request(gw.app, "POST", "/webhooks/twilio", data=urlencode(TW_SDK_PARAMS),
                           headers=dict(FORM, **{"X-Twilio-Signature": signature}))
    # a voice callback, not an SMS status: past the signature, refused as a payload (400)
    assert status == 400 and "MessageSid" in body["error"]
    wrong = request(gw.app, "POST", "/webhooks/twilio", data=urlencode(TW_SDK_PARAMS),
                    headers=dict(FORM, **{"X-Twilio-Signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="}))
    assert wrong[0] == 403


TW_URL = "https://hooks.shop.example/webhooks/twilio"
TW = [("AccountSid", "AC" + "0" * 32), ("ErrorCode", "30005"), ("From", "+15017122661"),
      ("MessageSid", "SM" + "1" * 32), ("MessageStatus", "undelivered"), ("To", "+46701234567")]


@pytest.mark.parametrize("signed_url", [TW_URL, TW_URL.replace(".example/", ".example:443/")])
def test_twilio_status_callback_signed_with_or_without_443_is_published(tmp_path, signed_url):
    gw, sink = _gateway(tmp_path, f'[twilio]\nauth_token = "12345"\nurl = "{TW_URL}"\n')
    headers = dict(FORM, **{"X-Twilio-Signature": twilio.signature(signed_url, TW, "12345")})
    assert request(gw.app, "POST", "/webhooks/twilio", data=urlencode(TW), headers=headers) == (200, {"published": 1})
    other_port = twilio.signature(TW_URL.replace(".example/", ".example:8443/"), TW, "12345")
    assert request(gw.app, "POST", "/webhooks/twilio", data=urlencode(TW),
                   headers=dict(FORM, **{"X-Twilio-Signature": other_port}))[0] == 403
    assert len(sink.batches) == 1


def test_twilio_raw_bytes_in_the_signature_are_403(tmp_path):
    gw, sink = _gateway(tmp_path, f'[twilio]\nauth_token = "12345"\nurl = "{TW_URL}"\n')
    good = twilio.signature(TW_URL, TW, "12345").encode()
    headers = [(b"Content-Type", b"application/x-www-form-urlencoded"), (b"X-Twilio-Signature", good[:-2] + b"\xff=")]
    _refused_without_internals(*raw_request(gw.app, "/webhooks/twilio", headers, urlencode(TW).encode()), 403)
    assert sink.batches == []


# -- Postmark and the bearer tokens ----------------------------------------------------------

PM = J({"RecordType": "Delivery", "MessageID": "pm-1", "Recipient": "john@example.com",
        "DeliveredAt": "2026-03-01T10:00:00Z"})


def test_postmark_raw_bytes_in_credentials_are_refused(tmp_path):
    gw, sink = _gateway(tmp_path, '[postmark]\nusername = "pm"\npassword = "s3cret"\n'
                                  'header_name = "X-Webhook-Token"\nheader_value = "tok"\n')
    basic = b"Basic " + base64.b64encode(b"pm:s3cret")
    custom = [(b"Authorization", basic), (b"X-Webhook-Token", b"to\xffk")]
    _refused_without_internals(*raw_request(gw.app, "/webhooks/postmark", custom, PM), 403)
    in_basic = [(b"Authorization", basic[:-1] + b"\xff"), (b"X-Webhook-Token", b"tok")]
    _refused_without_internals(*raw_request(gw.app, "/webhooks/postmark", in_basic, PM), 401)
    not_utf8 = [(b"Authorization", b"Basic " + base64.b64encode(b"pm:s3\xffcret")), (b"X-Webhook-Token", b"tok")]
    _refused_without_internals(*raw_request(gw.app, "/webhooks/postmark", not_utf8, PM), 401)
    assert raw_request(gw.app, "/webhooks/postmark", [(b"Authorization", basic), (b"X-Webhook-Token", b"tok")],
                       PM) == (200, {"published": 1})
    assert len(sink.batches) == 1


@pytest.mark.parametrize("path, section", [("/events", "canonical"), ("/mail", "mail")])
def test_bearer_token_with_raw_bytes_is_403(tmp_path, path, section):
    gw, sink = _gateway(tmp_path, f'[{section}]\ntoken = "t0k"\n')
    status, body = raw_request(gw.app, path, [(b"Authorization", b"Bearer t0\xff")], b"{}")
    _refused_without_internals(status, body, 403)
    assert sink.batches == []


def test_an_unforeseen_failure_is_400_without_the_exception_text(tmp_path, monkeypatch):
    def broken(hook, classifier):
        raise RuntimeError("internal detail: /etc/bounceback/secret")

    monkeypatch.setattr(mailgun, "events", broken)
    gw, _ = _gateway(tmp_path)
    status, body = request(gw.app, "POST", "/webhooks/mailgun", data=_mg(mailgun_signature(MG_KEY)))
    assert status == 400 and "internal detail" not in body["error"] and "RuntimeError" not in body["error"]


# -- the SMS gateways (issue 21) under the same rules ----------------------------------------
# Sinch signs a Unix timestamp with the body (x-sinch-webhook-signature-timestamp), Vonage a
# `timestamp` parameter with the others: both are checked against a window, like SendGrid's.

SINCH_SECRET = "s3cret"
SINCH_DLR = J({"type": "recipient_delivery_report_sms", "batch_id": "01JB1J1M5BM5XQ8Q0ZWBM44E14",
               "recipient": "46701234567", "status": "Failed", "code": 152, "at": "2026-03-01T11:59:00Z"})


def _sinch_signed(stamp: str, body: bytes = SINCH_DLR, nonce: str = "01FJA8B4A7BM43YGWSG9GBV067") -> dict:
    from gateways import sinch
    return {"x-sinch-webhook-signature": sinch.signature(body, nonce, stamp, SINCH_SECRET),
            "x-sinch-webhook-signature-nonce": nonce, "x-sinch-webhook-signature-timestamp": stamp,
            "x-sinch-webhook-signature-algorithm": "HmacSHA256", "Content-Type": "application/json"}


def _sinch_gateway(tmp_path, extra: str = ""):
    return _gateway(tmp_path, f'[sinch]\nsecret = "{SINCH_SECRET}"\n{extra}')


def test_sinch_sdk_vector_verifies_at_its_own_time_and_is_stale_today():
    from gateways import sinch
    from gateways.common import Rejected
    from gateways.webhook_auth import Window
    # Sinch .NET SDK, WebhooksTests.ValidateRequest: signed at 1634579353 (October 2021)
    body = ('{"app_id":"","accepted_time":"2021-10-18T17:49:13.813615Z","project_id":"e2df3a34-a71b-4448-9db5-a8d2baad28e4",'
            '"contact_create_notification":{"contact":{"id":"01FJA8B466Y0R2GNXD78MD9SM1","channel_identities":'
            '[{"channel":"SMS","identity":"48123456789","app_id":""}],"display_name":"New Test Contact","email":'
            '"new.contact@email.com","external_id":"","metadata":"","language":"EN_US"}},"message_metadata":""}').encode()
    headers = {"x-sinch-webhook-signature": "6bpJoRmFoXVjfJIVglMoJzYXxnoxRujzR4k2GOXewOE=",
               "x-sinch-webhook-signature-nonce": "01FJA8B4A7BM43YGWSG9GBV067",
               "x-sinch-webhook-signature-timestamp": "1634579353", "x-sinch-webhook-signature-algorithm": "HmacSHA256"}
    window = Window(300, "sinch.window_seconds")
    sinch.verify(body, headers, "foo_secret1234", datetime.fromtimestamp(1634579353 + 30, UTC), window)
    with pytest.raises(Rejected, match="sinch.window_seconds") as refused:
        sinch.verify(body, headers, "foo_secret1234", NOW, window)
    assert refused.value.status == 403


@pytest.mark.parametrize("stamp, status", [
    (_unix(-301), 403), (_unix(301), 403), (_unix(-299), 200), (_unix(299), 200),
    (_unix(-30 * 86400), 403), (_unix(365 * 86400), 403), ("yesterday", 403), ("1e9", 403), ("", 403),
])
def test_sinch_timestamp_window(tmp_path, stamp, status):
    gw, sink = _sinch_gateway(tmp_path)
    answer = request(gw.app, "POST", "/webhooks/sinch", data=SINCH_DLR, headers=_sinch_signed(stamp))
    assert answer[0] == status, answer
    if status == 403 and stamp.lstrip("-").isdigit():
        assert "sinch.window_seconds" in answer[1]["error"]
    assert len(sink.batches) == (status == 200) and sink.letters == []


def test_sinch_window_is_configurable(tmp_path):
    gw, _ = _sinch_gateway(tmp_path, "window_seconds = 3600\n")
    assert request(gw.app, "POST", "/webhooks/sinch", data=SINCH_DLR, headers=_sinch_signed(_unix(-3500)))[0] == 200
    assert request(gw.app, "POST", "/webhooks/sinch", data=SINCH_DLR, headers=_sinch_signed(_unix(-3700)))[0] == 403
    with pytest.raises(ValueError, match="window_seconds"):
        _sinch_gateway(tmp_path, "window_seconds = 0\n")


@pytest.mark.parametrize("header", ["x-sinch-webhook-signature", "x-sinch-webhook-signature-nonce",
                                    "x-sinch-webhook-signature-timestamp", "x-sinch-webhook-signature-algorithm"])
def test_sinch_raw_bytes_in_a_header_are_403(tmp_path, header):
    gw, sink = _sinch_gateway(tmp_path)
    sent = [(k.encode(), v.encode() + b"\xff" if k == header else v.encode()) for k, v in _sinch_signed(NOW_UNIX).items()]
    _refused_without_internals(*raw_request(gw.app, "/webhooks/sinch", sent, SINCH_DLR), 403)
    assert sink.batches == [] and sink.letters == []


def test_sinch_raw_bytes_in_basic_credentials_are_401(tmp_path):
    gw, sink = _gateway(tmp_path, '[sinch]\nusername = "sinch"\npassword = "pw"\n')
    basic = b"Basic " + base64.b64encode(b"sinch:pw")
    _refused_without_internals(*raw_request(gw.app, "/webhooks/sinch", [(b"Authorization", basic[:-1] + b"\xff")],
                                            SINCH_DLR), 401)
    assert raw_request(gw.app, "/webhooks/sinch", [(b"Authorization", basic)], SINCH_DLR)[0] == 200


VONAGE_SECRET = "vsecret"
VONAGE_DLR = {"msisdn": "4527631111", "to": "Tak", "messageId": "0C0000002EEBDA56", "status": "failed",
              "err-code": "3", "scts": "2603011159", "nonce": "n-1"}


def _vonage_signed(stamp: str, **extra) -> bytes:
    from gateways import vonage
    fields = dict(VONAGE_DLR, timestamp=stamp, **extra)
    return urlencode(dict(fields, sig=vonage.signature(fields, VONAGE_SECRET, "sha256"))).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _vonage_gateway(tmp_path, extra: str = ""):
    return _gateway(tmp_path, f'[vonage]\nsignature_secret = "{VONAGE_SECRET}"\nsignature_method = "sha256"\n{extra}')


@pytest.mark.parametrize("stamp, status", [
    (_unix(-301), 403), (_unix(301), 403), (_unix(-299), 200), (_unix(299), 200),
    (_unix(-30 * 86400), 403), (_unix(365 * 86400), 403), ("yesterday", 403), ("1e9", 403), ("", 401),
])
def test_vonage_timestamp_window(tmp_path, stamp, status):
    gw, sink = _vonage_gateway(tmp_path)
    answer = request(gw.app, "POST", "/webhooks/vonage", data=_vonage_signed(stamp), headers=FORM)
    assert answer[0] == status, answer
    if status == 403 and stamp.lstrip("-").isdigit():
        assert "vonage.window_seconds" in answer[1]["error"]
    assert len(sink.batches) == (status == 200) and sink.letters == []


def test_vonage_window_is_configurable(tmp_path):
    gw, _ = _vonage_gateway(tmp_path, "window_seconds = 3600\n")
    assert request(gw.app, "POST", "/webhooks/vonage", data=_vonage_signed(_unix(-3500)), headers=FORM)[0] == 200
    assert request(gw.app, "POST", "/webhooks/vonage", data=_vonage_signed(_unix(-3700)), headers=FORM)[0] == 403


@pytest.mark.parametrize("sig", ["é" * 64, "z" * 64, 12345, ["a"], {"a": 1}])
def test_vonage_malformed_sig_is_403_without_internals(tmp_path, sig):
    gw, sink = _vonage_gateway(tmp_path)
    doc = dict(VONAGE_DLR, timestamp=NOW_UNIX, sig=sig)
    _refused_without_internals(*request(gw.app, "POST", "/webhooks/vonage", data=J(doc),
                                        headers={"Content-Type": "application/json"}), 403)
    assert sink.batches == []


def test_infobip_raw_bytes_in_credentials_are_refused(tmp_path):
    gw, sink = _gateway(tmp_path, '[infobip]\nusername = "ib"\npassword = "pw"\n'
                                  'header_name = "X-Key"\nheader_value = "k3y"\n')
    body = J({"results": []})
    basic = b"Basic " + base64.b64encode(b"ib:pw")
    _refused_without_internals(*raw_request(gw.app, "/webhooks/infobip", [(b"Authorization", basic),
                                                                         (b"X-Key", b"k3\xffy")], body), 403)
    _refused_without_internals(*raw_request(gw.app, "/webhooks/infobip", [(b"Authorization", basic[:-1] + b"\xff"),
                                                                         (b"X-Key", b"k3y")], body), 401)
    assert raw_request(gw.app, "/webhooks/infobip", [(b"Authorization", basic), (b"X-Key", b"k3y")], body)[0] == 200


def test_sms_receipts_bearer_token_with_raw_bytes_is_403(tmp_path):
    gw, sink = _gateway(tmp_path, '[smpp]\ntoken = "t0k"\n')
    status, body = raw_request(gw.app, "/sms/receipts", [(b"Authorization", b"Bearer t0\xff")],
                               b"+46701234567 id:1 stat:DELIVRD")
    _refused_without_internals(status, body, 403)
    assert sink.batches == [] and sink.letters == []
