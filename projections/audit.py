"""The audit trail of an address (RULES.md §6): each event that touched it, in log order,
with the decision it caused, derived from the state before and after the event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import msgspec

from projections.addresses import AddressState
from projections.policy import Policy
from projections.statuses import LABELS, SOFT_BOUNCES, address_state
from schemas.events import BounceList, Delivery, Resubscribe, Unblock, Unsubscribe

T = TypeVar("T")


class TrailEntry(msgspec.Struct):
    at: datetime
    event_id: str | None
    event: str
    decision: str
    state: str
    reasons: list[str]
    soft_bounces: int


# What a decision is derived from: reasons, soft-bounce count and the reported message's status.
Snapshot = tuple[frozenset, int, str | None]


def describe_event(event) -> str:
    kind = type(event)
    if kind is Delivery:
        text = f"delivery {event.message_id}: {event.status}"
        details = " ".join(x for x in (event.bounce_code, event.bounce_reason) if x)
        return f"{text} ({details})" if details else text
    if kind is Unsubscribe:
        return "unsubscribe"
    if kind is Resubscribe:
        return "resubscribe"
    if kind is Unblock:
        return f"manual unblock by {event.actor}" + (f": {event.note}" if event.note else "")
    if kind is BounceList:
        return f"bounce list ({event.list}) from {event.source}"
    raise TypeError(kind.__name__)


def snapshot(address: AddressState, message_id: str | None) -> Snapshot:
    """What a decision is derived from, taken before and after an event."""
    message = address.messages.get(message_id) if message_id is not None else None
    return frozenset(address.reasons), address.soft_count(), message.status if message is not None else None


def decide(before: Snapshot, after: Snapshot, address: AddressState, policy: Policy, message_id: str | None) -> str:
    (reasons_before, soft_before, status_before), (reasons_after, soft_after, status_after) = before, after
    parts = []
    if status_after is not None and status_after != status_before:
        was = LABELS[status_before] if status_before else "new"
        parts.append(f"message {message_id}: {was} -> {LABELS[status_after]}")
    if soft_after > soft_before:
        if address.channel == "email":
            parts.append(f"soft bounce {soft_after} of {policy.soft_bounce_limit}")
        else:
            parts.append(f"soft bounce {soft_after} (SMS soft bounces never block)")
    elif soft_after < soft_before:
        parts.append(f"soft-bounce count {soft_before} -> {soft_after}")
    if reasons_after != reasons_before:
        state = address_state(reasons_after)
        change = f"-> {state}" + (": " + ", ".join(sorted(reasons_after)) if reasons_after else "")
        lifted = reasons_before - reasons_after
        if lifted:
            change += f" (lifted {', '.join(sorted(lifted))})"
        if parts:
            parts[-1] += " " + change
        else:
            parts.append(change)
    return "; ".join(parts) if parts else "no change"


def _entry(address: AddressState, at, event_id, event: str, decision: str) -> TrailEntry:
    return TrailEntry(at, event_id, event, decision, address.state, sorted(address.reasons), address.soft_count())


def event_entry(address: AddressState, event, before: Snapshot, policy: Policy) -> TrailEntry:
    """The trail entry of an address event, given the snapshot taken before it was applied."""
    message_id = getattr(event, "message_id", None)
    after = snapshot(address, message_id)
    decision = decide(before, after, address, policy, message_id)
    if type(event) is Delivery and event.status in SOFT_BOUNCES[address.channel] and after[1] == before[1]:
        if address.unblocked_at is not None and event.occurred_at < address.unblocked_at:
            decision += " (soft bounce before the latest unblock: not counted)"
        elif address.delivered_at is not None and event.occurred_at <= address.delivered_at:
            decision += " (soft bounce at or before the latest delivery: not in the current count)"
        elif message_id in address.soft:
            decision += " (this message already counts)"
    return _entry(address, event.occurred_at, event.event_id, describe_event(event), decision)


def deadline_entry(address: AddressState, message_id: str, due, before: Snapshot, policy: Policy) -> TrailEntry:
    what = "deferral" if address.channel == "email" else "validity"
    decision = decide(before, snapshot(address, message_id), address, policy, message_id)
    return _entry(address, due, None, f"{what} deadline of {message_id} passed", decision)


def duplicate_entry(address: AddressState, event) -> TrailEntry:
    return _entry(address, event.occurred_at, event.event_id, describe_event(event),
                  f"event_id {event.event_id} already applied -> ignored")


LINK_DECISION = "no change to the address"


def link_entry(address: AddressState | None, link) -> TrailEntry:
    """A contact's `contact` event lists the address, or no longer does (a `Link` command)."""
    verb = "now lists" if link.linked else "no longer lists"
    return TrailEntry(
        link.at, link.event_id, f"contact {link.contact_id} {verb} this address", LINK_DECISION,
        address.state if address else "active",
        sorted(address.reasons) if address else [],
        address.soft_count() if address else 0,
    )


def links_in_time(entries: list[TrailEntry]) -> list[TrailEntry]:
    """The trail with each contact's link placed among the address's own entries by its time.

    A link reaches the address through the contact's partition, so live it arrives after
    address events the log had after the contact event; it changes nothing, so it may stand
    anywhere: here, before the first entry of a later time, as in a log written in time
    order (export-log places `contact` events the same way, so explain of an exported log
    agrees). A link shows the address as the entry before it left it, as it would there."""
    links = sorted((e for e in entries if _is_link(e)), key=lambda e: e.at)
    if not links:
        return entries

    def as_placed(link: TrailEntry, before: TrailEntry | None) -> TrailEntry:
        return msgspec.structs.replace(
            link, state=before.state if before else "active", reasons=before.reasons if before else [],
            soft_bounces=before.soft_bounces if before else 0)

    return in_time([e for e in entries if not _is_link(e)], links, lambda e: e.at, as_placed)


def in_time(rest: list[T], timed: list[T], time_of: Callable[[T], datetime | None],
            as_placed: Callable[[T, T | None], T] | None = None) -> list[T]:
    """`timed` (in time order) placed among `rest` (in its own order), each before the first
    item of `rest` of a later time; `as_placed(item, the item before it)` what is placed.
    An item of `rest` with no time places nothing before it."""
    placed: list[T] = []
    i = 0

    def place(item: T) -> None:
        placed.append(as_placed(item, placed[-1] if placed else None) if as_placed else item)

    for item in rest:
        at = time_of(item)
        while at is not None and i < len(timed) and time_of(timed[i]) <= at:
            place(timed[i])
            i += 1
        placed.append(item)
    for item in timed[i:]:
        place(item)
    return placed


def _is_link(entry: TrailEntry) -> bool:
    return entry.decision == LINK_DECISION and entry.event.startswith("contact ")
