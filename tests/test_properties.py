"""Property tests (hypothesis): order independence, idempotence, byte-stable replay."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from email_validator import validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replay.runner import fold, write_outputs
from sendout.planner import _CsvFile
from projections import normalise
from schemas.events import EMAIL_REPORT_STATUSES, SMS_REPORT_STATUSES
from tests.helpers import at, bounce_list, contact, delivery, lines, tick, unblock, address_event

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ADDRESS = {"email": "anna@example.com", "sms": "+46701234567"}
STATUSES = {"email": sorted(EMAIL_REPORT_STATUSES), "sms": sorted(SMS_REPORT_STATUSES)}


@st.composite
def one_address_reports(draw):
    """Delivery reports for one address at distinct times, fewer soft bounces than the limit."""
    channel = draw(st.sampled_from(["email", "sms"]))
    count = draw(st.integers(1, 14))
    hours = draw(st.lists(st.integers(0, 400), min_size=count, max_size=count, unique=True))
    events = []
    for i, hour in enumerate(hours):
        events.append(delivery(ADDRESS[channel], f"m-{draw(st.integers(0, 8))}", draw(st.sampled_from(STATUSES[channel])),
                               at(hour), channel=channel, event_id=f"ev-{i}",
                               contact_id=draw(st.sampled_from([None, "c-1", "c-2"])),
                               bounce_code=draw(st.sampled_from([None, "5.1.1", "4.2.2"]))))
    return channel, events


def _state(events):
    replayed = fold(lines(events))
    addresses = {k: (a.state, sorted(a.reasons), len(a.soft)) for k, a in replayed.addresses.items()}
    messages = {
        (k, mid): m.record(mid, a.channel, a.address) for k, a in replayed.addresses.items() for mid, m in a.messages.items()
    }
    contacts = {cid: sorted((m.message_id, m.status) for m in replayed.contact_record(cid).messages) for cid in replayed.contacts}
    return addresses, messages, contacts


@SETTINGS
@given(one_address_reports(), st.randoms(use_true_random=False))
def test_any_order_of_the_same_delivery_reports_gives_the_same_address_and_message_states(reports, random):
    _channel, events = reports
    shuffled = events[:]
    random.shuffle(shuffled)
    assert _state(shuffled) == _state(events)


@st.composite
def mixed_logs(draw):
    emails = ["anna@example.com", "bo@example.org", "Cy@Example.net"]
    phones = ["+46701234567", "0731234567"]
    events = []
    for i in range(draw(st.integers(1, 30))):
        hour = draw(st.integers(0, 300))
        kind = draw(st.sampled_from(["delivery", "delivery", "delivery", "tick", "unsubscribe", "resubscribe",
                                     "unblock", "bounce_list", "contact"]))
        channel = draw(st.sampled_from(["email", "sms"]))
        address = draw(st.sampled_from(emails if channel == "email" else phones))
        eid = f"ev-{i}"
        if kind == "delivery":
            events.append(delivery(address, f"m-{draw(st.integers(0, 12))}", draw(st.sampled_from(STATUSES[channel])),
                                   at(hour), channel=channel, event_id=eid,
                                   contact_id=draw(st.sampled_from([None, "c-1", "c-2"]))))
        elif kind == "tick":
            events.append(tick(at(hour)))
        elif kind in ("unsubscribe", "resubscribe"):
            events.append(address_event(kind, address, at(hour), channel=channel, event_id=eid))
        elif kind == "unblock":
            events.append(unblock(address, at(hour), channel=channel, event_id=eid))
        elif kind == "bounce_list":
            events.append(bounce_list(address, at(hour), channel=channel, event_id=eid,
                                      list_=draw(st.sampled_from(["bounced", "unsubscribed"]))))
        else:
            events.append(contact(draw(st.sampled_from(["c-1", "c-2", "c-3"])), at(hour), event_id=eid,
                                  emails=draw(st.lists(st.sampled_from(emails), max_size=3)),
                                  phones=draw(st.lists(st.sampled_from(phones), max_size=2))))
    return events


def _outputs(events, tmp: Path) -> dict[str, bytes]:
    write_outputs(fold(lines(events)), tmp)
    return {name: (tmp / name).read_bytes() for name in ("addresses.jsonl", "suppressions.jsonl", "contacts.jsonl")}


@SETTINGS
@given(mixed_logs(), st.data())
def test_applying_any_event_twice_equals_applying_it_once(tmp_path_factory, events, data):
    # a tick has no identity: a later tick at the same time is the clock speaking again
    identified = [i for i, e in enumerate(events) if "event_id" in e]
    if not identified:
        return
    index = data.draw(st.sampled_from(identified))
    again_at = data.draw(st.integers(index + 1, len(events)))
    doubled = events[:again_at] + [events[index]] + events[again_at:]
    assert _outputs(doubled, tmp_path_factory.mktemp("twice")) == _outputs(events, tmp_path_factory.mktemp("once"))


@SETTINGS
@given(mixed_logs())
def test_replaying_a_log_twice_gives_identical_bytes(tmp_path_factory, events):
    first = _outputs(events, tmp_path_factory.mktemp("first"))
    assert _outputs(events, tmp_path_factory.mktemp("second")) == first


@settings(max_examples=300, deadline=None)
@given(st.from_regex(normalise._PLAIN_EMAIL, fullmatch=True))
def test_the_fast_email_path_never_accepts_what_email_validator_rejects(value):
    try:
        fast = normalise._email(value)
    except normalise.InvalidAddress:
        return
    validate_email(fast, check_deliverability=False, test_environment=True)


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 5).flatmap(lambda width: st.lists(
    st.lists(st.text(st.sampled_from(',"\r\n x\u00e9\u2028') | st.characters()), min_size=width, max_size=width),
    min_size=1, max_size=4)))
def test_the_planners_csv_files_hold_what_the_csv_module_writes(rows):
    expected, written = io.StringIO(), io.StringIO()
    csv.writer(expected).writerows(rows)
    out = _CsvFile(written, tuple(rows[0]))
    for row in rows[1:]:
        out.writerow(tuple(row))
    assert written.getvalue() == expected.getvalue()
