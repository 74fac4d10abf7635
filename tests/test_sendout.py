"""RULES.md §5: the send-out planner (projections/sendout.py, sendout/audience.py,
sendout/planner.py and `bounceback plan-sendout` without a broker)."""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from bounceback.cli import main
from projections.sendout import BLOCKING_REASONS, SendoutPlan, excluding_reasons, in_control_group, message_id
from schemas.events import Delivery, decode_event
from sendout.audience import AudienceError, read_audience
from sendout.planner import plan_audience

AT = datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)
REASONS = ["bounce_list", "complaint", "hard_bounce", "soft_bounce_limit", "unsubscribed"]


def _csv(tmp_path: Path, text: str, name: str = "audience.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def _plan(tmp_path, text, suppressed=None, channel="email", purpose="marketing", percent=0.0, sendout_id="so-1",
          emit_sent=False, name="run"):
    suppressed = suppressed or {}
    plan = SendoutPlan(sendout_id, channel, purpose, percent, suppressed.get)
    out = tmp_path / name
    summary = plan_audience(_csv(tmp_path, text, f"{name}.csv"), plan, out, AT, emit_sent)
    # (contact_id, address); message ids and lines have tests of their own
    recipients = [r[:2] for r in list(csv.reader((out / "recipients.csv").open()))[1:]]
    # by the line the row starts on
    excluded = {int(r[0].split("-")[0]): r[1:] for r in list(csv.reader((out / "excluded.csv").open()))[1:]}
    events = [decode_event(line) for line in (out / "events.jsonl").read_bytes().splitlines()]
    assert summary.audience == (summary.invalid + summary.suppressed + summary.duplicate_addresses
                                + summary.control_group + summary.to_send)
    return summary, recipients, excluded, events


def test_an_address_shared_by_several_contacts_is_sent_once_to_the_first_contact_in_the_file(tmp_path):
    summary, recipients, excluded, _ = _plan(tmp_path, "contact_id,address\n"
                                             "c-9,shared@example.com\nc-2,own@example.com\nc-1,shared@example.com\n"
                                             "c-5,shared@example.com\n")
    assert recipients == [["c-9", "shared@example.com"], ["c-2", "own@example.com"]]
    assert excluded == {4: ["c-1", "shared@example.com", "duplicate", "address taken by line 2"],
                        5: ["c-5", "shared@example.com", "duplicate", "address taken by line 2"]}
    assert summary.duplicate_addresses == 2 and summary.to_send == 2


def test_mixed_case_and_spaced_spellings_of_one_address_are_one_address(tmp_path):
    summary, recipients, excluded, _ = _plan(tmp_path, "address,contact_id\n"
                                             "  Anna@Example.COM ,c-1\nanna@example.com,c-2\nANNA@EXAMPLE.COM,c-3\n")
    assert recipients == [["c-1", "anna@example.com"]]
    assert [row[2] for row in excluded.values()] == ["duplicate", "duplicate"]
    assert summary.duplicate_addresses == 2


def test_phone_numbers_are_deduplicated_in_e164(tmp_path):
    summary, recipients, excluded, _ = _plan(tmp_path, "contact_id,address\nc-1,070-123 45 67\nc-2,+46701234567\n"
                                             "c-3,0046 70 123 45 67\n", channel="sms")
    assert recipients == [["c-1", "+46701234567"]]
    assert summary.duplicate_addresses == 2


