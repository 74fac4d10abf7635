"""Issue 15, item 3: every line of an audience file ends up in exactly one place, however
the file is broken: the header, a blank line, a row of recipients.csv or excluded.csv (by
its `line` column), or the range reported as unread; and plan-sendout fails when the file
could not be read to its end."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

import sendout.audience
from bounceback.cli import main
from projections.sendout import SendoutPlan
from sendout.audience import MAX_LINE_CHARS, MAX_ROW_LINES, AudienceReader
from sendout.planner import plan_audience

AT = datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)
HEADER = "contact_id,address,name\n"
_LINE_END = re.compile(r"\r\n|\r|\n")


def _valid(first: int, count: int, end: str = "\n", quoted: bool = True) -> str:
    name = '"Person {}"' if quoted else "Person {}"
    return "".join(f"c-{i},user{i}@example.com,{name.format(i)}{end}" for i in range(first, first + count))


def physical_lines(data: bytes) -> list[str]:
    """The file's lines as a text editor numbers them: ended by \\n, \\r\\n or \\r."""
    text = data.decode("utf-8", errors="replace")
    lines = _LINE_END.split(text)
    return lines[:-1] if lines[-1] == "" else lines


def _span(label: str) -> range:
    first, _, last = label.partition("-")
    return range(int(first), int(last or first) + 1)


def plan(tmp_path: Path, data: bytes, name: str = "audience"):
    path = tmp_path / f"{name}.csv"
    path.write_bytes(data)
    out = tmp_path / name
    summary = plan_audience(str(path), SendoutPlan("so-1", "email", "marketing", 0, {}.get), out, AT)
    recipients = list(csv.DictReader((out / "recipients.csv").open(newline="")))
    excluded = list(csv.DictReader((out / "excluded.csv").open(newline="")))
    return summary, recipients, excluded


def assert_every_line_accounted_for(data: bytes, summary, recipients, excluded, header_line: int = 1) -> None:
    lines = physical_lines(data)
    if summary.unread is None:
        assert summary.lines == len(lines)
    seen: dict[int, str] = {}
    for where, rows in (("recipients", recipients), ("excluded", excluded)):
        for row in rows:
            for number in _span(row["line"]):
                assert number not in seen, f"line {number} is in {seen[number]} and {where}"
                seen[number] = where
    unread = range(0)
    if summary.unread is not None:
        first = int(re.search(r"lines (\d+) to the end", summary.unread).group(1))
        unread = range(first, len(lines) + 1)
        assert summary.lines == first - 1
        assert not set(unread) & set(seen), "an unread line is also in an output"
    rest = [n for n in range(1, len(lines) + 1) if n not in seen and n not in unread and n != header_line]
    assert all(not lines[n - 1].strip() for n in rest), [(n, lines[n - 1]) for n in rest if lines[n - 1].strip()]
    assert len(rest) == summary.blank_lines
    assert summary.audience == len(recipients) + len(excluded)


def test_an_unclosed_quote_spoils_its_own_line_and_the_10000_rows_after_it_are_planned(tmp_path):
    # as in the issue: no quote after it to close it, so the csv module reads on until its
    # field size limit, and used to lose thousands of rows
    data = (HEADER + "v-1,first@example.com,A\n" + 'v-q,q@example.com,"Lindqvist, Anna\n'
            + _valid(0, 10_000, quoted=False)).encode()
    summary, recipients, excluded, = plan(tmp_path, data)
    assert_every_line_accounted_for(data, summary, recipients, excluded)
    assert summary.audience == 10_002 and summary.to_send == 10_001 and summary.invalid == 1
    assert [(r["line"], r["outcome"]) for r in excluded] == [("3", "invalid")]
    assert "quote" in excluded[0]["detail"] and "Lindqvist" in excluded[0]["address"]
    assert recipients[-1]["contact_id"] == "c-9999" and recipients[-1]["line"] == "10003"


