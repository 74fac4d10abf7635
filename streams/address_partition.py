"""What one partition of address state does with one batch of commands, without Kafka.

The agent loads entries from its table, hands the batch here, and writes back what
`finish` returns: each touched entry once, and the records to publish. Coalescing a
batch this way is what makes the pipeline fast: one table write and at most one
suppression record per address per batch, whatever the batch held for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from projections.addresses import (
    AddressState,
    apply_address_event,
    fire_deadline,
    is_suppression_change,
    new_address,
)
from projections.audit import TrailEntry, deadline_entry, duplicate_entry, event_entry, snapshot
from projections.deadlines import DeadlineQueue
from projections.policy import Policy
from schemas.events import Delivery, Tick, encode_event
from schemas.records import AddressRecord, MessageRecord
from streams.commands import AddressUpdate, ContactSeen, Link, MessageUpdate

TRAIL_LIMIT = 500


class AddressEntry(msgspec.Struct, omit_defaults=True, gc=False):
    """The table value of one address: its state, the contacts holding it, the event ids
    applied to it (kept with the state so a replayed batch after a crash is recognised) and
    the latest entries of its audit trail."""

    state: AddressState | None = None
    holders: list[str] = []
    applied: set[str] = set()
    trail: list[TrailEntry] = []


@dataclass
class AddressBatchResult:
    entries: dict[str, AddressEntry]
    suppressions: list[AddressRecord]
    contact_commands: list[tuple[str, AddressUpdate | MessageUpdate | ContactSeen]]
    applied: list[bytes]
    clock: datetime | None
    counters: Counter = field(default_factory=Counter)


class AddressBatch:
    def __init__(
        self,
        policy: Policy,
        load: Callable[[str], AddressEntry | None],
        clock: datetime | None,
        deadlines: DeadlineQueue,
    ) -> None:
        self.policy = policy
        self._load = load
        self.clock = clock
        self.deadlines = deadlines
        self._entries: dict[str, AddressEntry] = {}
        self._records_before: dict[str, AddressRecord | None] = {}
        self._messages_before: dict[tuple[str, str], tuple[MessageRecord | None, tuple[str, ...]]] = {}
        self._linked: set[tuple[str, str]] = set()
        self._seen_contacts: list[str] = []
        self._applied: list[bytes] = []
        self.counters: Counter = Counter()

    def _entry(self, key: str) -> AddressEntry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._load(key) or AddressEntry()
            self._entries[key] = entry
            self._records_before[key] = entry.state.record() if entry.state is not None else None
        return entry

    def _touch_message(self, key: str, state: AddressState, message_id: str) -> None:
        ref = (key, message_id)
        if ref not in self._messages_before:
            message = state.messages.get(message_id)
            self._messages_before[ref] = (
                (message.record(message_id, state.channel, state.address), tuple(message.contacts))
                if message is not None else (None, ())
            )

    def _trail(self, entry: AddressEntry, item: TrailEntry) -> None:
        entry.trail.append(item)
        if len(entry.trail) > TRAIL_LIMIT:
            del entry.trail[: len(entry.trail) - TRAIL_LIMIT]

    def apply(self, command) -> None:
        kind = type(command)
        if kind is Tick:
            self._tick(command)
        elif kind is Link:
            self._link(command)
        else:
            self._address_event(command)

    def _address_event(self, event) -> None:
        key = f"{event.channel}:{event.address}"
        entry = self._entry(key)
        kind = type(event)
        self.counters[(kind.__struct_config__.tag, getattr(event, "status", ""))] += 1
        if event.event_id in entry.applied:
            self.counters["duplicates"] += 1
            if entry.state is not None:
                self._trail(entry, duplicate_entry(entry.state, event))
            return
        entry.applied.add(event.event_id)
        if entry.state is None:
            entry.state = new_address(event.channel, event.address, event.occurred_at)
        state = entry.state
        message_id = getattr(event, "message_id", None)
        if message_id is not None:
            self._touch_message(key, state, message_id)
        before = snapshot(state, message_id)
        outcome = apply_address_event(state, event, self.policy)
        if outcome.deadline is not None:
            self.deadlines.push(outcome.deadline, key, message_id)
        self._trail(entry, event_entry(state, event, before, self.policy))
        if kind is not Delivery and getattr(event, "contact_id", None) is not None:
            self._seen_contacts.append(event.contact_id)
        self._applied.append(encode_event(event))

    def _tick(self, tick: Tick) -> None:
        self._applied.append(encode_event(tick))
        if self.clock is not None and tick.at < self.clock:
            return
        self.clock = tick.at
        for due, key, message_id in self.deadlines.pop_due(tick.at):
            entry = self._entry(key)
            state = entry.state
            if state is None:
                continue
            self._touch_message(key, state, message_id)
            before = snapshot(state, message_id)
            if fire_deadline(state, message_id, due, self.policy) is not None:
                self.counters["deadlines_fired"] += 1
                self._trail(entry, deadline_entry(state, message_id, due, before, self.policy))

    def _link(self, link: Link) -> None:
        key = f"{link.channel}:{link.address}"
        entry = self._entry(key)
        if link.linked:
            if link.contact_id not in entry.holders:
                entry.holders.append(link.contact_id)
            self._linked.add((link.contact_id, key))
        elif link.contact_id in entry.holders:
            entry.holders.remove(link.contact_id)

    def finish(self) -> AddressBatchResult:
        suppressions: list[AddressRecord] = []
        updates: dict[tuple[str, str], AddressUpdate] = {}
        for key, entry in self._entries.items():
            record = entry.state.record() if entry.state is not None else None
            before = self._records_before[key]
            if record is not None and record != before:
                if is_suppression_change(before, record):
                    suppressions.append(record)
                for contact_id in entry.holders:
                    updates[(contact_id, key)] = AddressUpdate(contact_id, key, record)
        for contact_id, key in self._linked:
            if contact_id in self._entries[key].holders:
                state = self._entries[key].state
                updates[(contact_id, key)] = AddressUpdate(contact_id, key, state.record() if state else None)
        commands: list = [(u.contact_id, u) for u in updates.values()]
        for (key, message_id), (record_before, contacts_before) in self._messages_before.items():
            state = self._entries[key].state
            message = state.messages[message_id]
            record = message.record(message_id, state.channel, state.address)
            if record != record_before:
                targets = message.contacts
            else:
                targets = [c for c in message.contacts if c not in contacts_before]
            commands.extend((c, MessageUpdate(c, key, record)) for c in targets)
        commands.extend((c, ContactSeen(c)) for c in dict.fromkeys(self._seen_contacts))
        self.counters["suppression_changes"] += len(suppressions)
        return AddressBatchResult(self._entries, suppressions, commands, self._applied, self.clock, self.counters)


def pending_deadlines(entries) -> DeadlineQueue:
    """The deadline queue of a partition, rebuilt from its entries (after a restart or a
    rebalance): one pass over the state, then each tick pops only what is due."""
    queue = DeadlineQueue()
    for key, entry in entries:
        state = entry.state
        if state is None:
            continue
        for message_id, message in state.messages.items():
            if message.deadline is not None and message.final is None:
                queue.push(message.deadline, key, message_id)
    return queue
