"""Prometheus metrics of a worker (served at /metrics)."""

from __future__ import annotations

from collections import Counter as Counts

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()
EVENTS = Counter("bounceback_events", "Events applied, by type and delivery status", ["type", "status"], registry=REGISTRY)
DUPLICATES = Counter("bounceback_duplicate_events", "Events whose event_id was already applied", registry=REGISTRY)
REJECTED = Counter("bounceback_rejected_events", "Events sent to the dead-letter topic", registry=REGISTRY)
TOO_LATE = Counter("bounceback_too_late_events", "Reports refused as more than the lateness horizon before the clock",
                   ["type", "status"], registry=REGISTRY)
SUPPRESSION_CHANGES = Counter("bounceback_suppression_changes", "Records published to the suppression topic", registry=REGISTRY)
DEADLINES_FIRED = Counter("bounceback_deadlines_fired", "Deferral and validity deadlines fired by ticks", registry=REGISTRY)
CONTACT_CHANGES = Counter("bounceback_contact_changes", "Contact records published", registry=REGISTRY)
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_SECONDS = Histogram("bounceback_batch_seconds", "Processing one batch: fold, send, acknowledged, written",
                          registry=REGISTRY, buckets=_SECONDS)
COMMIT_SECONDS = Histogram("bounceback_commit_seconds",
                           "Commits: waiting for the batch in flight (gate), then committing (commit)", ["phase"],
                           registry=REGISTRY, buckets=_SECONDS)


def _count_by_type(counter: Counter, events) -> None:
    """By type (and status, for delivery reports)."""
    for (kind, status), count in Counts((e.__struct_config__.tag, getattr(e, "status", "")) for e in events).items():
        counter.labels(type=kind, status=status).inc(count)


def count_applied(events) -> None:
    _count_by_type(EVENTS, events)


def count_too_late(events) -> None:
    _count_by_type(TOO_LATE, events)


def count_address_batch(result) -> None:
    count_applied(result.applied)
    DUPLICATES.inc(result.duplicates)
    DEADLINES_FIRED.inc(result.deadlines_fired)
    SUPPRESSION_CHANGES.inc(len(result.suppressions))


def count_contact_batch(result) -> None:
    count_applied(result.applied)
    CONTACT_CHANGES.inc(len(result.cards))
