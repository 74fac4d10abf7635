"""End to end on a real broker: provider webhooks and a bounce mail posted over HTTP to a
running `bounceback gateway` end as suppression records; a resent webhook changes nothing;
a bad event of a batch lands in the dead-letter topic with its reason while the rest of
the batch is applied."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest

from tests.gateway_helpers import ec_public_b64, sendgrid_headers
from tests.integration.cluster import post

pytestmark = pytest.mark.integration

MAIL = Path(__file__).resolve().parents[1] / "mail"


def test_webhooks_posted_to_the_gateway_end_as_suppression_records(cluster):
    with cluster.gateway(f'[sendgrid]\npublic_key = "{ec_public_b64()}"\n') as base:
        cluster.worker("w1")
        cluster.wait_ready()
        events = msgspec.json.encode([
            {"email": "Hard.Bounce@Example.com", "timestamp": 1772359200, "event": "bounce", "type": "bounce",
             "status": "5.1.1", "reason": "550 5.1.1 The email account that you tried to reach does not exist",
             "sg_event_id": "sg-1", "sg_message_id": "m-1.filter0001", "contact_id": "c-1"},
            {"email": "policy@example.com", "timestamp": 1772359200, "event": "bounce", "type": "bounce",
             "status": "5.7.1", "reason": "550 5.7.1 blocked using zen.spamhaus.org",
             "sg_event_id": "sg-2", "sg_message_id": "m-2.filter0001"},
        ])
        # signed now: the gateway runs on the real clock and refuses a stale timestamp
        headers = dict(sendgrid_headers(events, timestamp=str(int(time.time()))), **{"Content-Type": "application/json"})
        assert post(base + "/webhooks/sendgrid", events, headers) == (200, {"published": 2})
        # SendGrid resends: the same events again are applied once
        assert post(base + "/webhooks/sendgrid", events, headers) == (200, {"published": 2})
        # signed an hour ago (a captured request): refused, nothing published
        stale = dict(sendgrid_headers(events, timestamp=str(int(time.time()) - 3600)), **{"Content-Type": "application/json"})
        assert post(base + "/webhooks/sendgrid", events, stale)[0] == 403
        # unsigned: refused, nothing published
        assert post(base + "/webhooks/sendgrid", events, {"Content-Type": "application/json"})[0] == 401
        # one event of a batch has no usable address: dead-lettered, the other applied, answered 200
        mixed = msgspec.json.encode([
            {"email": "not-an-address", "timestamp": 1772359200, "event": "dropped", "reason": "Invalid",
             "sg_event_id": "sg-3", "sg_message_id": "m-3.filter0001"},
            {"email": "Unsub@Example.com", "timestamp": 1772359200, "event": "unsubscribe", "sg_event_id": "sg-4"},
        ])
        status, answer = post(base + "/webhooks/sendgrid", mixed,
                              dict(sendgrid_headers(mixed, timestamp=str(int(time.time()))),
                                   **{"Content-Type": "application/json"}))
        assert (status, answer["published"], answer["dead_lettered"]) == (200, 1, 1)
        arf = (MAIL / "arf-abuse.eml").read_bytes()
        assert post(base + "/mail", arf, {"Content-Type": "message/rfc822"}) == (200, {"published": 1, "kind": "arf"})
        cluster.wait_idle()

    suppressions, cards = cluster.live_outputs()
    records = {(r["channel"], r["address"]): r for r in map(msgspec.json.decode, suppressions)}
    assert records.keys() == {("email", "hard.bounce@example.com"), ("email", "gus@mailbox.example"),
                              ("email", "unsub@example.com")}
    assert records["email", "unsub@example.com"]["reasons"] == ["unsubscribed"]
    letters = [(value, dict(headers)) for part in cluster.read("dead-letters").values() for _, value, headers in part]
    from_gateway = [(value, h) for value, h in letters if h.get("source", b"").startswith(b"gateway")]
    assert len(from_gateway) == 1
    value, headers = from_gateway[0]
    assert msgspec.json.decode(value)["email"] == "not-an-address"
    assert b"$.address" in headers["reason"] and headers["source"] == b"gateway /webhooks/sendgrid SendGrid event 0"
    assert records["email", "hard.bounce@example.com"]["reasons"] == ["hard_bounce"]
    assert records["email", "hard.bounce@example.com"]["state"] == "blocked"
    assert records["email", "gus@mailbox.example"]["reasons"] == ["complaint"]
    card = cards["c-1"]["messages"]
    assert [(m["message_id"], m["status"], m["bounce_code"]) for m in card] == [("m-1", "hard_bounce", "5.1.1")]
    # the policy block is a soft bounce, not a block, and counts once although it was posted twice
    status, body = cluster.workers[0].get("/addresses/email/policy@example.com")
    assert status == 200
    record = msgspec.json.decode(body)["record"]
    assert (record["state"], record["reasons"], record["soft_bounces"]) == ("active", [], 1)
