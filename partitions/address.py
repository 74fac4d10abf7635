"""One partition of address state, without Kafka.

The bookkeeping around the pure folds of projections/ lives here and only here: event-id
dedupe, the partition's clock and its deadline queue, the contacts holding each address,
what goes to the contact partitions, the audit trail. Both runners drive it: the faust
worker (streams/app.py) with the batches its agent takes, replay (replay/) with the lines
of a log.

A runner hands over a batch of commands (contract address events, ticks, links) in the
partition's order. The batch returns what it changed once per address, whatever it held
for that address: the entries to store, the suppression records to publish and the
commands for contact partitions. That coalescing is what makes large batches cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec

from projections.addresses import (
    AddressState,
    apply_address_event,
    apply_delivery,
    JUST_AFTER,
    fire_deadline,
    forget,
    is_suppression_change,
    new_address,
)
from projections.audit import TrailEntry, deadline_entry, duplicate_entry, event_entry, link_entry, snapshot
from projections.deadlines import DeadlineQueue
from projections.messages import MessageState
from projections.normalise import address_key
from projections.policy import Policy
from schemas.events import Delivery, Tick
from schemas.records import AddressRecord
from partitions.commands import AddressUpdate, ContactSeen, Link, MessageUpdate


class AddressEntry(msgspec.Struct, omit_defaults=True, gc=False):
    """The stored value of one address: its state, the contacts holding it, and the event ids
    applied to it with their times (kept with the state, so a batch processed again after a
    crash is recognised; RULES.md §7: forgotten when they are more than the horizon behind
    the clock, as a report that old is too late, and any other event changes nothing twice).
    `forget_at` is when it may next have something to forget; `trail` counts the audit-trail
    entries it has had (the live pipeline keeps the latest of them in a table of their own)."""

    state: AddressState | None = None
    holders: list[str] = []
    applied: dict[str, datetime] = {}
    forget_at: datetime | None = None
    trail: int = 0


@dataclass
class AddressBatchResult:
    # the entries to store (every one the batch changed)
    entries: dict[str, AddressEntry]
    suppressions: list[AddressRecord]
    # (contact id, command) for the contact partitions
    contact_commands: list[tuple[str, AddressUpdate | MessageUpdate | ContactSeen]]
    # what was applied, ticks included, in order: duplicates are not
    applied: list
    # (place in the batch, reason) of each report refused as too late (RULES.md §7)
    too_late: list[tuple[int, str]]
    # (address key, entry) for the keys the processor audits
    trail: list[tuple[str, TrailEntry]]
    clock: datetime | None
    duplicates: int = 0
    deadlines_fired: int = 0


class AddressProcessor:
    """The address state of one partition: its clock and deadline queue persist across
    batches; entries are read through `load` and returned to the runner to store.

    `audit(key)` says whether to derive the audit trail of an address (live: every one;
    replay: the ones `explain` asks for), which costs a snapshot before and after each event."""

    def __init__(
        self,
        policy: Policy,
        load: Callable[[str], AddressEntry | None],
        clock: datetime | None = None,
        deadlines: DeadlineQueue | None = None,
        audit: Callable[[str], bool] | None = None,
    ) -> None:
        self.policy = policy
        self.load = load
        self.clock = clock
        self.deadlines = deadlines if deadlines is not None else DeadlineQueue()
        self.audit = audit

    def process(self, commands: Iterable) -> AddressBatchResult:
        """Apply a batch of commands in order. Address events, most of a batch, are applied
        in this loop, with what it touches in local names: this is the hot path of replay
        and of the live worker alike."""
        batch = _Batch(self)
        entries, changed, records_before = batch.entries, batch.changed, batch.records_before
        messages, seen_contacts, applied, trail = batch.messages, batch.seen_contacts, batch.applied, batch.trail
        load, policy, audit, push = self.load, self.policy, self.audit, self.deadlines.push
        horizon = policy.lateness_horizon
        forgetting = policy.forgetting
        # a report before this is too late (RULES.md §7); it moves only with the clock, at a tick
        earliest = self.clock - horizon if self.clock is not None else None
        for index, event in enumerate(commands):
            kind = type(event)
            if kind is Tick:
                batch.tick(event)
                earliest = self.clock - horizon
                continue
            if kind is Link:
                batch.link(event)
                continue
            at = event.occurred_at
            if kind is Delivery and earliest is not None and at < earliest:
                batch.too_late.append((index, too_late(at, self.clock, horizon)))
                continue
            key = address_key(event.channel, event.address)
            entry = entries.get(key)
            if entry is None:
                entry = entries[key] = load(key) or AddressEntry()
            audited = audit is not None and audit(key)
            ids, event_id = entry.applied, event.event_id
            if event_id in ids:
                batch.duplicates += 1
                if audited and entry.state is not None:
                    trail.append((key, duplicate_entry(entry.state, event)))
                    changed[key] = entry  # its trail, counted with the entry, changed
                continue
            ids[event_id] = at
            state = entry.state
            if key not in records_before:  # the first change in this batch: the record as it was
                records_before[key] = state.record() if state is not None else None
                changed[key] = entry
            if state is None:
                state = entry.state = new_address(event.channel, event.address, at)
            if kind is Delivery:
                message_id = event.message_id
                before = snapshot(state, message_id) if audited else None
                outcome = apply_delivery(state, event, policy)
                messages[(key, message_id)] = None
                if outcome.new_contact is not None:
                    batch.new_contacts.add((key, message_id, outcome.new_contact))
                if outcome.deadline is not None:
                    push(outcome.deadline, key, message_id)
            else:
                before = snapshot(state, None) if audited else None
                apply_address_event(state, event, policy)
                contact_id = getattr(event, "contact_id", None)
                if contact_id is not None:
                    # a contact is seen when any event carries its id (a report's contact shows
                    # through its message)
                    seen_contacts[contact_id] = None
            if forgetting and (entry.forget_at is None or at + horizon < entry.forget_at):
                entry.forget_at = at + horizon + JUST_AFTER  # the earliest this event's id may go
                push(entry.forget_at, key, FORGET)
            if audited:
                trail.append((key, event_entry(state, event, before, policy)))
            applied.append(event)
        return batch.finish()


def too_late(at: datetime, clock: datetime, horizon: timedelta) -> str:
    """Why a report is refused (RULES.md §7), naming the field."""
    return (f"too late: `$.occurred_at` {_stamp(at)} is more than {_span(horizon)} before the clock "
            f"({_stamp(clock)}): a report that late changes nothing")


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours % 24 == 0 else f"{hours:g} hours"


# An address forgets at most once in this share of the horizon: forgetting later changes
# nothing, and a pass costs what the address holds, so an address with many events does
# not pay one per event.
FORGET_EVERY = 0.5

# The "message id" of a deadline-queue entry that says when an address may have something
# to forget (RULES.md §7): it sorts before any message's deadline of the same time.
FORGET = ""


def pending_deadlines(entries: Iterable[tuple[str, AddressEntry]]) -> DeadlineQueue:
    """The deadline queue of a partition, rebuilt from its entries (after a restart or a
    rebalance): one pass over the state, then each tick pops only what is due."""
    queue = DeadlineQueue()
    for key, entry in entries:
        if entry.forget_at is not None:
            queue.push(entry.forget_at, key, FORGET)
        state = entry.state
        if state is None:
            continue
        for message_id, message in state.messages.items():
            if message.deadline is not None and message.final is None:
                queue.push(message.deadline, key, message_id)
    return queue


class _Batch:
    """What one batch of one partition touched. Entries are loaded once; the first change
    to an entry takes its record as it was, so `finish` publishes only what changed."""

    def __init__(self, processor: AddressProcessor) -> None:
        self.processor = processor
        self.policy = processor.policy
        self.audit = processor.audit
        self.entries: dict[str, AddressEntry] = {}  # loaded
        self.changed: dict[str, AddressEntry] = {}  # to store
        self.records_before: dict[str, AddressRecord | None] = {}
        self.messages: dict[tuple[str, str], None] = {}  # (key, message id) reported on, in order
        self.linked: dict[tuple[str, str], None] = {}  # (contact id, key) linked
        self.seen_contacts: dict[str, None] = {}
        self.applied: list = []
        self.too_late: list[tuple[int, str]] = []
        self.commands: list = []  # (contact id, command) for the contact partitions
        # (key, message id, contact id): the contact a message's reports carry for the first time
        self.new_contacts: set[tuple[str, str, str]] = set()
        self.trail: list[tuple[str, TrailEntry]] = []
        self.duplicates = 0
        self.deadlines_fired = 0

    def entry(self, key: str) -> AddressEntry:
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = self.processor.load(key) or AddressEntry()
        return entry

    def change(self, key: str, entry: AddressEntry) -> None:
        """About to change the entry's state: remember its record as it was."""
        if key not in self.records_before:
            self.records_before[key] = entry.state.record() if entry.state is not None else None
            self.changed[key] = entry

    def tick(self, tick: Tick) -> None:
        """RULES.md §6: the clock advances only through ticks; a tick fires every due deadline
        (and, §7, lets each address it passes forget what is that far behind)."""
        self.applied.append(tick)
        processor = self.processor
        if processor.clock is not None and tick.at < processor.clock:
            return
        clock = processor.clock = tick.at
        horizon = self.policy.lateness_horizon
        # what each address forgetting at this tick needs (the same for all of them)
        cutoff, next_pass = clock - horizon, clock + horizon * FORGET_EVERY
        for due, key, message_id in processor.deadlines.pop_due(clock):
            entry = self.entry(key)
            if message_id == FORGET:
                if entry.forget_at == due:  # else a stale entry: the address was rescheduled
                    self.forget(key, entry, clock, cutoff, next_pass)
                continue
            state = entry.state
            message = state.messages.get(message_id) if state is not None else None
            if message is None or message.final is not None or message.deadline != due:
                continue  # settled, moved to an earlier deadline, or forgotten
            self.change(key, entry)
            audited = self.audit is not None and self.audit(key)
            before = snapshot(state, message_id) if audited else None
            fire_deadline(state, message_id, due, self.policy)
            self.deadlines_fired += 1
            self.messages[(key, message_id)] = None
            if audited:
                self.trail.append((key, deadline_entry(state, message_id, due, before, self.policy)))

    def forget(self, key: str, entry: AddressEntry, clock: datetime, cutoff: datetime, next_pass: datetime) -> None:
        """RULES.md §7: event ids from before `cutoff` (the horizon behind the clock), and what
        the fold no longer needs (projections.addresses.forget); the next pass no earlier than
        `next_pass`. The record stays as it was: the entry is stored, nothing is published."""
        self.changed[key] = entry
        applied = entry.applied
        if applied:
            applied = entry.applied = {i: at for i, at in applied.items() if at >= cutoff}
        due = None
        if entry.state is not None:
            forgotten, due = forget(entry.state, clock, self.policy)
            for message_id, message in forgotten:
                if (key, message_id) in self.messages:  # changed in this batch: its record goes now
                    del self.messages[(key, message_id)]
                    self.message_updates(key, entry.state, message_id, message)
        if applied:
            first = min(applied.values()) + self.policy.lateness_horizon + JUST_AFTER
            due = first if due is None else min(due, first)
        if due is not None:
            due = max(due, next_pass)
            self.processor.deadlines.push(due, key, FORGET)
        entry.forget_at = due

    def link(self, link: Link) -> None:
        """A contact's latest `contact` event lists (or no longer lists) the address."""
        key = address_key(link.channel, link.address)
        entry = self.entry(key)
        if link.linked:
            if link.contact_id not in entry.holders:
                entry.holders.append(link.contact_id)
            self.linked[(link.contact_id, key)] = None
        elif link.contact_id in entry.holders:
            entry.holders.remove(link.contact_id)
        self.changed[key] = entry
        if self.audit is not None and link.event_id is not None and self.audit(key):
            self.trail.append((key, link_entry(entry.state, link)))

    def message_updates(self, key: str, state: AddressState, message_id: str, message: MessageState) -> None:
        if message.contacts:
            record = message.record(message_id, state.channel, state.address)
            new = self.new_contacts
            self.commands.extend((c, MessageUpdate(c, key, record, (key, message_id, c) in new))
                                 for c in message.contacts)

    def finish(self) -> AddressBatchResult:
        suppressions: list[AddressRecord] = []
        updates: dict[tuple[str, str], AddressUpdate] = {}
        entries = self.changed
        for key, before in self.records_before.items():
            entry = entries[key]
            record = entry.state.record()
            if record != before:
                if is_suppression_change(before, record):
                    suppressions.append(record)
                for contact_id in entry.holders:
                    updates[(contact_id, key)] = AddressUpdate(contact_id, key, record)
        for contact_id, key in self.linked:
            entry = entries[key]
            if contact_id in entry.holders and (contact_id, key) not in updates:
                state = entry.state
                updates[(contact_id, key)] = AddressUpdate(contact_id, key, state.record() if state else None)
        self.commands.extend((u.contact_id, u) for u in updates.values())
        for key, message_id in self.messages:
            state = entries[key].state
            self.message_updates(key, state, message_id, state.messages[message_id])
        commands = self.commands
        commands.extend((c, ContactSeen(c)) for c in self.seen_contacts)
        return AddressBatchResult(entries, suppressions, commands, self.applied, self.too_late, self.trail,
                                  self.processor.clock, self.duplicates, self.deadlines_fired)
