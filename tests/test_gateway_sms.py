"""SMS the way carriers report it: SMPP delivery receipts in every documented shape, the
carrier (GSM MAP) and gateway error code tables, Sinch, Vonage and Infobip delivery
reports with their documented examples and published signature test vectors, and per
report dead letters: a batch is never refused whole for one bad report."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import msgspec
import pytest

from gateways.service.app import Gateway
from replay.runner import fold
from gateways import infobip, sinch, smpp, vonage
from gateways.classify import Classifier
from gateways.common import Rejected
from gateways.config import load
from schemas.events import encode_event
from gateways.webhook_auth import Window
from tests.gateway_helpers import NOW, NOW_UNIX, Collected, canon, expect, expect_unsubscribe, request

C = Classifier()
RECEIVED = datetime(2026, 3, 1, 10, 0, 5, tzinfo=timezone.utc)
READER = smpp.Reader(C)
J = msgspec.json.encode
A = "+46701234567"


def receipt(line: str, reader: smpp.Reader = READER) -> list[dict]:
    return canon(reader.line(line, RECEIVED))


def one(line: str, reader: smpp.Reader = READER) -> dict:
    out = receipt(line, reader)
    assert len(out) == 1, out
    return out[0]


# -- SMPP receipts: the shapes -----------------------------------------------------------

def test_the_appendix_b_text_as_vonage_documents_it():
    # Vonage "How to read a Nexmo SMPP Delivery Receipt", after the handset number
    line = f"{A} id:0000000012345678 sub:001 dlvrd:001 submit date:1601010100 done date:1601010101 stat:DELIVRD err:000 text:none"
    assert receipt(line) == [expect("smpp:0000000012345678:DELIVRD", "2016-01-01T01:01:00Z", A, "0000000012345678",
                                    "delivered", channel="sms")]


@pytest.mark.parametrize("done, at", [
    ("1906081652", "2019-06-08T16:52:00Z"),        # YYMMDDhhmm, SMPP 3.4 Appendix B
    ("190608165237", "2019-06-08T16:52:37Z"),      # YYMMDDhhmmss (smppcenter's example)
    ("20190608165237", "2019-06-08T16:52:37Z"),    # YYYYMMDDhhmmss (Sinch's SDI receipts)
])
def test_dates_with_and_without_seconds(done, at):
    line = f"{A} id:64567564356765435676 sub:001 dlvrd:001 submit date:{done} done date:{done} stat:DELIVRD err:000 text:Hello World"
    assert one(line)["occurred_at"] == at


def test_a_missing_done_date_is_the_time_the_receipt_arrived():
    assert one(f"{A} id:7 sub:001 dlvrd:000 submit date:2603010900 stat:UNDELIV err:006 text:")["occurred_at"] == \
        "2026-03-01T10:00:05Z"


def test_the_dates_are_read_in_the_smscs_time_zone():
    stockholm = smpp.Reader(C, tz=ZoneInfo("Europe/Stockholm"))
    assert one(f"{A} id:7 done date:2603011100 stat:DELIVRD", stockholm)["occurred_at"] == "2026-03-01T10:00:00Z"


def test_keys_in_any_case_extra_fields_and_a_text_with_colons():
    line = (f"{A} ID:9 SUB:001 DLVRD:000 Submit Date:2603010900 DONE_DATE:2603010901 mccmnc:24001 "
            "STAT:undeliv ERR:001 route:eu-2 Text:stat:DELIVRD err:000")
    out = one(line)
    assert (out["status"], out["bounce_code"], out["bounce_reason"], out["occurred_at"]) == \
        ("hard_bounce", "001", "unknown subscriber", "2026-03-01T09:01:00Z")


def test_digits_only_numbers_are_international():
    assert one("46701234567 id:1 stat:DELIVRD")["address"] == "+46701234567"
    doc = {"receipted_message_id": "1", "message_state": 2, "source_addr": "0701234567", "source_addr_ton": 2}
    assert canon(READER.document(doc, RECEIVED))[0]["address"] == "0701234567"  # national: the default region reads it


@pytest.mark.parametrize("stat, state, status", [
    ("DELIVRD", 2, "delivered"), ("EXPIRED", 3, "validity_expired"), ("UNDELIV", 5, "undelivered"),
    ("REJECTD", 8, "undelivered"), ("DELETED", 4, "undelivered"), ("SKIPPED", 9, "undelivered"),
    ("UNKNOWN", 7, "no_status"), ("ACCEPTD", 6, None), ("ENROUTE", 1, None), ("SCHEDULED", 0, None),
])
def test_each_state_as_text_and_as_the_message_state_tlv(stat, state, status):
    from_text = receipt(f"{A} id:42 sub:001 dlvrd:000 submit date:2603010900 done date:2603010905 stat:{stat} err:000 text:")
    from_tlv = canon(READER.document({"receipted_message_id": "42", "message_state": state, "address": A}, RECEIVED))
    for out in (from_text, from_tlv):
        assert [e["status"] for e in out] == ([status] if status else [])
        if status:
            assert out[0]["event_id"] == f"smpp:42:{stat}"


@pytest.mark.parametrize("err, status, reason", [
    # GSM MAP causes, 3GPP TS 29.002: only those about the number are hard
    ("001", "hard_bounce", "unknown subscriber"),
    ("011", "hard_bounce", "teleservice not provisioned"),
    ("044", "hard_bounce", "number changed"),
    ("005", "soft_bounce", "unidentified subscriber"),
    ("006", "soft_bounce", "absent subscriber"),
    ("027", "soft_bounce", "absent subscriber"),
    ("031", "soft_bounce", "subscriber busy for MT SMS"),
    ("032", "soft_bounce", "SM delivery failure (e.g. memory capacity exceeded)"),
    ("033", "soft_bounce", "message waiting list full"),
    ("034", "soft_bounce", "system failure"),
    ("013", "soft_bounce", "call barred"),
    ("009", "soft_bounce", "illegal subscriber"),
    ("021", "soft_bounce", "facility not supported"),
    ("003", "undelivered", "undeliverable"),       # unknownMSC: no rule, reason unknown
    ("000", "undelivered", "undeliverable"),       # no error code at all
])
def test_the_gsm_map_table(err, status, reason):
    out = one(f"{A} id:5 sub:001 dlvrd:000 submit date:2603010900 done date:2603010905 stat:UNDELIV err:{err} text:")
    assert (out["status"], out["bounce_reason"], out["bounce_code"]) == (status, reason, err if int(err) else None)


def test_tlvs_win_over_the_text_and_a_gsm_network_error_code_is_a_map_cause():
    doc = {"receipt": "id:1 sub:001 dlvrd:001 submit date:2603010900 done date:2603010905 stat:DELIVRD err:000 text:",
           "receipted_message_id": "abc", "message_state": "UNDELIVERABLE", "network_error_code": "030001",
           "address": A}
    out = canon(READER.document(doc, RECEIVED))
    assert [(e["event_id"], e["status"], e["bounce_code"], e["bounce_reason"]) for e in out] == [
        ("smpp:abc:UNDELIV", "hard_bounce", "030001", "unknown subscriber")]
    as_object = dict(doc, network_error_code={"network_type": 3, "error_code": 6})
    assert canon(READER.document(as_object, RECEIVED))[0]["status"] == "soft_bounce"
    # an SMPP command_status (network type 7) is not a MAP cause: no rule, undelivered
    smpp_error = dict(doc, network_error_code="070001")
    assert canon(READER.document(smpp_error, RECEIVED))[0]["status"] == "undelivered"


def test_err_is_read_in_the_configured_table():
    line = f"{A} id:5 sub:001 dlvrd:000 submit date:2603010900 done date:2603010905 stat:UNDELIV err:{{}} text:"
    vonage_smpp = smpp.Reader(C, err_codes="vonage")
    assert one(line.format("003"), vonage_smpp)["status"] == "hard_bounce"    # Vonage: Absent Subscriber - Permanent
    assert one(line.format("003"))["status"] == "undelivered"                 # MAP 3 (unknownMSC): not about the number
    assert one(line.format("009"), vonage_smpp) == expect_unsubscribe("smpp:5:UNDELIV", "2026-03-01T09:05:00Z", A,
                                                                      channel="sms")


def test_the_sender_links_the_receipt_to_its_message():
    doc = {"receipt": "id:c0ffee sub:001 dlvrd:001 submit date:2603010900 done date:2603010905 stat:DELIVRD err:000",
           "address": A, "message_id": "m-1", "contact_id": "c-1", "sendout_id": "so-1"}
    assert canon(READER.document(doc, RECEIVED)) == [
        expect("smpp:c0ffee:DELIVRD", "2026-03-01T09:05:00Z", A, "m-1", "delivered", channel="sms", contact_id="c-1",
               sendout_id="so-1")]
    assert one(f"{A} id:c0ffee stat:DELIVRD message_id:m-1")["message_id"] == "m-1"


def test_bad_receipts_are_dead_lettered_each_with_its_reason_and_the_others_read():
    body = b"\n".join([
        f"{A} id:1 done date:2603010905 stat:DELIVRD".encode(),
        f"{A} id:2 done date:26030109 stat:DELIVRD".encode(),
        f"{A} id:3 stat:FAILED".encode(),
        f"{A} sub:001 stat:DELIVRD".encode(),
        b"id:5 stat:DELIVRD",
        b'{"receipted_message_id": "6", "message_state": 2',
        b"",
        "+46701234567 id:8 stat:DELIVRD text:\xe5".encode("latin-1"),
        f'{{"receipted_message_id": "9", "message_state": 12, "address": "{A}"}}'.encode(),
        f"{A} id:10 done date:2603010905 stat:UNDELIV err:001".encode(),
    ])
    batch = smpp.read(body, READER, RECEIVED)
    assert [e.event_id for e in batch.events] == ["smpp:1:DELIVRD", "smpp:10:UNDELIV"]
    reasons = {r.item: r.error for r in batch.dead}
    assert list(reasons) == ["line 2", "line 3", "line 4", "line 5", "line 6", "line 8", "line 9"]
    for item, words in {"line 2": "`done date` '26030109'", "line 3": "`stat` 'FAILED'", "line 4": "`id`",
                        "line 5": "handset number", "line 6": "not valid JSON", "line 8": "not UTF-8",
                        "line 9": "`message_state` 12"}.items():
        assert reasons[item].startswith(item + ": ") and words in reasons[item], (item, reasons[item])
    assert {r.item: r.raw for r in batch.dead}["line 3"] == f"{A} id:3 stat:FAILED".encode()


def test_the_same_receipt_twice_is_applied_once():
    line = f"{A} id:77 sub:001 dlvrd:000 submit date:2603010900 done date:2603010905 stat:UNDELIV err:006 text:"
    events = [encode_event(e) for _ in range(2) for e in READER.line(line, RECEIVED)]
    assert len(events) == 2 and events[0] == events[1]
    record = fold(events).addresses[f"sms:{A}"].record()
    assert (record.state, record.soft_bounces) == ("active", 1)


# -- Sinch ------------------------------------------------------------------------------

def test_sinch_signature_is_the_published_test_vector():
    # Sinch .NET SDK, WebhooksTests.ValidateRequest (the callback signing its SMS SDKs verify too)
    body = ('{"app_id":"","accepted_time":"2021-10-18T17:49:13.813615Z","project_id":"e2df3a34-a71b-4448-9db5-a8d2baad28e4",'
            '"contact_create_notification":{"contact":{"id":"01FJA8B466Y0R2GNXD78MD9SM1","channel_identities":'
            '[{"channel":"SMS","identity":"48123456789","app_id":""}],"display_name":"New Test Contact","email":'
            '"new.contact@email.com","external_id":"","metadata":"","language":"EN_US"}},"message_metadata":""}')
    assert sinch.signature(body.encode(), "01FJA8B4A7BM43YGWSG9GBV067", "1634579353", "foo_secret1234") == \
        "6bpJoRmFoXVjfJIVglMoJzYXxnoxRujzR4k2GOXewOE="


def _sinch(status, code=0, **extra):
    # the shape of Sinch's documented recipient delivery report
    return {"at": "2024-10-25T10:02:42.148Z", "batch_id": "01JB1J1M5BM5XQ8Q0ZWBM44E14", "code": code,
            "recipient": "46701234567", "status": status, "operator_status_at": "2024-10-25T10:02:00Z",
            "type": "recipient_delivery_report_sms", **extra}


@pytest.mark.parametrize("status, code, canonical_status, reason", [
    ("Delivered", 0, "delivered", None),
    ("Queued", 400, None, None),
    ("Dispatched", 401, None, None),
    ("Expired", 406, "validity_expired", "Expired"),
    ("Unknown", 0, "no_status", "no delivery receipt"),
    ("Cancelled", 407, "no_status", "cancelled before reaching the SMSC"),
    ("Aborted", 402, "soft_bounce", "Message unroutable"),
    ("Aborted", 404, "soft_bounce", "Temporary delivery failure"),
    ("Rejected", 408, "soft_bounce", "Internal Reject"),
    ("Failed", 152, "hard_bounce", "Teleservice not provisioned"),
    ("Failed", 300, "hard_bounce", "Invalid destination address"),
    ("Failed", 9999, "undelivered", "Failed"),
    ("Deleted", 0, "undelivered", "Deleted"),
])
def test_sinch_statuses_and_codes(status, code, canonical_status, reason):
    batch = sinch.read(J(_sinch(status, code)), C, RECEIVED)
    assert batch.dead == []
    if canonical_status is None:
        assert batch.events == []
        return
    bounce_code = str(code) if canonical_status not in ("delivered",) and code else None
    assert canon(batch.events) == [
        expect(f"sinch:01JB1J1M5BM5XQ8Q0ZWBM44E14:46701234567:{status}:{code}", "2024-10-25T10:02:00Z", A,
               "01JB1J1M5BM5XQ8Q0ZWBM44E14", canonical_status, channel="sms", reason=reason, code=bounce_code)]


def test_sinch_client_reference_and_a_full_batch_summary():
    ref = '{"message_id": "m-9", "contact_id": "c-9"}'
    out = canon(sinch.read(J(_sinch("Delivered", client_reference=ref)), C, RECEIVED).events)
    assert (out[0]["message_id"], out[0]["contact_id"]) == ("m-9", "c-9")
    summary = {"type": "delivery_report_sms", "batch_id": "B1", "total_message_count": 3, "statuses": [
        {"code": 0, "count": 2, "status": "Delivered", "recipients": ["46701234567", "46701234568"]},
        {"code": 152, "count": 1, "status": "Failed", "recipients": ["46701234569"]}]}
    batch = sinch.read(J(summary), C, RECEIVED)
    assert [(e.address, e.status, e.occurred_at) for e in batch.events] == [
        ("+46701234567", "delivered", RECEIVED), ("+46701234568", "delivered", RECEIVED),
        ("+46701234569", "hard_bounce", RECEIVED)]
    assert sinch.read(J({"type": "mo_text", "id": "x"}), C, RECEIVED).reports == []
    with pytest.raises(Rejected, match="unknown type"):
        sinch.read(J({"type": "something_else"}), C, RECEIVED)


# -- Vonage -----------------------------------------------------------------------------

@pytest.mark.parametrize("fields, secret, method, sig", [
    # Vonage's SDK test vectors (vonage-python-sdk: test_check_signature, http_client test_auth)
    ({"a": "1", "b": "2", "timestamp": "1461605396"}, "secret", "md5hash", "6af838ef94998832dbfc29020b564830"),
    ({"param1": "value1", "param2": "value2", "timestamp": "1234567890"}, "signature_secret", "sha256",
     "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287"),
    ({"param1": "value1", "param2": "value2", "timestamp": "1234567890"}, "signature_secret", "md5",
     "724c2bf6ca423c36e20631b11d1c5753"),
    ({"param1": "value&1", "param2": "value=2", "timestamp": "1234567890"}, "signature_secret", "md5",
     "2bbf0abafb2c55e5af6231513896a2ac"),
])
def test_vonage_signature_test_vectors(fields, secret, method, sig):
    assert vonage.signature(fields, secret, method) == sig
    # verified at the time the vector was signed: its timestamp is fresh then
    signed_at = datetime.fromtimestamp(int(fields["timestamp"]), timezone.utc)
    window = Window(300, "vonage.window_seconds")
    vonage.verify(dict(fields, sig=sig.upper()), secret, method, signed_at, window)
    with pytest.raises(Rejected, match="does not verify"):
        vonage.verify(dict(fields, timestamp="1", sig=sig), secret, method, signed_at, window)


# a delivery receipt as Vonage sends it (the documented parameters; courier's fixture)
VONAGE_DLR = {"msisdn": "4527631111", "to": "Tak", "network-code": "23820", "messageId": "0C0000002EEBDA56",
              "price": "0.01820000", "status": "delivered", "scts": "1705021324", "err-code": "0",
              "message-timestamp": "2017-05-02 11:24:03"}


@pytest.mark.parametrize("status, err, canonical_status, reason", [
    ("delivered", "0", "delivered", None),
    ("accepted", "0", None, None),
    ("buffered", "0", None, None),
    ("expired", "0", "validity_expired", "Expired"),
    ("unknown", "0", "no_status", None),
    ("failed", "2", "soft_bounce", "Absent Subscriber - Temporary"),
    ("failed", "3", "hard_bounce", "Absent Subscriber - Permanent"),
    ("rejected", "4", "hard_bounce", "Call Barred by User"),
    ("rejected", "6", "soft_bounce", "Anti-Spam Rejection"),
    ("failed", "12", "soft_bounce", "Destination Unreachable"),
    ("failed", "1", "undelivered", "Unknown"),
    ("failed", "99", "undelivered", "failed"),
])
def test_vonage_statuses_and_error_codes(status, err, canonical_status, reason):
    out = canon(vonage.events(dict(VONAGE_DLR, status=status, **{"err-code": err}), C, RECEIVED))
    if canonical_status is None:
        assert out == []
        return
    code = err if canonical_status not in ("delivered",) and err != "0" else None
    assert out == [expect(f"vonage:0C0000002EEBDA56:{status}:{err}", "2017-05-02T13:24:00Z", "+4527631111",
                          "0C0000002EEBDA56", canonical_status, channel="sms", reason=reason, code=code)]


def test_vonage_illegal_number_is_an_opt_out_and_the_time_falls_back():
    out = canon(vonage.events(dict(VONAGE_DLR, status="rejected", scts="", **{"err-code": "9"}), C, RECEIVED))
    assert out == [expect_unsubscribe("vonage:0C0000002EEBDA56:rejected:9", "2017-05-02T11:24:03Z", "+4527631111",
                                      channel="sms")]
    assert vonage.params(J(VONAGE_DLR), "application/json") == VONAGE_DLR
    assert vonage.params(urlencode(VONAGE_DLR).encode(), "application/x-www-form-urlencoded") == VONAGE_DLR


# -- Infobip ----------------------------------------------------------------------------

def _ib(group, status_id, name, error=None, **extra):
    # Infobip's documented delivery report example, with the status and error of each case
    report = {"bulkId": "BULK-ID-123-xyz", "messageId": "MESSAGE-ID-123-xyz", "to": "41793026727",
              "sentAt": "2019-11-09T16:00:00.000+0000", "doneAt": "2019-11-09T16:00:00.000+0000", "smsCount": 1,
              "mccMnc": "22801", "callbackData": "DLR callback data",
              "price": {"pricePerMessage": 0.01, "currency": "EUR"},
              "status": {"groupId": group, "groupName": infobip.GROUPS[group], "id": status_id, "name": name,
                         "description": name.replace("_", " ").lower()},
              "error": error or {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error",
                                 "permanent": False}}
    report.update(extra)
    return report


def _error(group, eid, name, description, permanent):
    return {"groupId": group, "groupName": "HANDSET_ERRORS" if group == 1 else "OPERATOR_ERRORS", "id": eid,
            "name": name, "description": description, "permanent": permanent}


@pytest.mark.parametrize("report, canonical_status, reason, code", [
    (_ib(3, 5, "DELIVERED_TO_HANDSET"), "delivered", None, None),
    (_ib(1, 7, "PENDING_ENROUTE"), None, None, None),
    (_ib(4, 15, "EXPIRED_EXPIRED"), "validity_expired", "expired expired", None),
    (_ib(4, 29, "EXPIRED_DLR_UNKNOWN"), "no_status", "expired dlr unknown", None),
    (_ib(2, 9, "UNDELIVERABLE_NOT_DELIVERED", _error(1, 1, "EC_UNKNOWN_SUBSCRIBER", "Unknown Subscriber", True)),
     "hard_bounce", "Unknown Subscriber", "EC_UNKNOWN_SUBSCRIBER"),
    (_ib(2, 9, "UNDELIVERABLE_NOT_DELIVERED", _error(1, 6, "EC_ABSENT_SUBSCRIBER_SM", "Absent Subscriber", False)),
     "soft_bounce", "Absent Subscriber", "EC_ABSENT_SUBSCRIBER_SM"),
    # permanent, but not about the number (an operator's content block): not hard
    (_ib(5, 6, "REJECTED_NETWORK", _error(3, 2049, "EC_CONTENT_BLOCKED", "Content blocked", True)),
     "undelivered", "Content blocked", "EC_CONTENT_BLOCKED"),
    (_ib(5, 6, "REJECTED_NETWORK"), "undelivered", "rejected network", None),
])
def test_infobip_statuses_and_errors(report, canonical_status, reason, code):
    batch = infobip.read(J({"results": [report]}), C, RECEIVED)
    assert batch.dead == []
    if canonical_status is None:
        assert batch.events == []
        return
    assert canon(batch.events) == [
        expect(f"infobip:MESSAGE-ID-123-xyz:{report['status']['name']}", "2019-11-09T16:00:00Z", "+41793026727",
               "MESSAGE-ID-123-xyz", canonical_status, channel="sms", reason=reason, code=code)]


def test_infobip_callback_data_links_the_message():
    report = _ib(3, 5, "DELIVERED_TO_HANDSET", callbackData='{"message_id": "m-3", "sendout_id": "so-3"}')
    out = canon(infobip.read(J({"results": [report]}), C, RECEIVED).events)
    assert (out[0]["message_id"], out[0]["sendout_id"]) == ("m-3", "so-3")
    with pytest.raises(Rejected, match="results"):
        infobip.read(J({"no_results": []}), C, RECEIVED)


# -- over HTTP: credentials, and per-report dead letters ----------------------------------

def _gateway(tmp_path, text: str = "", sink=None):
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    sink = sink if sink is not None else Collected()
    return Gateway(load(path), sink, clock=lambda: NOW), sink


def test_receipts_bearer_token(tmp_path):
    gw, sink = _gateway(tmp_path, '[smpp]\ntoken = "t0k"\n')
    body = f"{A} id:1 done date:2603010905 stat:DELIVRD".encode()
    assert request(gw.app, "POST", "/sms/receipts", data=body)[0] == 401
    assert request(gw.app, "POST", "/sms/receipts", data=body, headers={"Authorization": "Bearer nope"})[0] == 403
    assert sink.batches == [] and sink.letters == []
    assert request(gw.app, "POST", "/sms/receipts", data=body, headers={"Authorization": "Bearer t0k"}) == \
        (200, {"published": 1})  # nothing dead-lettered: no `dead_lettered`


def test_receipts_batch_publishes_the_good_and_dead_letters_each_bad_one(tmp_path):
    gw, sink = _gateway(tmp_path)
    assert "/sms/receipts" in gw.unprotected()
    body = b"\n".join([f"{A} id:1 done date:2603010905 stat:UNDELIV err:001".encode(),
                       f"{A} id:2 done date:2603010905 stat:NOPE".encode(),
                       b"+99912 id:3 done date:2603010905 stat:DELIVRD",
                       f"{A} id:4 done date:2603010905 stat:ENROUTE".encode()])
    status, answer = request(gw.app, "POST", "/sms/receipts", data=body)
    assert (status, answer["published"], answer["dead_lettered"]) == (200, 1, 2)
    assert [e["event_id"] for e in sink.events] == ["smpp:1:UNDELIV"]
    assert [(letter.raw, letter.source) for letter in sink.letters] == [
        (f"{A} id:2 done date:2603010905 stat:NOPE".encode(), "gateway /sms/receipts line 2"),
        (b"+99912 id:3 done date:2603010905 stat:DELIVRD", "gateway /sms/receipts line 3")]
    assert "`stat` 'NOPE'" in sink.letters[0].reason
    assert "$.address" in sink.letters[1].reason  # the number does not normalise: dead-lettered, not refused
    assert [e["item"] for e in answer["dead_letters"]] == ["line 2", "line 3"]


def test_a_broker_failure_answers_503(tmp_path):
    gw, sink = _gateway(tmp_path, sink=Collected(fail=True))
    body = f"{A} id:1 done date:2603010905 stat:DELIVRD\n{A} id:2 stat:NOPE".encode()
    assert request(gw.app, "POST", "/sms/receipts", data=body)[0] == 503


SINCH_BODY = J(_sinch("Failed", 152))


def _sinch_headers(body=SINCH_BODY, secret="s3cret", nonce="01FJA8B4A7BM43YGWSG9GBV067", stamp=NOW_UNIX):
    return {"x-sinch-webhook-signature": sinch.signature(body, nonce, stamp, secret),
            "x-sinch-webhook-signature-nonce": nonce, "x-sinch-webhook-signature-timestamp": stamp,
            "x-sinch-webhook-signature-algorithm": "HmacSHA256", "Content-Type": "application/json"}


def test_sinch_signed_tampered_unsigned(tmp_path):
    gw, sink = _gateway(tmp_path, '[sinch]\nsecret = "s3cret"\n')
    tampered = SINCH_BODY.replace(b"152", b"404")
    assert request(gw.app, "POST", "/webhooks/sinch", data=tampered, headers=_sinch_headers())[0] == 403
    assert request(gw.app, "POST", "/webhooks/sinch", data=SINCH_BODY, headers={"Content-Type": "application/json"})[0] == 401
    wrong = _sinch_headers(secret="other")
    assert request(gw.app, "POST", "/webhooks/sinch", data=SINCH_BODY, headers=wrong)[0] == 403
    assert sink.batches == [] and sink.letters == []
    assert request(gw.app, "POST", "/webhooks/sinch", data=SINCH_BODY, headers=_sinch_headers()) == \
        (200, {"published": 1})  # nothing dead-lettered: no `dead_lettered`
    assert [(e["status"], e["bounce_code"]) for e in sink.events] == [("hard_bounce", "152")]


def test_sinch_basic_credentials(tmp_path):
    import base64
    gw, sink = _gateway(tmp_path, '[sinch]\nusername = "sinch"\npassword = "pw"\n')
    good = {"Authorization": "Basic " + base64.b64encode(b"sinch:pw").decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(b"sinch:no").decode()}
    assert request(gw.app, "POST", "/webhooks/sinch", data=SINCH_BODY)[0] == 401
    assert request(gw.app, "POST", "/webhooks/sinch", data=SINCH_BODY, headers=bad)[0] == 403
    assert request(gw.app, "POST", "/webhooks/sinch", data=SINCH_BODY, headers=good)[0] == 200
    assert len(sink.events) == 1


def test_vonage_signed_tampered_unsigned(tmp_path):
    gw, sink = _gateway(tmp_path, '[vonage]\nsignature_secret = "vsecret"\nsignature_method = "sha256"\n')
    fields = dict(VONAGE_DLR, status="failed", **{"err-code": "3", "timestamp": NOW_UNIX, "nonce": "n-1"})
    signed = dict(fields, sig=vonage.signature(fields, "vsecret", "sha256"))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    tampered = dict(signed, **{"err-code": "2"})
    assert request(gw.app, "POST", "/webhooks/vonage", data=urlencode(tampered), headers=form)[0] == 403
    assert request(gw.app, "POST", "/webhooks/vonage", data=urlencode(fields), headers=form)[0] == 401
    assert sink.batches == [] and sink.letters == []
    assert request(gw.app, "POST", "/webhooks/vonage", data=urlencode(signed), headers=form)[0] == 200
    assert request(gw.app, "POST", "/webhooks/vonage", data=J(signed), headers={"Content-Type": "application/json"})[0] == 200
    assert [(e["event_id"], e["status"]) for e in sink.events] == [("vonage:0C0000002EEBDA56:failed:3", "hard_bounce")] * 2


def test_infobip_credentials_and_a_batch_with_bad_reports(tmp_path):
    import base64
    gw, sink = _gateway(tmp_path, '[infobip]\nusername = "ib"\npassword = "pw"\n')
    good_auth = {"Authorization": "Basic " + base64.b64encode(b"ib:pw").decode(), "Content-Type": "application/json"}
    reports = [_ib(3, 5, "DELIVERED_TO_HANDSET"),
               dict(_ib(3, 5, "DELIVERED_TO_HANDSET"), messageId=None),
               _ib(2, 9, "UNDELIVERABLE_NOT_DELIVERED", _error(1, 1, "EC_UNKNOWN_SUBSCRIBER", "Unknown Subscriber", True),
                   messageId="M-2", to="46701234568"),
               dict(_ib(3, 5, "DELIVERED_TO_HANDSET"), messageId="M-3", doneAt="yesterday")]
    body = J({"results": reports})
    assert request(gw.app, "POST", "/webhooks/infobip", data=body)[0] == 401
    assert sink.batches == [] and sink.letters == []
    status, answer = request(gw.app, "POST", "/webhooks/infobip", data=body, headers=good_auth)
    assert (status, answer["published"], answer["dead_lettered"]) == (200, 2, 2)
    assert [(e["address"], e["status"]) for e in sink.events] == [("+41793026727", "delivered"),
                                                                   ("+46701234568", "hard_bounce")]
    assert [e["item"] for e in answer["dead_letters"]] == ["results[1]", "results[3]"]
    reasons = [d["reason"] for d in answer["dead_letters"]]
    assert "`messageId`" in reasons[0] and "`doneAt`" in reasons[1]
    assert msgspec.json.decode(sink.letters[0].raw)["messageId"] is None


def test_the_new_sections_of_the_configuration(tmp_path):
    for text, words in [('[sinch]\nusername = "x"\n', "[sinch] needs both"),
                        ('[infobip]\nheader_name = "X-Key"\n', "[infobip] needs both"),
                        ('[smpp]\ntimezone = "Mars/Olympus"\n', "not an IANA time zone"),
                        ('[vonage]\nsignature_method = "crc32"\n', "signature_method")]:
        path = tmp_path / "g.toml"
        path.write_text(text)
        with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
            load(path)
