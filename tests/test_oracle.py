"""Differential tests: bounceback's replay against the plain oracle in tests/oracle.py."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from replay.runner import fold, write_outputs
from projections.policy import Policy

from tests.oracle import STATUSES, oracle_replay

OUTPUTS = ("addresses", "suppressions", "contacts", "rejected")
SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample.jsonl"


def main_replay(lines, soft_bounce_limit=10, default_region="SE"):
    result = fold(lines, Policy(soft_bounce_limit=soft_bounce_limit, default_region=default_region))
    with tempfile.TemporaryDirectory() as out:
        write_outputs(result, out)
        return {name: [json.loads(line) for line in (Path(out) / f"{name}.jsonl").read_text().splitlines()]
                for name in OUTPUTS}


def comparable(outputs):
    """Error texts are free-form; everything else must match exactly."""
    outputs = dict(outputs)
    outputs["rejected"] = [(r["line"], r["raw"]) for r in outputs["rejected"]]
    return outputs


def assert_same(lines, **kwargs):
    main = comparable(main_replay(lines, **kwargs))
    oracle = comparable(oracle_replay(lines, **kwargs))
    for name in OUTPUTS:
        for got, want in zip(main[name], oracle[name]):
            assert got == want, f"{name}: main (left) vs oracle (right)"
        assert main[name] == oracle[name], f"{name}: main (left) vs oracle (right)"


def encode(events):
    return [e if isinstance(e, bytes) else json.dumps(e).encode() for e in events]


# --- random logs -----------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
# Offsets in hours chosen to land on, just before and just after the 48 h and 72 h deadlines.
HOURS = [0, 0, 1, 2, 5, 24, 47, 48, 49, 50, 71, 72, 73, 74, 96, 120, 121, 150]

EMAILS = ["anna@example.com", "Anna@Example.COM", " anna@example.com ", "bo@example.org",
          "BO@example.org", "cid@shop.test", "dan@example.net"]
BAD_EMAILS = ["not-an-email", "x@localhost", "a@@example.com"]
PHONES = ["+46701234567", "070-123 45 67", "+46 70 123 45 67", "0701234567",
          "+46731112233", "073-111 22 33", "+46709876543"]
BAD_PHONES = ["12345", "+4670", "hello"]
MESSAGES = ["m-1", "m-2", "m-3", "m-4", "m-5"]
CONTACTS = ["c-1", "c-2", "c-3"]


@st.composite
def timestamps(draw):
    when = T0 + timedelta(hours=draw(st.sampled_from(HOURS)), minutes=draw(st.sampled_from([0, 0, 0, 30])))
    if draw(st.integers(0, 9)) == 0:
        return when.astimezone(timezone(timedelta(hours=1))).isoformat()
    return when.isoformat().replace("+00:00", "Z")


@st.composite
def events(draw):
    ids = iter(f"ev-{i}" for i in range(1, 10_000))
    out = []
    for _ in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(["delivery"] * 8 + ["unsubscribe", "resubscribe", "unblock",
                                                        "bounce_list", "contact", "contact", "tick",
                                                        "tick", "tick", "dup", "bad"]))
        if kind == "dup" and out:
            out.append(draw(st.sampled_from(out)))
            continue
        if kind == "tick":
            out.append({"type": "tick", "at": draw(timestamps())})
            continue
        event_id = next(ids)
        if out and draw(st.integers(0, 9)) == 0:  # an id reused for a different event
            used = [e["event_id"] for e in out if isinstance(e, dict) and "event_id" in e]
            if used:
                event_id = draw(st.sampled_from(used))
        base = {"event_id": event_id, "occurred_at": draw(timestamps())}
        if kind == "contact":
            out.append({"type": "contact", **base, "contact_id": draw(st.sampled_from(CONTACTS)),
                        "emails": draw(st.lists(st.sampled_from(EMAILS), max_size=3)),
                        "phones": draw(st.lists(st.sampled_from(PHONES), max_size=2))})
            continue
        channel = draw(st.sampled_from(["email", "email", "sms"]))
        address = draw(st.sampled_from(EMAILS if channel == "email" else PHONES))
        ev = {"type": kind if kind != "bad" else "delivery", **base, "channel": channel, "address": address}
        if kind in ("delivery", "bad"):
            ev["message_id"] = draw(st.sampled_from(MESSAGES))
            pending = ["sent", "deferred"] if channel == "email" else ["sent", "sent"]
            ev["status"] = draw(st.sampled_from(pending + sorted(STATUSES[channel])))
            if draw(st.booleans()):
                ev["sendout_id"] = draw(st.sampled_from(["so-1", "so-2"]))
            if draw(st.integers(0, 3)):
                ev["contact_id"] = draw(st.sampled_from(CONTACTS))
            if draw(st.integers(0, 2)) == 0:
                ev["bounce_reason"] = draw(st.sampled_from(["Mailbox full", "No such user"]))
                ev["bounce_code"] = draw(st.sampled_from(["4.2.2", "5.1.1", None]))
        elif kind in ("unsubscribe", "resubscribe"):
            if draw(st.booleans()):
                ev["contact_id"] = draw(st.sampled_from(CONTACTS))
        elif kind == "unblock":
            ev["actor"] = "support@shop.example"
        elif kind == "bounce_list":
            ev["list"] = draw(st.sampled_from(["bounced", "unsubscribed"]))
            ev["source"] = "old.csv"
        if kind == "bad":
            flaw = draw(st.sampled_from(["status", "type", "address", "missing", "json", "time", "wrong_type"]))
            if flaw == "status":
                other = "sms" if channel == "email" else "email"
                ev["status"] = draw(st.sampled_from(sorted(STATUSES[other] - STATUSES[channel]) + ["bogus"]))
            elif flaw == "type":
                ev["type"] = "bogus"
            elif flaw == "address":
                ev["address"] = draw(st.sampled_from(BAD_EMAILS if channel == "email" else BAD_PHONES))
            elif flaw == "missing":
                del ev[draw(st.sampled_from(["message_id", "event_id", "occurred_at", "status", "channel"]))]
            elif flaw == "time":
                ev["occurred_at"] = draw(st.sampled_from(["2026-03-01T10:00:00", "2026-03-01T10:00Z",
                                                          "2026-03-01", "yesterday"]))
            elif flaw == "wrong_type":
                ev[draw(st.sampled_from(["event_id", "message_id", "sendout_id", "address"]))] = 7
            else:
                ev = b'{"type": "delivery", '
        out.append(ev)
    return out


# No shrinking phase, to keep the run short; add Phase.shrink when hunting a minimal log.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(log=events(), limit=st.sampled_from([1, 2, 3, 10]))
def test_random_logs_match_the_oracle(log, limit):
    assert_same(encode(log), soft_bounce_limit=limit)


def test_sample_log_matches_the_oracle():
    assert_same(SAMPLE.read_bytes().splitlines())


# --- disagreements found by the differential test, each as a minimal log -----------------
# Each asserts what the docs say; the oracle agrees with every one of them.

def ev(kind, event_id, when, address="a@example.org", channel="email", **fields):
    return {"type": kind, "event_id": event_id, "occurred_at": when, "channel": channel,
            "address": address, **fields}


def report(event_id, when, message_id, status, **fields):
    return ev("delivery", event_id, when, message_id=message_id, status=status, **fields)


def test_address_seen_only_in_a_contact_event_has_no_record_of_its_own():
    # decisions.md: only address events give an address state; the card shows it active,
    # with the time of the contact event that listed it.
    log = [{"type": "contact", "event_id": "e1", "occurred_at": "2026-03-01T07:00:00Z",
            "contact_id": "c-1", "emails": [], "phones": ["+46701234567"]}]
    want = {"channel": "sms", "address": "+46701234567", "state": "active", "reasons": [],
            "soft_bounces": 0, "updated_at": "2026-03-01T07:00:00Z"}
    for replay in (oracle_replay, main_replay):
        outputs = replay(encode(log))
        assert outputs["addresses"] == [], replay.__name__
        assert outputs["contacts"][0]["addresses"] == [want], replay.__name__


def test_an_address_takes_the_time_of_its_first_address_event():
    log = [{"type": "contact", "event_id": "e1", "occurred_at": "2026-03-01T07:00:00Z",
            "contact_id": "c-1", "emails": ["a@example.org"], "phones": []},
           report("e2", "2026-03-01T08:00:00Z", "m-1", "sent")]
    for replay in (oracle_replay, main_replay):
        assert replay(encode(log))["addresses"][0]["updated_at"] == "2026-03-01T08:00:00Z", replay.__name__


def test_opened_report_shows_its_bounce_details():
    # RULES.md §2: a status report's reason and code "are kept with the status and shown with it".
    log = [report("e1", "2026-03-01T10:00:00Z", "m-1", "opened", contact_id="c-1",
                  bounce_reason="Mailbox full", bounce_code="4.2.2")]
    for replay in (oracle_replay, main_replay):
        shown = replay(encode(log))["contacts"][0]["messages"][0]
        assert (shown["bounce_reason"], shown["bounce_code"]) == ("Mailbox full", "4.2.2"), replay.__name__


def _state(replay, log, limit):
    return replay(encode(log), soft_bounce_limit=limit)["addresses"][0]["reasons"]


def test_soft_bounces_before_a_later_delivery_that_arrived_first_still_block():
    # Two consecutive soft bounces (limit 2) on 3 Mar, a delivery on 6 Mar that arrives first.
    # In time order main blocks; the address state must not depend on arrival order
    # (decisions.md "Reports count ... independent of arrival order"; RULES §6 event time).
    log = [report("e1", "2026-03-06T11:30:00Z", "m-5", "opened"),
           report("e2", "2026-03-03T09:00:00Z", "m-4", "soft_bounce"),
           report("e3", "2026-03-03T12:00:00Z", "m-3", "soft_bounce")]
    in_time_order = [log[1], log[2], log[0]]
    assert _state(main_replay, in_time_order, 2) == ["soft_bounce_limit"]
    assert _state(oracle_replay, log, 2) == ["soft_bounce_limit"]
    assert _state(main_replay, log, 2) == ["soft_bounce_limit"]


def test_late_delivery_between_two_soft_bounces_means_they_were_not_consecutive():
    # soft 10:00, soft 12:00, delivered 11:00 arriving last: never 2 consecutive soft bounces
    # by event time; in time order main does not block either.
    log = [report("e1", "2026-03-01T10:00:00Z", "m-1", "soft_bounce"),
           report("e2", "2026-03-01T12:00:00Z", "m-2", "soft_bounce"),
           report("e3", "2026-03-01T11:00:00Z", "m-3", "delivered")]
    in_time_order = [log[0], log[2], log[1]]
    assert _state(main_replay, in_time_order, 2) == []
    assert _state(oracle_replay, log, 2) == []
    assert _state(main_replay, log, 2) == []


def test_late_unblock_between_two_soft_bounces():
    # decisions.md: soft bounces at or before the unblock never count again, whatever the order.
    log = [report("e1", "2026-03-01T10:00:00Z", "m-1", "soft_bounce"),
           report("e2", "2026-03-01T12:00:00Z", "m-2", "soft_bounce"),
           ev("unblock", "e3", "2026-03-01T11:00:00Z", actor="support@shop.example")]
    in_time_order = [log[0], log[2], log[1]]
    assert _state(main_replay, in_time_order, 2) == []
    assert _state(oracle_replay, log, 2) == []
    assert _state(main_replay, log, 2) == []
