"""All projections of one log in one process: the fold that `bounceback replay` runs.

It routes each event to the address and contact folds the streaming pipeline runs
per partition, keeps the deadline queue, and drops events already applied. The same
event id is a duplicate within its address (or contact), the scope one partition
of the pipeline can see.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from projections.addresses import AddressState, apply_address_event, apply_delivery, fire_deadline, new_address
from projections.audit import Trail, deadline_entry, duplicate_entry, event_entry, snapshot
from projections.contacts import ContactState, render_contact, set_addresses
from projections.deadlines import DeadlineQueue
from projections.normalize import split_key
from projections.policy import Policy
from schemas.events import Contact, Delivery, Event, Tick
from schemas.records import AddressRecord, ContactRecord, MessageRecord


class Ledger:
    def __init__(self, policy: Policy | None = None, audit: Iterable[str] | None = None) -> None:
        self.policy = policy or Policy()
        self.addresses: dict[str, AddressState] = {}
        self.contacts: dict[str, ContactState] = {}
        # contact id -> (address key, message id) of the messages whose reports carried it
        self._contact_messages: dict[str, list[tuple[str, str]]] = {}
        self.clock: datetime | None = None
        # event id -> the key it was applied to; ids reused for other keys go to _seen_elsewhere
        self._seen: dict[str, str] = {}
        self._seen_elsewhere: set[tuple[str, str]] = set()
        self.deadlines = DeadlineQueue()
        # the audit trail of the address keys asked for ("*": all of them)
        self.trail = Trail(audit) if audit is not None else None

    def apply(self, event: Event) -> None:
        """Fold one normalised event (see projections.intake) into the state."""
        kind = type(event)
        if kind is Tick:
            self.tick(event.at)
        elif kind is Contact:
            self._apply_contact(event)
        else:
            self._apply_address_event(event)

    def _apply_address_event(self, event) -> None:
        key = f"{event.channel}:{event.address}"
        if self._already_applied(key, event.event_id):
            if self.trail is not None and key in self.trail:
                self.trail.add(key, duplicate_entry(self.addresses[key], event))
            return
        address = self.addresses.get(key)
        if address is None:
            address = self.addresses[key] = new_address(event.channel, event.address, event.occurred_at)
        trail = self.trail if self.trail is not None and key in self.trail else None
        before = snapshot(address, getattr(event, "message_id", None)) if trail is not None else None
        if type(event) is Delivery:
            outcome = apply_delivery(address, event, self.policy)
            if outcome.deadline is not None:
                self.deadlines.push(outcome.deadline, key, outcome.message_id)
            if outcome.new_contact is not None:
                self._contact_messages.setdefault(outcome.new_contact, []).append((key, event.message_id))
        else:
            outcome = apply_address_event(address, event, self.policy)
        # a contact is seen when any event carries its id
        contact_id = getattr(event, "contact_id", None)
        if contact_id is not None and contact_id not in self.contacts:
            self.contacts[contact_id] = ContactState()
        if trail is not None:
            trail.add(key, event_entry(address, event, before, self.policy))

    def _already_applied(self, scope: str, event_id: str) -> bool:
        """Whether the event id was applied within this scope (an address key, or a contact);
        records it as applied if not."""
        first_scope = self._seen.get(event_id)
        if first_scope is None:
            self._seen[event_id] = scope
            return False
        if first_scope == scope:
            return True
        pair = (scope, event_id)
        if pair in self._seen_elsewhere:
            return True
        self._seen_elsewhere.add(pair)
        return False

    def _apply_contact(self, event: Contact) -> None:
        contact_id = event.contact_id
        if self._already_applied(f"contact {contact_id}", event.event_id):
            return
        contact = self.contacts.get(contact_id)
        if contact is None:
            contact = self.contacts[contact_id] = ContactState()
        keys = [f"email:{e}" for e in event.emails] + [f"sms:{p}" for p in event.phones]
        diff = set_addresses(contact, keys, event.occurred_at)
        if diff is not None and self.trail is not None:
            self.trail.contact(event, *diff, self.addresses)

    def tick(self, at: datetime) -> None:
        """RULES.md §6: the clock advances only through ticks; a tick fires every due deadline."""
        if self.clock is not None and at < self.clock:
            return
        self.clock = at
        for due, key, message_id in self.deadlines.pop_due(at):
            address = self.addresses[key]
            trail = self.trail if self.trail is not None and key in self.trail else None
            before = snapshot(address, message_id) if trail is not None else None
            outcome = fire_deadline(address, message_id, due, self.policy)
            if outcome is not None and trail is not None:
                trail.add(key, deadline_entry(address, message_id, due, before, self.policy))

    # -- views -------------------------------------------------------------------------------

    def address_records(self) -> dict[str, AddressRecord]:
        """Every address record by key, in output order (channel, address)."""
        return {key: self.addresses[key].record() for key in sorted(self.addresses, key=split_key)}

    def _messages_of(self, contact_id: str) -> list[MessageRecord]:
        records = []
        for key, message_id in self._contact_messages.get(contact_id, ()):
            address = self.addresses[key]
            records.append(address.messages[message_id].record(message_id, address.channel, address.address))
        return records

    def contact_record(self, contact_id: str) -> ContactRecord:
        return render_contact(contact_id, self.contacts[contact_id], self._address_record, self._messages_of(contact_id))

    def contact_records(self, address_records: dict[str, AddressRecord] | None = None) -> list[ContactRecord]:
        """All contact records; `address_records` (by key) saves rendering them again."""
        record = address_records.get if address_records is not None else self._address_record
        return [
            render_contact(contact_id, self.contacts[contact_id], record, self._messages_of(contact_id))
            for contact_id in sorted(self.contacts)
        ]

    def _address_record(self, key: str) -> AddressRecord | None:
        address = self.addresses.get(key)
        return address.record() if address is not None else None