def test_invalid_rows_are_reported_with_their_line_numbers_and_the_rest_is_planned(tmp_path):
    text = ("contact_id,address,name\n"          # 1
            "c-1,ok@example.com,A\n"              # 2
            "c-2,not-an-address,B\n"              # 3
            "\n"                                  # 4 blank: skipped
            ",nobody@example.com,C\n"             # 5 no contact id
            "c-3,too-few\n"                       # 6
            'c-4,"multi\nline@example.com",D\n'   # 7-8 a quoted newline
            "c-5,late@example.com,E\n")           # 9
    summary, recipients, excluded, _ = _plan(tmp_path, text)
    assert recipients == [["c-1", "ok@example.com"], ["c-5", "late@example.com"]]
    assert sorted(excluded) == [3, 5, 6, 7]
    assert all(row[2] == "invalid" for row in excluded.values())
    assert "invalid email 'not-an-address'" in excluded[3][3]
    assert excluded[5][3] == "empty contact_id"
    assert excluded[6][3] == "row has 2 fields, the header has 3"
    assert summary.invalid == 4 and summary.audience == 6


def test_invalid_phone_numbers_and_undecodable_bytes_are_invalid_rows(tmp_path):
    summary, recipients, excluded, _ = _plan(tmp_path, b"contact_id,address\nc-1,12\nc-2,+4670\xff1234567\n"
                                             b"c-3,+46701234567\n", channel="sms")
    assert recipients == [["c-3", "+46701234567"]]
    assert "invalid phone number '12'" in excluded[2][3]
    assert excluded[3][3] == "not valid UTF-8"


def test_an_audience_without_the_needed_columns_is_refused_naming_them(tmp_path):
    with pytest.raises(AudienceError, match="no address column"):
        list(read_audience(_csv(tmp_path, "contact_id,email\nc-1,a@example.com\n")))
    with pytest.raises(AudienceError, match="empty file"):
        list(read_audience(_csv(tmp_path, "", "empty.csv")))


@pytest.mark.parametrize("purpose", ["marketing", "transactional"])
@pytest.mark.parametrize("reason", REASONS)
def test_each_suppression_reason_for_each_purpose(tmp_path, reason, purpose):
    # marketing skips every suppressed address; transactional only the blocked ones
    # (RULES.md §4 "state"; complaint counts as an opt-out like unsubscribed: docs/decisions.md)
    skipped = purpose == "marketing" or reason in BLOCKING_REASONS
    for channel, address in (("email", "x@example.com"), ("sms", "+46701234567")):
        suppressed = {f"{channel}:{address}": [reason]}
        summary, recipients, excluded, _ = _plan(tmp_path, f"contact_id,address\nc-1,{address}\nc-2,{address}\n",
                                                 suppressed, channel=channel, purpose=purpose, name=channel)
        if skipped:
            assert recipients == []
            assert excluded == {2: ["c-1", address, "suppressed", reason], 3: ["c-2", address, "suppressed", reason]}
            assert summary.suppressed == 2 and summary.suppressed_by_reason == {reason: 2}
        else:
            assert recipients == [["c-1", address]]
            assert summary.suppressed == 0 and summary.duplicate_addresses == 1


def test_transactional_counts_only_the_blocking_reasons_of_an_address_with_several():
    assert excluding_reasons(["complaint", "hard_bounce", "unsubscribed"], "transactional") == ["hard_bounce"]
    assert excluding_reasons(["complaint", "unsubscribed"], "transactional") == []
    assert excluding_reasons(["complaint", "unsubscribed"], "marketing") == ["complaint", "unsubscribed"]
    with pytest.raises(ValueError, match="purpose"):
        excluding_reasons([], "newsletter")


def _audience(n: int) -> str:
    return "contact_id,address\n" + "".join(f"c-{i},user{i}@example.com\n" for i in range(n))


def test_the_control_group_draw_depends_only_on_the_sendout_and_the_contact(tmp_path):
    text = _audience(2000)
    first = _plan(tmp_path, text, percent=20, sendout_id="so-a", name="first")
    again = _plan(tmp_path, text, percent=20, sendout_id="so-a", name="again")
    drawn = {e.contact_id for e in first[3]}
    assert drawn == {e.contact_id for e in again[3]}
    assert drawn == {f"c-{i}" for i in range(2000) if in_control_group("so-a", f"c-{i}", 20)}
    # another order of the audience, and other rows around it, draw the same contacts
    reordered = "contact_id,address\nz-1,z@example.com\n" + "".join(reversed(text.splitlines(keepends=True)[1:]))
    assert {e.contact_id for e in _plan(tmp_path, reordered, percent=20, sendout_id="so-a", name="reordered")[3]} - {"z-1"} == drawn
    # another send-out draws others
    other = {e.contact_id for e in _plan(tmp_path, text, percent=20, sendout_id="so-b", name="other")[3]}
    assert other != drawn and len(other & drawn) < len(drawn) // 2
    # the drawn contacts are not sent
    assert not drawn & {contact_id for contact_id, _ in first[1]}