def test_a_quote_that_closes_many_lines_later_does_not_join_them_into_one_row(tmp_path):
    # the quote opened on line 3 is closed by the quotes of line 4's name: in strict CSV a
    # value cannot go on after its closing quote, so line 3 alone is broken
    data = (HEADER + _valid(0, 1) + 'v-q,q@example.com,"Open\n' + _valid(1, 5) + "x,x@example.com,\"a\"\"b\"\n").encode()
    summary, recipients, excluded = plan(tmp_path, data)
    assert_every_line_accounted_for(data, summary, recipients, excluded)
    assert [r["line"] for r in excluded] == ["3"]
    assert len(recipients) == 7


def test_a_quoted_value_running_over_the_row_limit_is_one_broken_line(tmp_path):
    # a name whose quote never closes, with more lines after it than one row may span
    data = (HEADER + 'v-q,q@example.com,"Open\n' + "".join(f"line {i} of a note\n" for i in range(MAX_ROW_LINES + 5))
            + _valid(0, 3)).encode()
    summary, recipients, excluded = plan(tmp_path, data)
    assert_every_line_accounted_for(data, summary, recipients, excluded)
    assert excluded[0]["line"] == "2" and "quote" in excluded[0]["detail"]
    assert [r["contact_id"] for r in recipients] == ["c-0", "c-1", "c-2"]


@pytest.mark.parametrize("final_newline", [True, False])
def test_an_unclosed_quote_on_the_last_line_is_invalid_not_a_recipient(tmp_path, final_newline):
    data = (HEADER + _valid(0, 2) + 'v-q,q@example.com,"Lindqvist, Anna' + ("\n" if final_newline else "")).encode()
    summary, recipients, excluded = plan(tmp_path, data)
    assert_every_line_accounted_for(data, summary, recipients, excluded)
    assert [r["line"] for r in excluded] == ["4"] and "never closed" in excluded[0]["detail"]
    assert [r["contact_id"] for r in recipients] == ["c-0", "c-1"]


def test_nul_bytes_mixed_line_ends_blank_and_white_space_lines_and_bad_utf8(tmp_path):
    data = (HEADER.encode()
            + b"c-1,one@example.com,A\r\n"             # 2
            + b"c-2,two@example.com,B\r"               # 3 a lone CR ends a line
            + b"c-3,th\x00ree@example.com,C\n"         # 4 NUL in the address
            + b"c-\x004,four@example.com,D\n"          # 5 NUL in the contact id
            + b"c-5,five@example.com,E\x00\n"          # 6 NUL in another column: harmless
            + b"   \t \r\n"                            # 7 white space only: blank
            + b"\n"                                    # 8 empty: blank
            + b"\r"                                    # 9 empty, lone CR: blank
            + b"c-6,s\xffix@example.com,F\n"           # 10 not UTF-8
            + b'c-7,seven@example.com,"two\r\nlines"\n'  # 11-12 a quoted line break
            + b"c-8,eight@example.com,H")              # 13 no final line end
    summary, recipients, excluded = plan(tmp_path, data)
    assert_every_line_accounted_for(data, summary, recipients, excluded)
    assert summary.blank_lines == 3
    assert [(r["contact_id"], r["line"]) for r in recipients] == [
        ("c-1", "2"), ("c-2", "3"), ("c-5", "6"), ("c-7", "11-12"), ("c-8", "13")]
    reasons = {r["line"]: r["detail"] for r in excluded}
    assert set(reasons) == {"4", "5", "10"}
    assert "invalid email" in reasons["4"]
    assert reasons["5"] == "contact_id has a control character"
    assert reasons["10"] == "not valid UTF-8"


def test_an_overlong_line_is_reported_without_being_held_whole(tmp_path):
    data = (HEADER + _valid(0, 1) + "c-x," + "x" * (3 * MAX_LINE_CHARS) + "@example.com,X\r\n" + _valid(1, 2)).encode()
    summary, recipients, excluded = plan(tmp_path, data)
    assert_every_line_accounted_for(data, summary, recipients, excluded)
    assert [(r["line"], r["detail"]) for r in excluded] == [("3", f"line longer than {MAX_LINE_CHARS} characters")]
    assert len(recipients) == 3


