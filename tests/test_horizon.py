"""RULES.md §7, the lateness horizon: reports too late are refused, what lies further behind
the clock is forgotten, forgetting changes no output, and state stays small for the life of
an address."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partitions.address import FORGET_EVERY
from projections.policy import Policy
from replay.runner import OUTPUTS, fold, write_outputs
from tests.helpers import (T0, address_event, at, bounce_list, contact, delivery, lines, tick, unblock,
                           weekly_mailing)
from tests.oracle import oracle_replay
from tests.test_oracle import comparable, main_replay

H = timedelta(hours=72)
SHORT = Policy(lateness_horizon=H)
NO_FORGETTING = Policy(lateness_horizon=H, forgetting=False)
ANNA = "email:anna@example.com"
EMAILS = ["anna@example.com", "bo@example.org", "Cy@Example.net"]
PHONES = ["+46701234567", "0731234567"]
STATUSES = {"email": ["sent", "delivered", "opened", "deferred", "soft_bounce", "soft_bounce", "soft_bounce",
                      "hard_bounce", "control_group", "complained"],
            "sms": ["sent", "delivered", "soft_bounce", "hard_bounce", "undelivered", "validity_expired",
                    "no_status", "control_group"]}


def _stamp(hours: float) -> str:
    return at(hours)


def _time(event) -> datetime:
    return datetime.fromisoformat((event.get("occurred_at") or event["at"]).replace("Z", "+00:00"))


@st.composite
def logs_within_the_horizon(draw, horizon_hours=72):
    """Logs in which no report or unblock arrives more than the horizon late and each message's
    reports lie within the horizon of one another: messages and other events over some weeks, in time order with
    jitter, ticks among them; reports the clock has left too far behind are dropped."""
    events = []
    for m in range(draw(st.integers(1, 16))):
        channel = draw(st.sampled_from(["email", "sms"]))
        address = draw(st.sampled_from(EMAILS if channel == "email" else PHONES))
        base = draw(st.integers(0, 900))
        for r in range(draw(st.integers(1, 3))):
            offset = draw(st.integers(0, horizon_hours))
            events.append(delivery(address, f"m-{m}", draw(st.sampled_from(STATUSES[channel])), _stamp(base + offset),
                                   channel=channel, event_id=f"ev-{m}-{r}",
                                   contact_id=draw(st.sampled_from([None, "c-1", "c-2"]))))
    for i in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["unsubscribe", "resubscribe", "unblock", "bounce_list", "contact", "delivered"]))
        channel = draw(st.sampled_from(["email", "sms"]))
        address = draw(st.sampled_from(EMAILS if channel == "email" else PHONES))
        when = _stamp(draw(st.integers(0, 950)))
        eid = f"ev-x{i}"
        if kind in ("unsubscribe", "resubscribe"):
            events.append(address_event(kind, address, when, channel=channel, event_id=eid, contact_id="c-3"))
        elif kind == "unblock":
            events.append(unblock(address, when, channel=channel, event_id=eid))
        elif kind == "bounce_list":
            events.append(bounce_list(address, when, channel=channel, event_id=eid))
        elif kind == "contact":
            events.append(contact(draw(st.sampled_from(["c-1", "c-2", "c-3"])), when, event_id=eid,
                                  emails=draw(st.lists(st.sampled_from(EMAILS), max_size=2)),
                                  phones=draw(st.lists(st.sampled_from(PHONES), max_size=1))))
        else:  # a delivery of a message of its own, between the soft bounces
            events.append(delivery(address, f"d-{i}", "delivered", when, channel=channel, event_id=eid))
    for _ in range(draw(st.integers(0, 14))):
        events.append(tick(_stamp(draw(st.integers(0, 1000)))))
    jitter = draw(st.lists(st.integers(-48, 48), min_size=len(events), max_size=len(events)))
    ordered = [e for _, e in sorted(zip([_time(e) + timedelta(hours=j) for e, j in zip(events, jitter)], events),
                                    key=lambda pair: pair[0])]
    log, clock = [], None
    for event in ordered:
        if event["type"] == "tick":
            clock = max(clock, _time(event)) if clock else _time(event)
        elif event["type"] in ("delivery", "unblock") and clock is not None \
                and _time(event) < clock - timedelta(hours=horizon_hours):
            continue  # a report would be too late; an unblock that late is approximated (docs/decisions.md)
        log.append(event)
    return log


def _files(events, policy: Policy, out: Path) -> dict[str, bytes]:
    write_outputs(fold(lines(events), policy), out)
    return {name: (out / f"{name}.jsonl").read_bytes() for name in OUTPUTS}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs_within_the_horizon())
def test_forgetting_changes_no_output_when_nothing_is_too_late(tmp_path_factory, events):
    with_forgetting = _files(events, SHORT, tmp_path_factory.mktemp("forgetting"))
    assert with_forgetting == _files(events, NO_FORGETTING, tmp_path_factory.mktemp("keeping"))
    assert with_forgetting["rejected"] == b""


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs_within_the_horizon())
def test_with_a_short_horizon_replay_matches_the_oracle_which_forgets_nothing(events):
    raw = lines(events)
    result = fold(raw, SHORT)
    ours = {"addresses": [msgspec.to_builtins(r) for _, r in result.address_records()],
            "contacts": [msgspec.to_builtins(c) for _, c in result.contact_records()]}
    oracle = oracle_replay(raw, lateness_horizon=H)
    assert ours == {"addresses": oracle["addresses"], "contacts": oracle["contacts"]}


def test_forgetting_does_forget(tmp_path):
    """The switch the property above compares is not idle: with a short horizon an address
    mailed for weeks keeps only its latest messages."""
    events = []
    for week in range(8):
        events += [delivery("anna@example.com", f"m-{week}", "sent", at(week * 168)),
                   delivery("anna@example.com", f"m-{week}", "delivered", at(week * 168 + 1)),
                   tick(at(week * 168 + 2))]
    kept = fold(lines(events), SHORT).addresses[ANNA].messages
    assert sorted(kept) == ["m-7"]  # m-6 is more than 2H (144 h) behind the last tick
    assert len(fold(lines(events), NO_FORGETTING).addresses[ANNA].messages) == 8


def test_an_unblock_more_than_h_late_after_the_frozen_part_clears_it():
    """An SMS with no report for 48 h soft-bounces (validity expired); when the clock has gone
    3 weeks on, that soft bounce is frozen. An unblock dated after it, though more than H
    behind the clock, clears it as it would have without forgetting."""
    events = [delivery("0731234567", "m-1", "sent", at(0), channel="sms"), tick(at(24 * 24)),
              unblock("0731234567", at(21 * 24 - 1), channel="sms")]
    before = fold(lines(events[:2]), SHORT).addresses["sms:+46731234567"]
    assert (before.frozen_tail, before.frozen_until) == (1, T0 + timedelta(hours=48))
    forgetting, keeping = fold(lines(events), SHORT), fold(lines(events), NO_FORGETTING)
    assert [r.soft_bounces for _, r in forgetting.address_records()] == [0]
    assert list(forgetting.address_records()) == list(keeping.address_records())


# -- too late ---------------------------------------------------------------------------------


def _day(days: float) -> str:
    return at(days * 24)


def test_a_hard_bounce_31_days_behind_the_clock_is_refused_and_blocks_nothing():
    result = fold(lines([tick(_day(40)), delivery("anna@example.com", "m-1", "hard_bounce", _day(9))]))
    assert [r.line for r in result.rejected] == [2]
    assert result.rejected[0].error.startswith("too late")
    assert "$.occurred_at" in result.rejected[0].error
    assert ANNA not in result.addresses  # changes nothing: not even an address state


def test_a_hard_bounce_29_days_behind_the_clock_blocks():
    result = fold(lines([tick(_day(40)), delivery("anna@example.com", "m-1", "hard_bounce", _day(11))]))
    assert not result.rejected
    assert result.addresses[ANNA].record().reasons == ["hard_bounce"]


def test_an_unsubscribe_a_year_old_still_applies():
    result = fold(lines([tick(_day(400)), address_event("unsubscribe", "anna@example.com", _day(10))]))
    assert not result.rejected
    assert result.addresses[ANNA].record().reasons == ["unsubscribed"]


def test_before_the_first_tick_nothing_is_too_late():
    result = fold(lines([delivery("anna@example.com", "m-1", "hard_bounce", _day(-400)),
                         delivery("anna@example.com", "m-2", "delivered", _day(0))]))
    assert not result.rejected and result.addresses[ANNA].record().reasons == ["hard_bounce"]


def test_a_report_too_late_is_refused_even_when_its_event_id_was_applied_before():
    """Refusal comes before the duplicate check: a report that late is too late, whatever it is."""
    again = delivery("anna@example.com", "m-1", "sent", _day(0), event_id="ev-same")
    result = fold(lines([again, tick(_day(40)), again]))
    assert [r.line for r in result.rejected] == [3]


def test_the_horizon_below_72_hours_is_refused():
    with pytest.raises(ValueError, match="at least 72 h"):
        Policy(lateness_horizon=timedelta(hours=71))
    Policy(lateness_horizon=timedelta(hours=72))


# -- state that stays small -------------------------------------------------------------------


def _entry_size(weeks: int) -> int:
    table = fold(lines(weekly_mailing(weeks))).address_tables
    [entry] = [t[ANNA] for t in table.values() if ANNA in t]
    return len(msgspec.json.encode(entry))


def test_a_long_history_stays_small():
    after_ten_weeks, after_five_years = _entry_size(10), _entry_size(5 * 52)
    assert after_five_years <= after_ten_weeks + 200
    assert after_five_years < 8 * 1024


def test_the_entry_keeps_no_event_id_or_message_older_than_the_horizon_allows():
    result = fold(lines(weekly_mailing(100)))
    [entry] = [t[ANNA] for t in result.address_tables.values() if ANNA in t]
    clock, horizon = result.clock, Policy().lateness_horizon
    # forgotten at most FORGET_EVERY of the horizon (and a day, between ticks) after they could be
    late = horizon * FORGET_EVERY + timedelta(days=1)
    assert all(t >= clock - horizon - late for t in entry.applied.values())
    assert all(m.last_at >= clock - 2 * horizon - late for m in entry.state.messages.values())
    assert entry.forget_at is not None and entry.forget_at > clock


def test_the_card_lists_the_latest_100_messages_and_counts_them_all():
    events = [delivery("anna@example.com", f"m-{i:03d}", "delivered", at(i), contact_id="c-1") for i in range(130)]
    card = fold(lines(events)).contact_record("c-1")
    assert card.messages_total == 130
    assert [m.message_id for m in card.messages] == [f"m-{i:03d}" for i in range(129, 29, -1)]
    # a message's record stays on the card when the address forgets it
    events += [tick(at(24 * 200))]
    card = fold(lines(events)).contact_record("c-1")
    assert card.messages_total == 130 and len(card.messages) == 100


def test_a_forgotten_message_reported_on_again_is_a_new_one():
    events = [delivery("anna@example.com", "m-1", "sent", _day(0), contact_id="c-1"),
              tick(_day(70)),
              delivery("anna@example.com", "m-1", "delivered", _day(69), contact_id="c-1")]
    result = fold(lines(events))
    card = result.contact_record("c-1")
    assert result.addresses[ANNA].messages["m-1"].status == "delivered"  # a new message: no sent before it
    # the card still lists m-1: its record is replaced, and it is not counted twice
    assert card.messages_total == 1
    assert [(m.message_id, m.status) for m in card.messages] == [("m-1", "delivered")]


def test_a_frozen_run_that_reached_the_limit_still_keeps_its_block():
    """A late delivery inside a newer run lifts a soft-bounce block only if no run reached the
    limit: the old run, frozen into counts, still did."""
    events = [delivery("anna@example.com", f"m-{i}", "soft_bounce", at(i)) for i in range(10)]
    events += [delivery("anna@example.com", "d-1", "delivered", at(20)),
               delivery("anna@example.com", "m-10", "soft_bounce", at(30)),
               delivery("anna@example.com", "d-0", "delivered", at(40)), tick(at(500))]
    events += [delivery("anna@example.com", f"s-{i}", "soft_bounce", at(500 + i)) for i in range(3)]
    events += [delivery("anna@example.com", "d-2", "delivered", at(501))]
    forgetting, keeping = fold(lines(events), SHORT), fold(lines(events), NO_FORGETTING)
    state = forgetting.addresses[ANNA]
    assert state.frozen_longest == 10 and not state.messages.keys() & {f"m-{i}" for i in range(11)}
    assert state.record() == keeping.addresses[ANNA].record()
    assert state.record().reasons == ["soft_bounce_limit"]