@pytest.mark.parametrize("percent", [0, 5, 33.3, 100])
def test_the_control_group_has_the_asked_proportion(tmp_path, percent):
    n = 20_000
    summary, recipients, _, events = _plan(tmp_path, _audience(n), percent=percent)
    expected = n * percent / 100
    sigma = (n * percent / 100 * (1 - percent / 100)) ** 0.5
    assert abs(summary.control_group - expected) <= 4 * sigma  # exact at 0 and 100
    assert summary.control_group == len(events) and summary.to_send == len(recipients) == n - summary.control_group


def test_control_group_events_are_contract_deliveries_with_ids_that_depend_only_on_the_plan(tmp_path):
    summary, _, excluded, events = _plan(tmp_path, "contact_id,address\nc-1,Anna@Example.com\nc-2,bo@example.com\n",
                                         percent=100, sendout_id="so-7")
    m1, m2 = message_id("so-7", "c-1", "anna@example.com"), message_id("so-7", "c-2", "bo@example.com")
    assert m1.startswith("so-7:c-1:") and m2.startswith("so-7:c-2:")
    assert [(e.event_id, e.message_id, e.address, e.status, e.sendout_id, e.contact_id, e.occurred_at) for e in events] == [
        (f"{m1}:control_group", m1, "anna@example.com", "control_group", "so-7", "c-1", AT),
        (f"{m2}:control_group", m2, "bo@example.com", "control_group", "so-7", "c-2", AT)]
    assert all(type(e) is Delivery for e in events)
    assert [row[2] for row in excluded.values()] == ["control_group", "control_group"]


def test_emit_sent_adds_a_sent_event_per_recipient(tmp_path):
    summary, recipients, _, events = _plan(tmp_path, _audience(50), percent=10, emit_sent=True)
    statuses = [e.status for e in events]
    assert statuses.count("sent") == len(recipients) == summary.to_send
    assert statuses.count("control_group") == summary.control_group
    assert {e.contact_id for e in events if e.status == "sent"} == {c for c, _ in recipients}


