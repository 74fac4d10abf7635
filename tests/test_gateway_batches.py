"""One way for every route to publish the good events of a request and dead-letter each
bad one: the same answer and the same dead letters (`source` = `gateway <route> <item>`)
from an email webhook, the contract route and an SMS route; an unforeseen failure of one
report is dead-lettered without its exception text being sent to the client."""

from __future__ import annotations

import msgspec

from gateways.service.app import Gateway
from gateways.batch import read_each
from gateways.config import GatewayConfig
from tests.gateway_helpers import NOW, Collected, request

J = msgspec.json.encode
EVENT = {"type": "delivery", "event_id": "ev-1", "occurred_at": "2026-03-01T10:00:00Z", "channel": "email",
         "address": "Anna@Example.com", "message_id": "m-1", "status": "hard_bounce"}


def _gateway() -> tuple[Gateway, Collected]:
    sink = Collected()
    return Gateway(GatewayConfig(), sink, clock=lambda: NOW), sink


def test_email_contract_and_sms_routes_dead_letter_alike():
    gw, sink = _gateway()
    bad_address = dict(EVENT, event_id="ev-2", address="not an address")
    status, body = request(gw.app, "POST", "/events", data=J([EVENT, bad_address]))
    assert (status, body["published"], body["dead_lettered"]) == (200, 1, 1)
    receipts = b"+46701234567 id:1 stat:DELIVRD\n+99912 id:2 stat:DELIVRD"
    status, body = request(gw.app, "POST", "/sms/receipts", data=receipts)
    assert (status, body["published"], body["dead_lettered"]) == (200, 1, 1)
    assert [(letter.item, letter.source) for letter in sink.letters] == [
        ("event 1", "gateway /events event 1"), ("line 2", "gateway /sms/receipts line 2")]
    assert all("$.address" in letter.reason for letter in sink.letters)
    assert [e["event_id"] for e in sink.events] == ["ev-1", "smpp:1:DELIVRD"]


def test_an_unforeseen_failure_of_one_report_is_dead_lettered_without_its_exception_text():
    def convert(item: str):
        if item == "bad":
            raise ValueError("internal detail /etc/secret")
        return []

    batch = read_each([("line 1", b"ok", "ok"), ("line 2", b"bad", "bad")], convert)
    [dead] = batch.dead
    assert dead.item == "line 2" and dead.error.startswith("line 2: could not interpret it")
    assert "secret" not in dead.error and "ValueError" not in dead.error
