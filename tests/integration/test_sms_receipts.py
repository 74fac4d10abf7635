"""End to end on a real broker: SMPP delivery receipts posted to a running `bounceback
gateway` and given to `bounceback ingest-receipts` end as SMS address states. Twenty soft
bounces leave a number active (SMS soft bounces never block); one unknown-subscriber
receipt blocks another; receipts sent twice are applied once; an unreadable receipt is
dead-lettered with its reason while the others of its request are applied."""

from __future__ import annotations

import urllib.parse
from datetime import datetime, timedelta, timezone

import msgspec
import pytest

from tests.integration.cluster import post

pytestmark = pytest.mark.integration

SOFT = "+46701234567"
HARD = "+46701234568"
TOKEN = "receipts-token"


def _stamp(at: datetime) -> str:
    return at.strftime("%y%m%d%H%M%S")


def _record(cluster, number: str) -> dict:
    status, body = cluster.workers[0].get("/addresses/sms/" + urllib.parse.quote(number))
    assert status == 200, body
    return msgspec.json.decode(body)["record"]


def test_receipts_in_sms_address_states_out(cluster):
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    # the first ten soft bounces (absent subscriber, MAP cause 6) as receipt lines, an
    # unknown subscriber (MAP cause 1) for the other number, and one line no one can read
    text_lines = [f"{SOFT} id:s{i} sub:001 dlvrd:000 submit date:{_stamp(start)} "
                  f"done date:{_stamp(start + timedelta(minutes=i))} stat:UNDELIV err:006 text:Your code"
                  for i in range(10)]
    text_lines.append(f"{HARD} id:h1 sub:001 dlvrd:000 submit date:{_stamp(start)} "
                      f"done date:{_stamp(start + timedelta(minutes=30))} stat:UNDELIV err:001 text:Your code")
    unreadable = f"{SOFT} id:x1 sub:001 dlvrd:000 stat:MAYBE err:000 text:"
    posted = "\n".join(text_lines[:5] + [unreadable] + text_lines[5:]).encode()
    # the other ten as JSON with the TLVs an aggregator forwards, for `ingest-receipts`
    json_lines = [msgspec.json.encode({"receipted_message_id": f"t{i}", "message_state": 5,
                                       "network_error_code": "030006", "source_addr": SOFT[1:],
                                       "done_date": _stamp(start + timedelta(minutes=10 + i))})
                  for i in range(10)]
    receipts_file = cluster.workdir / "receipts.txt"
    receipts_file.write_bytes(b"\n".join(json_lines) + b"\n" + text_lines[-1].encode() + b"\n")

    with cluster.gateway(f'[smpp]\ntoken = "{TOKEN}"\n') as base:
        cluster.worker("w1")
        cluster.wait_ready()
        url = f"{base}/sms/receipts"
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/plain"}
        status, answer = post(url, posted, headers)
        assert (status, answer["published"], answer["dead_lettered"]) == (200, 11, 1), answer
        [letter] = answer["dead_letters"]
        assert letter["item"] == "line 6" and "`stat` 'MAYBE'" in letter["reason"]
        # the SMSC resends: the same receipts again are applied once
        assert post(url, posted, headers)[0] == 200
        # without the token: refused, nothing published
        assert post(url, posted, {"Content-Type": "text/plain"})[0] == 401
        result = cluster.cli("ingest-receipts", str(receipts_file))
        assert b"published 11 events" in result.stderr, result.stderr
        cluster.wait_idle()

    soft = _record(cluster, SOFT)
    assert (soft["state"], soft["reasons"], soft["soft_bounces"]) == ("active", [], 20)
    hard = _record(cluster, HARD)
    assert (hard["state"], hard["reasons"]) == ("blocked", ["hard_bounce"])
    suppressions, _ = cluster.live_outputs()
    assert [(r["channel"], r["address"], r["reasons"]) for r in map(msgspec.json.decode, suppressions)] == [
        ("sms", HARD, ["hard_bounce"])]

    letters = [(value, dict(headers)) for records in cluster.read("dead-letters").values()
               for _, value, headers in records]
    # posted twice: dead-lettered twice, each time with its reason and where it came from
    assert [value for value, _ in letters] == [unreadable.encode()] * 2
    assert all(b"`stat` 'MAYBE'" in h["reason"] and h["source"] == b"gateway /sms/receipts line 6" for _, h in letters)