def test_plan_sendout_command_offline_writes_byte_stable_files_and_prints_the_summary(tmp_path):
    audience = _csv(tmp_path, "contact_id,address\nc-1,a@example.com\nc-2,A@example.com\nc-3,blocked@example.com\n"
                              "c-4,oops\nc-5,b@example.com\nc-6,c@example.com\n")
    records = tmp_path / "suppressions.jsonl"
    records.write_bytes(msgspec.json.encode({"channel": "email", "address": "blocked@example.com", "state": "blocked",
                                             "reasons": ["hard_bounce"], "soft_bounces": 0,
                                             "updated_at": "2026-03-01T10:00:00Z"}) + b"\n")
    outputs = []
    for name in ("one", "two"):
        result = CliRunner().invoke(main, ["plan-sendout", audience, "--sendout-id", "so-1", "--channel", "email",
                                           "--suppressions", str(records), "--control-group", "40", "--at",
                                           "2026-03-05T12:00:00Z", "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        outputs.append({p.name: p.read_bytes() for p in sorted((tmp_path / name).iterdir())})
    assert outputs[0] == outputs[1]
    assert sorted(outputs[0]) == ["events.jsonl", "excluded.csv", "recipients.csv", "summary.json"]
    summary = msgspec.json.decode(outputs[0]["summary.json"])
    assert summary["audience"] == 6 and summary["invalid"] == 1 and summary["suppressed"] == 1
    assert summary["suppressed_by_reason"] == {"hard_bounce": 1} and summary["duplicate_addresses"] == 1
    assert summary["control_group"] + summary["to_send"] == 3
    assert "audience.csv:5: invalid email 'oops'" in result.output
    assert "suppressed                   1  hard_bounce 1" in result.output
    assert "events not published (no --broker)" in result.output


def test_plan_sendout_without_a_source_of_suppressions_refuses_to_plan(tmp_path):
    audience = _csv(tmp_path, "contact_id,address\nc-1,a@example.com\n")
    result = CliRunner(env={"KAFKA_BOOTSTRAP": None}).invoke(
        main, ["plan-sendout", audience, "--sendout-id", "so-1", "--channel", "email", "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "--broker" in result.output
    assert not (tmp_path / "o").exists()


def test_a_contact_listed_with_two_addresses_gets_two_messages_with_their_own_ids(tmp_path):
    # RULES.md §2: one message goes to one address; issue 15 item 5
    text = "contact_id,address\nc-twice,first@example.com\nc-other,o@example.com\nc-twice,second@example.com\n"
    summary, recipients, _, events = _plan(tmp_path, text, emit_sent=True)
    assert recipients == [["c-twice", "first@example.com"], ["c-other", "o@example.com"], ["c-twice", "second@example.com"]]
    rows = list(csv.DictReader((tmp_path / "run" / "recipients.csv").open()))
    ids = [row["message_id"] for row in rows]
    assert len(set(ids)) == 3
    assert [(e.message_id, e.address) for e in events] == [(row["message_id"], row["address"]) for row in rows]
    assert len({e.event_id for e in events}) == 3
    # deterministic: the same ids on another run, whatever else is in the audience
    again = _plan(tmp_path, "contact_id,address\nc-new,n@example.com\n" + text.split("\n", 1)[1], emit_sent=True,
                  name="again")[3]
    assert {(e.contact_id, e.address): e.message_id for e in again if e.contact_id != "c-new"} == {
        (e.contact_id, e.address): e.message_id for e in events}
    assert message_id("so-1", "c-twice", "first@example.com") == ids[0]
    # parts that run together when joined still give different ids
    assert message_id("a:b", "c", "x@example.com") != message_id("a", "b:c", "x@example.com")


def test_a_row_spanning_lines_is_labelled_with_its_line_range(tmp_path):
    _plan(tmp_path, 'contact_id,address,note\nc-1,a@example.com,"two\nlines"\nc-2,bad,x\n')
    rows = list(csv.DictReader((tmp_path / "run" / "recipients.csv").open()))
    assert [(r["contact_id"], r["line"]) for r in rows] == [("c-1", "2-3")]
    assert [r["line"] for r in csv.DictReader((tmp_path / "run" / "excluded.csv").open())] == ["4"]


@pytest.mark.parametrize("sendout_id, error", [
    ("", "Error: --sendout-id: the send-out id must not be empty"),
    ("  ", "Error: --sendout-id: the send-out id '  ' is blank"),
    (" so-1", "Error: --sendout-id: the send-out id ' so-1' has white space around it"),
    ("so\n1", "Error: --sendout-id: the send-out id 'so\\n1' has a control character"),
])
def test_an_empty_or_blank_sendout_id_is_a_one_line_error(tmp_path, sendout_id, error):
    audience = _csv(tmp_path, "contact_id,address\nc-1,a@example.com\n")
    records = _csv(tmp_path, "", "suppressions.jsonl")
    result = CliRunner().invoke(main, ["plan-sendout", audience, "--sendout-id", sendout_id, "--channel", "email",
                                       "--suppressions", records, "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.splitlines() == [error]
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="send-out id"):
        SendoutPlan(sendout_id, "email", "marketing", 0, {}.get)
