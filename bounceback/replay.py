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

from projections.ledger import Ledger
from projections.policy import Policy
from schemas.events import InvalidEvent, Tick, decode_event
from schemas.records import RejectedLine

_encoder = msgspec.json.Encoder()


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
        # Everything allocated meanwhile is still in the youngest generation; the first
        # collection after enabling would walk all of it (measured: 0.7s after a 1M-event
        # fold). Freezing and unfreezing moves it to the oldest generation instead, where
        # it is examined at the next full collection, as long-lived objects are.
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def _fold(lines, policy, as_of, audit, on_progress) -> ReplayResult:
    ledger = Ledger(policy, audit=audit)
    result = ReplayResult(ledger)
    apply = ledger.apply_decoded
    decode = decode_event
    rejected = result.rejected
    events = 0
    for number, raw in enumerate(lines, 1):
        try:
            apply(decode(raw))
        except InvalidEvent as exc:
            if not raw.strip():
                continue  # blank lines are not events
            rejected.append(RejectedLine(number, str(exc), raw.rstrip(b"\r\n").decode("utf-8", "replace")))
            continue
        events += 1
        if on_progress is not None and not number & 0xFFFF:
            on_progress(number)
    if as_of is not None:
        ledger.apply(Tick(at=as_of))
    result.events = events
    return result


def write_outputs(result: ReplayResult, out_dir: str | Path) -> dict[str, int]:
    """Write addresses.jsonl, suppressions.jsonl, contacts.jsonl and rejected.jsonl."""
    with _without_cyclic_gc():
        return _write(result, Path(out_dir))


def _write(result: ReplayResult, out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    addresses = result.ledger.address_records()
    return {
        "addresses": _write_lines(out / "addresses.jsonl", addresses.values()),
        "suppressions": _write_lines(out / "suppressions.jsonl", (r for r in addresses.values() if r.reasons)),
        "contacts": _write_lines(out / "contacts.jsonl", result.ledger.iter_contact_records(addresses)),
        "rejected": _write_lines(out / "rejected.jsonl", result.rejected),
    }


# Lines are encoded into one reused buffer and written out a MiB at a time: no bytes object
# per line, and no buffer the size of a whole file.
_CHUNK = 1 << 20


def _write_lines(path: Path, records: Iterable) -> int:
    """Write each record as one JSON line; returns how many."""
    count = 0
    buffer = bytearray()
    encode_into = _encoder.encode_into
    with open(path, "wb") as file:
        for record in records:
            encode_into(record, buffer, -1)
            buffer += b"\n"
            count += 1
            if len(buffer) >= _CHUNK:
                file.write(buffer)
                buffer.clear()
        file.write(buffer)
    return count
