"""Per-report outcomes of a batch payload: a batch is never refused whole for one bad
report. Each report of a request is read on its own; the ones that cannot be read carry
the reason (naming the report and the field) and their own bytes, so the gateway can
publish the good ones and dead-letter each bad one.

A request that cannot be split into reports at all (not JSON, a wrong signature) is still
refused as a whole by the adapter, with `Rejected`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from gateways.common import Rejected, finish
from schemas.events import Event

T = TypeVar("T")


@dataclass
class Report:
    """One report of a batch: the events it became, or why it could not be read."""

    item: str                 # where it was in the request: "report 3", "line 7"
    raw: bytes                # the report as received, for the dead-letter topic
    events: list[Event] = field(default_factory=list)
    error: str | None = None  # set: the report is dead-lettered with this reason

    def reject(self, reason: str) -> None:
        self.events = []
        self.error = reason


@dataclass
class Batch:
    reports: list[Report]

    @property
    def events(self) -> list[Event]:
        return [e for r in self.reports if r.error is None for e in r.events]

    @property
    def dead(self) -> list[Report]:
        return [r for r in self.reports if r.error is not None]


def read_each(items: Iterable[tuple[str, bytes, T]], convert: Callable[[T], list[Event]]) -> Batch:
    """Convert each (label, raw bytes, parsed item); a report that fails, or whose events the
    contract would refuse, is kept with its reason instead of failing the batch."""
    reports = []
    for label, raw, item in items:
        report = Report(label, raw)
        try:
            report.events = finish(convert(item))
        except Rejected as exc:
            report.reject(f"{label}: {exc.reason}")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # input no adapter foresaw
            report.reject(f"{label}: could not interpret it: {type(exc).__name__}: {exc}")
        reports.append(report)
    return Batch(reports)
