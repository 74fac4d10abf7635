"""Prometheus metrics of a worker (served at /metrics)."""

from __future__ import annotations

from collections import Counter as Counts

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry()
EVENTS = Counter("bounceback_events", "Events applied, by type and delivery status", ["type", "status"], registry=REGISTRY)
DUPLICATES = Counter("bounceback_duplicate_events", "Events whose event_id was already applied", registry=REGISTRY)
REJECTED = Counter("bounceback_rejected_events", "Events sent to the dead-letter topic", registry=REGISTRY)
SUPPRESSION_CHANGES = Counter("bounceback_suppression_changes", "Records published to the suppression topic", registry=REGISTRY)
DEADLINES_FIRED = Counter("bounceback_deadlines_fired", "Deferral and validity deadlines fired by ticks", registry=REGISTRY)
CONTACT_CHANGES = Counter("bounceback_contact_changes", "Contact records published", registry=REGISTRY)


def count_address_batch(counters: Counts) -> None:
    for name, value in counters.items():
        if isinstance(name, tuple):
            EVENTS.labels(type=name[0], status=name[1]).inc(value)
        elif name == "duplicates":
            DUPLICATES.inc(value)
        elif name == "deadlines_fired":
            DEADLINES_FIRED.inc(value)
        elif name == "suppression_changes":
            SUPPRESSION_CHANGES.inc(value)
