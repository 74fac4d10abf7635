"""Bounce-list import (issue 6): every CSV variant real exports contain, invalid rows with
their line numbers, duplicates, and event ids that make a re-import change nothing."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingress.bounce_list import file_lines
from projections.bounce_list import (
    MAX_LINE_BYTES,
    BounceListReader,
    Duplicate,
    Entry,
    Invalid,
    bounce_list_event_id,
    detect_delimiter,
)
from projections.hashset import HashSet
from projections.normalise import AddressNormaliser
from replay.runner import fold
from schemas.events import encode_event

FIXTURES = Path(__file__).parent / "fixtures" / "bounce_lists"
AT = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
THREE = {"email:anna@example.com", "email:bob@example.org", "sms:+46701234567"}


def read(data: bytes, list_name="bounced", channel="auto"):
    reader = BounceListReader(list_name, channel, "test.csv", AT, AddressNormaliser("SE"))
    items = list(reader.read(file_lines(io.BytesIO(data))))
    return items, reader.summary


def keys(items) -> set[str]:
    return {f"{i.event.channel}:{i.event.address}" for i in items if type(i) is Entry}


@pytest.mark.parametrize("name, header, delimiter, blank", [
    ("plain.csv", False, ",", 0),
    ("bom_header.csv", True, ",", 0),
    ("bom_no_header.csv", False, ",", 0),
    ("semicolon_header.csv", True, ";", 0),
    ("quoted.csv", True, ",", 0),
    ("quoted_semicolon.csv", False, ";", 0),
    ("blank_lines.csv", False, ",", 6),
    ("whitespace.csv", True, ",", 0),
    ("no_final_newline.csv", False, ",", 0),
])
def test_every_csv_variant_gives_the_same_three_entries(name, header, delimiter, blank):
    items, summary = read((FIXTURES / name).read_bytes())
    assert keys(items) == THREE
    assert [type(i) for i in items] == [Entry] * 3, items
    assert (summary.imported, summary.invalid, summary.duplicates) == (3, 0, 0)
    assert (summary.header, summary.delimiter, summary.blank) == (header, delimiter, blank)


def test_invalid_rows_are_reported_with_line_and_reason_and_the_rest_is_imported():
    items, summary = read((FIXTURES / "invalid_rows.csv").read_bytes())
    assert keys(items) == THREE
    invalid = {i.line: i.reason for i in items if type(i) is Invalid}
    assert sorted(invalid) == [3, 4, 5, 7, 8, 10]
    assert invalid[3] == "'not-an-email' is neither an email address (no @) nor a phone number"
    assert invalid[4].startswith("invalid email 'bob@@example.org'")
    assert invalid[5] == "not UTF-8 text: byte 0xff at column 1"
    assert invalid[7].startswith("invalid phone number '12'")
    assert invalid[8] == "no address in column 1"
    assert invalid[10] == f"line is longer than {MAX_LINE_BYTES} bytes"
    assert [(i.line, i.key) for i in items if type(i) is Duplicate] == [(6, "email:anna@example.com")]
    assert (summary.lines, summary.imported, summary.duplicates, summary.invalid) == (11, 3, 1, 6)
    # valid rows keep their own line numbers
    assert [i.line for i in items if type(i) is Entry] == [2, 9, 11]


def test_each_entry_is_a_contract_bounce_list_event():
    items, _ = read(b"Anna@Example.com\n", list_name="unsubscribed")
    (entry,) = items
    event = entry.event
    assert (event.channel, event.address, event.list, event.source, event.occurred_at) == (
        "email", "anna@example.com", "unsubscribed", "test.csv", AT)
    assert event.event_id == bounce_list_event_id("unsubscribed", "email", "anna@example.com")


def test_event_ids_depend_on_list_channel_and_normalised_address_only():
    first, _ = read(b"Anna@Example.com\n+46 70 123 45 67\n")
    again, _ = read(b"email;name\n  anna@example.COM ;x\n0701234567;y\n")
    assert [i.event.event_id for i in first] == [i.event.event_id for i in again]
    other_list, _ = read(b"anna@example.com\n", list_name="unsubscribed")
    assert other_list[0].event.event_id != first[0].event.event_id


def test_forced_channel_reads_every_value_as_that_channel():
    items, summary = read(b"anna@example.com\n+46701234567\n", channel="sms")
    assert [type(i) for i in items] == [Invalid, Entry]
    assert items[0].reason.startswith("invalid phone number")


def test_a_header_names_the_address_column():
    items, summary = read(b"id,name,mobile\n1,Anna,070-123 45 67\n", channel="sms")
    assert summary.header and keys(items) == {"sms:+46701234567"}


def test_delimiter_detection_ignores_separators_inside_quotes():
    assert detect_delimiter('"a,b,c";x@y.se') == ";"
    assert detect_delimiter('"a;b;c",x@y.se') == ","
    assert detect_delimiter("anna@example.com") == ","


def test_re_importing_a_list_changes_nothing_in_the_fold():
    """RULES.md §4: re-importing the same list changes nothing, even after an unblock."""
    from schemas.events import Unblock

    items, _ = read((FIXTURES / "plain.csv").read_bytes())
    log = [encode_event(i.event) for i in items]
    assert {k: s.record().state for k, s in fold(log).addresses.items()} == dict.fromkeys(THREE, "blocked")
    log.append(encode_event(Unblock("u-1", datetime(2026, 3, 2, tzinfo=timezone.utc), "email", "anna@example.com", "me")))
    before = {k: s.record() for k, s in fold(log).addresses.items()}
    again, _ = read((FIXTURES / "plain.csv").read_bytes())
    log += [encode_event(i.event) for i in again]
    assert {k: s.record() for k, s in fold(log).addresses.items()} == before
    assert before["email:anna@example.com"].state == "active"


def test_file_lines_cuts_an_endless_line_and_goes_on():
    data = b"a@b.se\n" + b"x" * 100_000 + b"\nc@d.se\n"
    lines = list(file_lines(io.BytesIO(data)))
    assert len(lines) == 3
    assert len(lines[1]) == MAX_LINE_BYTES + 3
    assert lines[2] == b"c@d.se\n"


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1)))
def test_hash_set_remembers_exactly_what_was_added(values):
    seen = HashSet(capacity=4)
    reference: set[int] = set()
    for v in values:
        # 0 is stored as 1 (0 marks an empty slot)
        assert seen.add(v) == ((v or 1) not in reference)
        reference.add(v or 1)
    assert len(seen) == len(reference)
    assert all(v in seen for v in reference)
