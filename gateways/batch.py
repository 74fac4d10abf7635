"""What an adapter made of an accepted request: its reports, each read on its own. A report
is one item of the provider's payload (a SendGrid event, a receipt line, an Infobip
result) or, for a payload that is one item, each event it gave. A report that cannot be
read, or whose events the contract or the address normaliser refuse, carries its reason
(naming the report and the field) and its own bytes; the gateway publishes the events of
the others and dead-letters it (gateways/service/batches.py). So a batch is never
refused whole for one bad report.

A request that cannot be split into reports at all (not the provider's format, a wrong
signature) is still refused as a whole by the adapter, with `Rejected`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from gateways.common import Rejected, finish
from schemas.events import Event, InvalidEvent

T = TypeVar("T")
log = logging.getLogger("bounceback.gateway")


@dataclass
class Report:
    """One report of a batch: the events it became, or why it could not be read."""

    item: str                 # where it was in the request: "SendGrid event 3", "line 7", "event 0"
    raw: bytes                # the report as received, for the dead-letter topic
    events: list[Event] = field(default_factory=list)
    error: str | None = None  # set: the report is dead-lettered with this reason, which names the item

    def reject(self, reason: str) -> None:
        self.events = []
        # an adapter's reason may name the item already ("SendGrid event 3: ..."): not twice
        self.error = reason if reason.startswith(self.item) else f"{self.item}: {reason}"


@dataclass
class Batch:
    reports: list[Report] = field(default_factory=list)
    answer: dict = field(default_factory=dict)  # more to say in the response (bounce mail: what it was)

    @classmethod
    def of(cls, events: list[Event], raw: bytes, answer: dict | None = None) -> Batch:
        """The events of a payload that is one item: each its own report, `event <i>`, with
        the whole payload as its bytes."""
        return cls([Report(f"event {i}", raw, [event]) for i, event in enumerate(events)], answer or {})

    @property
    def events(self) -> list[Event]:
        return [e for r in self.reports if r.error is None for e in r.events]

    @property
    def dead(self) -> list[Report]:
        return [r for r in self.reports if r.error is not None]

    def route(self, route: Callable[[Event], T]) -> list[T]:
        """Every event of the readable reports through `route` (the publisher's: addresses
        normalised, checked, routed), in order; a report with an event it refuses
        (InvalidEvent: an address that does not normalise) is rejected whole (its item is
        one thing the provider sent)."""
        routed: list[T] = []
        for report in self.reports:
            if report.error is None:
                try:
                    mine = [route(e) for e in report.events]
                except InvalidEvent as exc:
                    report.reject(str(exc))
                    continue
                routed += mine
        return routed


def read_each(items: Iterable[tuple[str, bytes, T]], convert: Callable[[T], list[Event]]) -> Batch:
    """Convert each (label, raw bytes, parsed item); a report that fails, or whose events the
    contract would refuse, is kept with its reason instead of failing the batch."""
    reports = []
    for label, raw, item in items:
        report = Report(label, raw)
        try:
            report.events = finish(convert(item))
        except Rejected as exc:
            report.reject(exc.reason)
        except (ValueError, TypeError, KeyError, AttributeError):  # input no adapter foresaw
            # the exception's text goes to the log only: the reason is answered to the client
            log.warning("%s: could not interpret it", label, exc_info=True)
            report.reject("could not interpret it (the gateway's log has the details)")
        reports.append(report)
    return Batch(reports)
