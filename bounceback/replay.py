"""`bounceback replay`: fold a log without Kafka and write the four audit files
(CONTRACT.md, "Audit replay"), each sorted so two runs give identical bytes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import gc

import msgspec

from projections.intake import normalise_event
from projections.ledger import Ledger
from projections.normalize import AddressNormalizer
from projections.policy import Policy
from schemas.events import InvalidEvent, Tick, decode_event
from schemas.records import RejectedLine

_encode = msgspec.json.Encoder().encode


@dataclass
class ReplayResult:
    ledger: Ledger
    events: int = 0
    rejected: list[RejectedLine] = field(default_factory=list)


def read_lines(path: str) -> Iterator[bytes]:
    """The lines of a log file, or of standard input for `-`."""
    import sys

    stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    try:
        yield from stream
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def fold_log(
    lines: Iterable[bytes],
    policy: Policy | None = None,
    as_of: datetime | None = None,
    audit: Iterable[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Decode, normalise and fold every line; a rejected line is recorded and skipped."""
    # The fold builds no reference cycles; cyclic GC passes over its ever-growing state
    # would only cost time (measured: half of the replay time on a 1M-event log).
    with _without_cyclic_gc():
        return _fold(lines, policy, as_of, audit, on_progress)


@contextmanager
def _without_cyclic_gc():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fold(lines, policy, as_of, audit, on_progress) -> ReplayResult:
    ledger = Ledger(policy, audit=audit)
    result = ReplayResult(ledger)
    normalise = AddressNormalizer(ledger.policy.default_region)
    apply = ledger.apply
    rejected = result.rejected
    events = 0
    for number, raw in enumerate(lines, 1):
        try:
            event = normalise_event(decode_event(raw), normalise)
        except InvalidEvent as exc:
            if not raw.strip():
                continue  # blank lines are not events
            rejected.append(RejectedLine(number, str(exc), raw.rstrip(b"\r\n").decode("utf-8", "replace")))
            continue
        apply(event)
        events += 1
        if on_progress is not None and not number & 0xFFFF:
            on_progress(number)
    if as_of is not None:
        apply(Tick(at=as_of))
    result.events = events
    return result


def write_outputs(result: ReplayResult, out_dir: str | Path) -> dict[str, int]:
    """Write addresses.jsonl, suppressions.jsonl, contacts.jsonl and rejected.jsonl."""
    with _without_cyclic_gc():
        return _write(result, Path(out_dir))


def _write(result: ReplayResult, out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    addresses = result.ledger.address_records()
    counts = {}
    with open(out / "addresses.jsonl", "wb") as all_file, open(out / "suppressions.jsonl", "wb") as suppressed_file:
        suppressed = 0
        for record in addresses.values():
            line = _encode(record) + b"\n"
            all_file.write(line)
            if record.reasons:
                suppressed_file.write(line)
                suppressed += 1
    counts["addresses"], counts["suppressions"] = len(addresses), suppressed
    contacts = 0
    with open(out / "contacts.jsonl", "wb") as contact_file:
        for record in result.ledger.contact_records(addresses):
            contact_file.write(_encode(record) + b"\n")
            contacts += 1
    counts["contacts"] = contacts
    with open(out / "rejected.jsonl", "wb") as rejected_file:
        for line in result.rejected:
            rejected_file.write(_encode(line) + b"\n")
    counts["rejected"] = len(result.rejected)
    return counts
