"""One or more tests per rule of RULES.md, named after the rule."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
import pytest

from replay import runner
from projections.messages import MessageState, apply_report, first_report
from projections.policy import Policy
from projections.statuses import FINAL
from tests.helpers import (
    address_event,
    at,
    bounce_list,
    contact,
    delivery,
    fold,
    lines,
    message,
    record,
    tick,
    unblock,
)

ANNA = "email:anna@example.com"


def soft_bounces(address, count, start_hours=0, prefix="m", channel="email", status="soft_bounce"):
    return [delivery(address, f"{prefix}-{i}", status, at(start_hours + i), channel=channel) for i in range(count)]


# -- §1 Addresses -------------------------------------------------------------------------------


def test_email_is_stripped_and_lower_cased_before_anything_else():
    replayed = fold([delivery("  Anna@Example.COM ", "m-1", "hard_bounce", at(0)),
                   delivery("anna@example.com", "m-2", "delivered", at(1))])
    assert list(replayed.addresses) == [ANNA]
    assert record(replayed, ANNA).reasons == ["hard_bounce"]


@pytest.mark.parametrize("bad", ["anna", "anna@", "@example.com", "anna@@example.com", "an na@example.com",
                                 "anna@example", "anna..b@example.com", "anna@localhost", ""])
def test_invalid_email_is_rejected_with_a_reason_and_never_reaches_the_state(bad):
    result = runner.fold(lines([delivery(bad, "m-1", "hard_bounce", at(0))]))
    assert result.addresses == {}
    [rejected] = result.rejected
    assert rejected.line == 1 and "$.address" in rejected.error and "invalid email" in rejected.error


@pytest.mark.parametrize("raw", ["+46701234567", "+46 70 123 45 67", "070-123 45 67", "0701234567", " 0046701234567 "])
def test_sms_numbers_are_normalised_to_e164_in_the_default_region(raw):
    replayed = fold([delivery(raw, "m-1", "hard_bounce", at(0), channel="sms")])
    assert list(replayed.addresses) == ["sms:+46701234567"]


def test_sms_default_region_is_configurable():
    replayed = fold([delivery("(202) 555-0143", "m-1", "delivered", at(0), channel="sms")],
                  Policy(default_region="US"))
    assert list(replayed.addresses) == ["sms:+12025550143"]


@pytest.mark.parametrize("bad", ["12", "+46 70", "not a number", "+999123456789"])
def test_invalid_phone_number_is_rejected_with_a_reason(bad):
    result = runner.fold(lines([delivery(bad, "m-1", "hard_bounce", at(0), channel="sms")]))
    assert result.addresses == {}
    assert "invalid phone number" in result.rejected[0].error


def test_state_belongs_to_the_address_and_shows_on_every_contact_holding_it_including_later_ones():
    replayed = fold([
        contact("c-1", at(0), emails=["anna@example.com"]),
        delivery("anna@example.com", "m-1", "hard_bounce", at(1), contact_id="c-1"),
        contact("c-2", at(2), emails=["ANNA@example.com", "bo@example.com"]),
    ])
    for cid in ("c-1", "c-2"):
        card = replayed.contact_record(cid)
        assert card.addresses[0].address == "anna@example.com"
        assert card.addresses[0].state == "blocked"
    # the message belongs to the contact its report named, only
    assert [m.message_id for m in replayed.contact_record("c-1").messages] == ["m-1"]
    assert replayed.contact_record("c-2").messages == []


# -- §2 Message statuses ------------------------------------------------------------------------


@pytest.mark.parametrize("channel,status,label", [
    ("email", "sent", "Unknown"), ("email", "delivered", "Delivered"), ("email", "opened", "Delivered (Opened)"),
    ("email", "deferred", "Deferred"), ("email", "soft_bounce", "Soft bounce"), ("email", "hard_bounce", "Hard bounce"),
    ("email", "control_group", "Included in a control group"), ("email", "complained", "Marked as spam"),
    ("sms", "sent", "Unknown"), ("sms", "delivered", "Delivered"), ("sms", "soft_bounce", "Soft bounce"),
    ("sms", "hard_bounce", "Hard bounce"), ("sms", "undelivered", "Undelivered"),
    ("sms", "validity_expired", "Validity expired"), ("sms", "no_status", "No delivery status available"),
    ("sms", "control_group", "Included in a control group"),
])
def test_message_status_has_the_contact_card_label(channel, status, label):
    address = "anna@example.com" if channel == "email" else "+46701234567"
    replayed = fold([delivery(address, "m-1", status, at(0), channel=channel)])
    shown = message(replayed, f"{channel}:{address if channel == 'email' else '+46701234567'}", "m-1")
    assert (shown.status, shown.label) == ("unknown" if status == "sent" else status, label)


def test_bounce_details_are_kept_with_the_status():
    replayed = fold([delivery("anna@example.com", "m-1", "hard_bounce", at(0),
                            bounce_reason="No such user", bounce_code="5.1.1", sendout_id="so-7")])
    shown = message(replayed, ANNA, "m-1")
    assert (shown.bounce_reason, shown.bounce_code, shown.sendout_id) == ("No such user", "5.1.1", "so-7")


# -- §3 One message over time -------------------------------------------------------------------


def test_a_report_whose_event_id_was_applied_changes_nothing():
    once = fold([delivery("anna@example.com", "m-1", "soft_bounce", at(0), event_id="ev-1")])
    twice = fold([delivery("anna@example.com", "m-1", "soft_bounce", at(0), event_id="ev-1"),
                  delivery("anna@example.com", "m-1", "delivered", at(1), event_id="ev-1")])
    assert message(twice, ANNA, "m-1") == message(once, ANNA, "m-1")
    assert record(twice, ANNA) == record(once, ANNA)


@pytest.mark.parametrize("late", ["sent", "deferred"])
def test_sent_and_deferred_never_replace_a_final_status(late):
    replayed = fold([delivery("anna@example.com", "m-1", "delivered", at(0)),
                   delivery("anna@example.com", "m-1", late, at(5))])
    assert message(replayed, ANNA, "m-1").status == "delivered"


@pytest.mark.parametrize("order", [("opened", "delivered"), ("delivered", "opened")])
def test_delivered_never_replaces_opened(order):
    times = {"opened": at(1), "delivered": at(2)}
    replayed = fold([delivery("anna@example.com", "m-1", s, times[s]) for s in order])
    shown = message(replayed, ANNA, "m-1")
    assert (shown.status, shown.label, shown.updated_at.isoformat()) == ("opened", "Delivered (Opened)", "2026-03-01T11:00:00+00:00")


def test_among_final_statuses_the_latest_occurred_at_stands():
    replayed = fold([delivery("anna@example.com", "m-1", "hard_bounce", at(5), bounce_code="5.1.1"),
                   delivery("anna@example.com", "m-1", "delivered", at(1))])
    assert message(replayed, ANNA, "m-1").status == "hard_bounce"
    replayed = fold([delivery("anna@example.com", "m-1", "delivered", at(1)),
                   delivery("anna@example.com", "m-1", "soft_bounce", at(5))])
    assert message(replayed, ANNA, "m-1").status == "soft_bounce"


def test_on_equal_times_the_final_status_later_in_the_log_stands():
    replayed = fold([delivery("anna@example.com", "m-1", "delivered", at(1)),
                   delivery("anna@example.com", "m-1", "soft_bounce", at(1))])
    assert message(replayed, ANNA, "m-1").status == "soft_bounce"


def test_deferral_unresolved_for_72_hours_becomes_a_soft_bounce_that_counts():
    replayed = fold([delivery("anna@example.com", "m-1", "deferred", at(0)), tick(at(72))])
    shown = message(replayed, ANNA, "m-1")
    assert (shown.status, shown.bounce_reason, shown.bounce_code) == ("soft_bounce", "deferred for 72 hours", "4.4.7")
    assert shown.updated_at.isoformat() == "2026-03-04T10:00:00+00:00"
    assert record(replayed, ANNA).soft_bounces == 1


def test_deferral_settled_by_a_final_status_before_the_deadline():
    replayed = fold([delivery("anna@example.com", "m-1", "deferred", at(0)),
                   delivery("anna@example.com", "m-1", "delivered", at(71, 59)), tick(at(100))])
    assert message(replayed, ANNA, "m-1").status == "delivered"
    assert record(replayed, ANNA).soft_bounces == 0


def test_deferral_deadline_runs_from_the_first_deferred_report():
    replayed = fold([delivery("anna@example.com", "m-1", "deferred", at(0)),
                   delivery("anna@example.com", "m-1", "deferred", at(24)), tick(at(72))])
    assert message(replayed, ANNA, "m-1").status == "soft_bounce"


def test_sms_with_no_final_status_48_hours_after_sent_has_validity_expired():
    sms = [delivery("+46701234567", "m-1", "sent", at(0), channel="sms")]
    assert message(fold(sms + [tick(at(47, 59))]), "sms:+46701234567", "m-1").status == "unknown"
    expired = message(fold(sms + [tick(at(48))]), "sms:+46701234567", "m-1")
    assert (expired.status, expired.label) == ("validity_expired", "Validity expired")
    assert expired.updated_at.isoformat() == "2026-03-03T10:00:00+00:00"


def test_control_group_changes_no_counter_of_the_address():
    replayed = fold(soft_bounces("anna@example.com", 3) + [delivery("anna@example.com", "m-cg", "control_group", at(10))])
    assert message(replayed, ANNA, "m-cg").label == "Included in a control group"
    assert record(replayed, ANNA).soft_bounces == 3


# -- §4 One address over time -------------------------------------------------------------------


@pytest.mark.parametrize("channel,address,key", [("email", "anna@example.com", ANNA),
                                                 ("sms", "+46701234567", "sms:+46701234567")])
def test_one_hard_bounce_blocks_the_address(channel, address, key):
    rec = record(fold([delivery(address, "m-1", "hard_bounce", at(0), channel=channel)]), key)
    assert (rec.state, rec.reasons) == ("blocked", ["hard_bounce"])


def test_ten_consecutive_email_soft_bounces_block_the_address():
    assert record(fold(soft_bounces("anna@example.com", 9)), ANNA).state == "active"
    rec = record(fold(soft_bounces("anna@example.com", 10)), ANNA)
    assert (rec.state, rec.reasons, rec.soft_bounces) == ("blocked", ["soft_bounce_limit"], 10)


def test_soft_bounce_limit_is_configurable():
    rec = record(fold(soft_bounces("anna@example.com", 3), Policy(soft_bounce_limit=3)), ANNA)
    assert rec.reasons == ["soft_bounce_limit"]


def test_each_message_counts_at_most_once():
    events = [delivery("anna@example.com", "m-1", "soft_bounce", at(i)) for i in range(12)]
    assert record(fold(events), ANNA).soft_bounces == 1


def test_soft_bounce_that_happened_before_the_latest_delivery_never_counts():
    events = soft_bounces("anna@example.com", 5) + [delivery("anna@example.com", "m-d", "delivered", at(50))]
    # a late report of a soft bounce from before the delivery
    events.append(delivery("anna@example.com", "m-late", "soft_bounce", at(49)))
    assert record(fold(events), ANNA).soft_bounces == 0


def test_opened_counts_as_a_delivery_for_the_soft_bounce_set():
    events = soft_bounces("anna@example.com", 5) + [delivery("anna@example.com", "m-o", "opened", at(50))]
    assert record(fold(events), ANNA).soft_bounces == 0


def test_sms_soft_bounces_never_block_but_are_counted_since_the_latest_delivery():
    events = [delivery("+46701234567", f"m-{i}", s, at(i), channel="sms")
              for i, s in enumerate(["soft_bounce", "undelivered", "validity_expired"] * 7)]
    rec = record(fold(events), "sms:+46701234567")
    assert (rec.state, rec.reasons, rec.soft_bounces) == ("active", [], 21)
    events.append(delivery("+46701234567", "m-d", "delivered", at(30), channel="sms"))
    assert record(fold(events), "sms:+46701234567").soft_bounces == 0


def test_unsubscribe_marks_the_address_and_resubscribe_removes_it():
    unsub = address_event("unsubscribe", "anna@example.com", at(0))
    rec = record(fold([unsub]), ANNA)
    assert (rec.state, rec.reasons) == ("unsubscribed", ["unsubscribed"])
    rec = record(fold([unsub, address_event("resubscribe", "anna@example.com", at(1))]), ANNA)
    assert (rec.state, rec.reasons) == ("active", [])


def test_the_later_of_unsubscribe_and_resubscribe_stands_by_event_time():
    late_unsub = [address_event("resubscribe", "anna@example.com", at(2)),
                  address_event("unsubscribe", "anna@example.com", at(1))]
    assert record(fold(late_unsub), ANNA).reasons == []


def test_spam_complaint_is_treated_like_an_unsubscribe():
    replayed = fold([delivery("anna@example.com", "m-1", "complained", at(0))])
    rec = record(replayed, ANNA)
    assert (rec.state, rec.reasons) == ("unsubscribed", ["complaint"])
    assert message(replayed, ANNA, "m-1").label == "Marked as spam"


def test_bounce_list_import_blocks_or_unsubscribes_and_reimport_changes_nothing():
    events = [bounce_list("anna@example.com", at(0)), bounce_list("bo@example.com", at(0), list_="unsubscribed")]
    replayed = fold(events)
    assert record(replayed, ANNA).reasons == ["bounce_list"] and record(replayed, ANNA).state == "blocked"
    assert record(replayed, "email:bo@example.com").reasons == ["unsubscribed"]
    again = fold(events + [dict(e, occurred_at=at(5)) for e in events])
    assert record(again, ANNA) == record(replayed, ANNA)
    assert record(again, "email:bo@example.com") == record(replayed, "email:bo@example.com")


def test_bounce_listed_address_blocks_a_contact_created_later():
    replayed = fold([bounce_list("+46 70 123 45 67", at(0), channel="sms"),
                   contact("c-9", at(10), phones=["0701234567"])])
    [addr] = replayed.contact_record("c-9").addresses
    assert (addr.address, addr.state, addr.reasons) == ("+46701234567", "blocked", ["bounce_list"])


def test_manual_unblock_lifts_blocks_and_resets_the_count_but_not_opt_outs():
    events = soft_bounces("anna@example.com", 10) + [
        delivery("anna@example.com", "m-h", "hard_bounce", at(11)),
        bounce_list("anna@example.com", at(12)),
        address_event("unsubscribe", "anna@example.com", at(13)),
        delivery("anna@example.com", "m-c", "complained", at(14)),
        unblock("anna@example.com", at(20), note="customer fixed mailbox"),
    ]
    replayed = fold(events, audit=["*"])
    rec = record(replayed, ANNA)
    assert (rec.state, rec.reasons, rec.soft_bounces) == ("unsubscribed", ["complaint", "unsubscribed"], 0)
    last = replayed.trail[ANNA][-1]
    assert "support@shop.example" in last.event and "customer fixed mailbox" in last.event


def test_soft_bounces_before_an_unblock_never_count_again():
    events = soft_bounces("anna@example.com", 10) + [unblock("anna@example.com", at(20))]
    events += [delivery("anna@example.com", "m-late", "soft_bounce", at(15))]
    events += soft_bounces("anna@example.com", 9, start_hours=30, prefix="n")
    rec = record(fold(events), ANNA)
    assert (rec.state, rec.soft_bounces) == ("active", 9)


def test_a_block_is_sticky_and_a_later_delivery_does_not_lift_it():
    for blocked in (soft_bounces("anna@example.com", 10), [delivery("anna@example.com", "m-h", "hard_bounce", at(0))]):
        rec = record(fold(blocked + [delivery("anna@example.com", "m-d", "delivered", at(40))]), ANNA)
        assert rec.state == "blocked" and rec.reasons


def test_state_is_blocked_before_unsubscribed_before_active():
    events = [address_event("unsubscribe", "anna@example.com", at(0))]
    assert record(fold(events), ANNA).state == "unsubscribed"
    rec = record(fold(events + [delivery("anna@example.com", "m-1", "hard_bounce", at(1))]), ANNA)
    assert (rec.state, rec.reasons) == ("blocked", ["hard_bounce", "unsubscribed"])


def test_updated_at_is_the_time_of_the_event_that_last_changed_the_record():
    replayed = fold([delivery("anna@example.com", "m-1", "sent", at(0)),
                   delivery("anna@example.com", "m-1", "hard_bounce", at(3)),
                   delivery("anna@example.com", "m-2", "delivered", at(5))])
    assert record(replayed, ANNA).updated_at.isoformat() == "2026-03-01T13:00:00+00:00"


# -- §6 Time, replay and audit ------------------------------------------------------------------


def test_deadlines_fire_only_when_a_tick_passes_them_never_by_the_wall_clock():
    deferred = [delivery("anna@example.com", "m-1", "deferred", at(0))]
    assert message(fold(deferred), ANNA, "m-1").status == "deferred"  # the deadline is long past in wall time
    assert message(fold(deferred + [tick(at(71))]), ANNA, "m-1").status == "deferred"


def test_a_tick_earlier_than_one_already_seen_changes_nothing():
    replayed = fold([tick(at(10)), delivery("anna@example.com", "m-1", "deferred", at(-100)), tick(at(5))])
    assert message(replayed, ANNA, "m-1").status == "deferred"
    assert replayed.clock.isoformat() == "2026-03-01T20:00:00+00:00"


def test_audit_trail_shows_each_event_in_order_with_its_decision():
    events = soft_bounces("anna@example.com", 10) + [delivery("anna@example.com", "m-9", "soft_bounce", at(9))]
    replayed = fold(events, audit=["email:anna@example.com"])
    trail = replayed.trail[ANNA]
    assert len(trail) == 11
    assert trail[0].decision == "message m-0: new -> Soft bounce; soft bounce 1 of 10"
    assert trail[9].decision.endswith("soft bounce 10 of 10 -> blocked: soft_bounce_limit")
    assert "already applied" not in trail[10].decision and "already counts" in trail[10].decision


def test_an_address_only_listed_by_a_contact_shows_active_and_has_no_state_of_its_own():
    replayed = fold([contact("c-1", at(0), emails=["New@example.com"], phones=["0701234567"])])
    assert replayed.addresses == {}
    card = replayed.contact_record("c-1")
    assert [(a.address, a.state, a.reasons, a.soft_bounces, a.updated_at.isoformat()) for a in card.addresses] == [
        ("new@example.com", "active", [], 0, "2026-03-01T10:00:00+00:00"),
        ("+46701234567", "active", [], 0, "2026-03-01T10:00:00+00:00"),
    ]


def test_the_latest_contact_event_by_event_time_sets_the_addresses():
    replayed = fold([contact("c-1", at(5), emails=["b@example.com", "a@example.com", "B@example.com"]),
                   contact("c-1", at(1), emails=["old@example.com"])])
    assert [a.address for a in replayed.contact_record("c-1").addresses] == ["b@example.com", "a@example.com"]


def test_a_contact_event_with_an_invalid_address_is_rejected_naming_the_field():
    result = runner.fold(lines([contact("c-1", at(0), emails=["a@example.com", "nope"])]))
    assert result.contacts == {} and "$.emails[1]" in result.rejected[0].error


@pytest.mark.parametrize("status", sorted(FINAL | {"sent", "deferred"}))
@pytest.mark.parametrize("details", [(None, None), ("Mailbox full", "4.2.2")])
def test_a_first_report_builds_what_apply_report_makes_of_a_new_message(status, details):
    when = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    expected = MessageState(sendout_id="so-1", contacts=["c-1"])
    apply_report(expected, status, when, *details)
    assert first_report(status, when, *details, "so-1", ["c-1"]) == expected


def test_a_live_trail_shows_a_contacts_link_where_its_time_puts_it_and_as_replay_does():
    """Issue 16: live, a link reaches the address after events the log had after the contact
    event; shown by its time, the trail reads as explain of the log reads it."""
    from projections.audit import links_in_time

    log = [contact("c-1", at(0), emails=["anna@example.com"]),
           delivery("anna@example.com", "m-1", "hard_bounce", at(1)),
           delivery("anna@example.com", "m-2", "sent", at(2))]
    in_log_order = fold(log, audit=["*"]).trail[ANNA]
    assert in_log_order[0].event == "contact c-1 now lists this address"
    link, *rest = in_log_order
    arrived_late = rest[:1] + [msgspec.structs.replace(link, state="blocked", reasons=["hard_bounce"])] + rest[1:]
    assert links_in_time(arrived_late) == in_log_order