def test_a_line_end_split_by_the_line_limit_is_still_one_line_end(tmp_path):
    # \r\n with the \r the last character the limit lets through, and a lone \r there
    pad = MAX_LINE_CHARS - 1 - len("c-a,a@example.com,")
    data = (HEADER + "c-a,a@example.com," + "n" * pad + "\r\n" + "c-b,b@example.com," + "n" * pad + "\r"
            + _valid(0, 1)).encode()
    summary, recipients, excluded = plan(tmp_path, data)
    assert_every_line_accounted_for(data, summary, recipients, excluded)
    assert [r["contact_id"] for r in recipients] == ["c-a", "c-b", "c-0"] and summary.blank_lines == 0


class _FailingFile(io.StringIO):
    """A file whose disk fails after some lines (handed out one line per read)."""

    def __init__(self, text: str, fail_after: int) -> None:
        super().__init__(text, newline="")
        self.left = fail_after

    def read(self, size=-1):
        if self.left == 0:
            raise OSError(5, "Input/output error")
        self.left -= 1
        return super().readline(size)


def _failing_open(text: str, fail_after: int):
    return lambda *args, **kwargs: _FailingFile(text, fail_after)


def test_a_file_that_cannot_be_read_to_its_end_is_reported_with_the_unread_lines(tmp_path, monkeypatch):
    text = HEADER + _valid(0, 20)
    monkeypatch.setattr(sendout.audience, "open", _failing_open(text, 8), raising=False)
    summary, recipients, excluded = plan(tmp_path, text.encode())
    assert summary.unread == "lines 9 to the end could not be read: [Errno 5] Input/output error"
    assert len(recipients) == 7
    assert_every_line_accounted_for(text.encode(), summary, recipients, excluded)


def test_plan_sendout_exits_non_zero_when_the_audience_could_not_be_read_to_its_end(tmp_path, monkeypatch):
    text = HEADER + _valid(0, 20)
    path = tmp_path / "audience.csv"
    path.write_text(text)
    monkeypatch.setattr(sendout.audience, "open", _failing_open(text, 8), raising=False)
    result = CliRunner().invoke(main, ["plan-sendout", str(path), "--sendout-id", "so-1", "--channel", "email",
                                       "--suppressions", str(_no_suppressions(tmp_path)), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    assert "lines 9 to the end could not be read" in result.output and "nothing published" in result.output
    assert msgspec.json.decode((tmp_path / "o" / "summary.json").read_bytes())["unread"].startswith("lines 9 ")


def test_plan_sendout_exits_zero_when_broken_rows_were_read_past(tmp_path):
    path = tmp_path / "audience.csv"
    path.write_text(HEADER + 'v-q,q@example.com,"Lindqvist, Anna\n' + _valid(0, 3))
    result = CliRunner().invoke(main, ["plan-sendout", str(path), "--sendout-id", "so-1", "--channel", "email",
                                       "--suppressions", str(_no_suppressions(tmp_path)), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "audience.csv:2: a quote opened on this line" in result.output


def _no_suppressions(tmp_path: Path) -> Path:
    path = tmp_path / "suppressions.jsonl"
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_each_kind_of_line_end_numbers_the_lines_alike(tmp_path, end):
    data = (HEADER.replace("\n", end) + _valid(0, 3, end) + end + "  " + end + _valid(3, 1, end)).encode()
    summary, recipients, excluded = plan(tmp_path, data)
    assert_every_line_accounted_for(data, summary, recipients, excluded)
    assert [r["line"] for r in recipients] == ["2", "3", "4", "7"] and summary.blank_lines == 2


def test_reader_counts_on_a_sample(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"\n \n" + HEADER.encode() + _valid(0, 2).encode() + b"\n")
    reader = AudienceReader(str(path))
    rows = list(reader)
    assert [r[0] for r in rows] == [4, 5]  # AudienceRow fields: line first
    assert (reader.lines, reader.header_line, reader.blank, reader.unread) == (6, 3, 3, None)
