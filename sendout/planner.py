"""Planning a send-out: the audience CSV through the rules of projections/sendout.py, into
the recipient list, the excluded rows, the planned events and a summary."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import msgspec

from projections.normalise import address_key
from projections.sendout import SendoutPlan, Summary
from schemas.records import AddressRecord
from sendout.audience import AudienceReader

RECIPIENTS = "recipients.csv"  # contact_id,address,message_id,line: the messages to send
EXCLUDED = "excluded.csv"  # line,contact_id,address,outcome,detail: every row not sent
EVENTS = "events.jsonl"  # control_group events (and sent events with emit_sent), contract `delivery`
SUMMARY = "summary.json"


class _CsvFile:
    """Rows of strings, as many as the header has (two or more), written as csv.writer writes
    them (the excel dialect), byte for byte. The csv module looks at each character on its
    own, about a microsecond a row, a sixth of planning one; a row whose values hold no
    separator, quote or line break needs no quoting and is joined instead. Any other row
    still goes through the csv module."""

    def __init__(self, f, header: tuple[str, ...]) -> None:
        self._write = f.write
        self._quoting = csv.writer(f).writerow
        self._separators = len(header) - 1
        self._quoting(header)

    def writerow(self, values: tuple[str, ...]) -> None:
        line = ",".join(values)
        if line.count(",") == self._separators and '"' not in line and "\n" not in line and "\r" not in line:
            self._write(line + "\r\n")
        else:
            self._quoting(values)


def plan_audience(audience: str, plan: SendoutPlan, out_dir: str | Path, occurred_at: datetime,
                  emit_sent: bool = False, on_invalid: Callable[[str, str], None] | None = None) -> Summary:
    """Read the audience and write the four files to out_dir; returns the summary. Rows
    that cannot be read are counted as invalid and listed in excluded.csv. The `line` of
    a row is its line in the audience file, `N-M` for a row spanning lines N to M. When
    the file could not be read to its end, `summary.unread` says from which line and why."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    add, invalid = plan.add, plan.invalid
    reader = AudienceReader(audience)
    with (open(out / RECIPIENTS, "w", newline="") as recipients_file,
          open(out / EXCLUDED, "w", newline="") as excluded_file,
          open(out / EVENTS, "wb") as events):
        recipients = _CsvFile(recipients_file, ("contact_id", "address", "message_id", "line"))
        excluded = _CsvFile(excluded_file, ("line", "contact_id", "address", "outcome", "detail"))
        for line, last_line, contact_id, address, error in reader:
            row = add(line, contact_id, address) if error is None else invalid(line, contact_id, address, error)
            lines = str(line) if last_line == line else f"{line}-{last_line}"
            outcome = row.outcome
            if outcome == "send":
                recipients.writerow((row.contact_id, row.address, row.message_id, lines))
                if emit_sent:
                    events.write(plan.event(row, "sent", occurred_at) + b"\n")
                continue
            excluded.writerow((lines, row.contact_id, row.address, outcome, row.detail))
            if outcome == "control_group":
                events.write(plan.event(row, "control_group", occurred_at) + b"\n")
            elif outcome == "invalid" and on_invalid is not None:
                on_invalid(lines, row.detail)
    summary = plan.summary
    summary.suppressed_by_reason = dict(sorted(summary.suppressed_by_reason.items()))
    summary.lines, summary.blank_lines, summary.unread = reader.lines, reader.blank, reader.unread
    (out / SUMMARY).write_bytes(msgspec.json.format(msgspec.json.encode(summary)) + b"\n")
    return summary


def summary_text(summary: Summary) -> str:
    by_reason = ", ".join(f"{reason} {count}" for reason, count in summary.suppressed_by_reason.items())
    rows = [
        ("audience", summary.audience, ""),
        ("invalid", summary.invalid, ""),
        ("suppressed", summary.suppressed, by_reason),
        ("duplicate addresses", summary.duplicate_addresses, ""),
        ("control group", summary.control_group, f"{summary.control_group_percent:g}% drawn"),
        ("to send", summary.to_send, ""),
    ]
    head = f"send-out {summary.sendout_id} ({summary.channel}, {summary.purpose})"
    return "\n".join([head] + [f"  {name:<20}{count:>10}  {note}".rstrip() for name, count, note in rows])


def suppressions_from_file(path: str) -> dict[str, list[str]]:
    """`channel:address` -> reasons, from address records in JSONL (a replay's
    suppressions.jsonl, or addresses.jsonl): planning offline, without the topic."""
    decoder = msgspec.json.Decoder(AddressRecord)
    reasons: dict[str, list[str]] = {}
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = decoder.decode(line)
            except msgspec.DecodeError as exc:
                raise ValueError(f"{path}:{number}: not an address record: {exc}") from None
            if record.reasons:
                reasons[address_key(record.channel, record.address)] = record.reasons
    return reasons
