"""The boundary cases the rules engine issue names."""

from __future__ import annotations

from tests.helpers import at, bounce_list, contact, delivery, fold, message, record, tick, unblock

ANNA = "email:anna@example.com"


def _soft(count, start, prefix):
    return [delivery("anna@example.com", f"{prefix}-{i}", "soft_bounce", at(start + i)) for i in range(count)]


def test_nine_soft_bounces_then_a_delivery_then_nine_more_is_not_blocked():
    events = _soft(9, 0, "a") + [delivery("anna@example.com", "d-1", "delivered", at(20))] + _soft(9, 30, "b")
    rec = record(fold(events), ANNA)
    assert (rec.state, rec.reasons, rec.soft_bounces) == ("active", [], 9)


def test_ten_soft_bounces_in_a_row_is_blocked():
    rec = record(fold(_soft(10, 0, "a")), ANNA)
    assert (rec.state, rec.reasons) == ("blocked", ["soft_bounce_limit"])


def test_twenty_sms_soft_bounces_are_not_blocked():
    events = [delivery("+46701234567", f"m-{i}", "soft_bounce", at(i), channel="sms") for i in range(20)]
    rec = record(fold(events), "sms:+46701234567")
    assert (rec.state, rec.reasons, rec.soft_bounces) == ("active", [], 20)


def test_deferral_resolved_at_71h59m_is_delivered():
    events = [delivery("anna@example.com", "m-1", "deferred", at(0)),
              delivery("anna@example.com", "m-1", "delivered", at(71, 59)), tick(at(72))]
    assert message(fold(events), ANNA, "m-1").status == "delivered"


def test_deferral_unresolved_at_72h_is_a_soft_bounce():
    events = [delivery("anna@example.com", "m-1", "deferred", at(0)), tick(at(72))]
    assert message(fold(events), ANNA, "m-1").status == "soft_bounce"
    assert message(fold(events[:1] + [tick(at(71, 59))]), ANNA, "m-1").status == "deferred"


def test_a_soft_bounce_before_the_latest_delivery_never_counts_whatever_the_log_order():
    delivered = delivery("anna@example.com", "d-1", "delivered", at(10))
    early_bounce = delivery("anna@example.com", "m-1", "soft_bounce", at(9))
    for events in ([delivered, early_bounce], [early_bounce, delivered]):
        assert record(fold(events), ANNA).soft_bounces == 0


def test_a_soft_bounce_at_the_time_of_a_delivery_never_counts_whatever_the_log_order():
    # the delivery removes every soft bounce at or before it: the tenth bounce is taken out
    nine = _soft(9, 0, "a")
    tenth = delivery("anna@example.com", "a-9", "soft_bounce", at(9))
    delivered = delivery("anna@example.com", "d-1", "delivered", at(9))
    for events in (nine + [tenth, delivered], nine + [delivered, tenth], [delivered] + nine + [tenth]):
        rec = record(fold(events), ANNA)
        assert (rec.state, rec.reasons, rec.soft_bounces) == ("active", [], 0)


def test_unblock_resets_the_count():
    events = _soft(10, 0, "a") + [unblock("anna@example.com", at(20))]
    rec = record(fold(events), ANNA)
    assert (rec.state, rec.soft_bounces) == ("active", 0)
    rec = record(fold(events + _soft(9, 30, "b")), ANNA)
    assert (rec.state, rec.soft_bounces) == ("active", 9)
    rec = record(fold(events + _soft(10, 30, "b")), ANNA)
    assert (rec.state, rec.soft_bounces) == ("blocked", 10)


def test_a_bounce_listed_address_blocks_a_contact_created_later():
    replayed = fold([bounce_list("anna@example.com", at(0)), contact("c-2", at(48), emails=["Anna@example.com"])])
    assert replayed.contact_record("c-2").addresses[0].state == "blocked"
