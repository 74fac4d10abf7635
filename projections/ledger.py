"""All projections of one log in one process: the fold that `bounceback replay` runs.

It routes each event to the address and contact folds the streaming pipeline runs
per partition, keeps the deadline queue, and drops events already applied. The same
event id is a duplicate within its address (or contact), the scope one partition
of the pipeline can see.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime

from projections.addresses import AddressState, apply_address_event, fire_deadline, new_address
from projections.audit import Trail
from projections.contacts import ContactState, add_message, render_contact, set_addresses
from projections.policy import Policy
from schemas.events import Contact, Delivery, Event, Tick
from schemas.records import AddressRecord, ContactRecord


class Ledger:
    def __init__(self, policy: Policy | None = None, audit: Iterable[str] | None = None) -> None:
        self.policy = policy or Policy()
        self.addresses: dict[str, AddressState] = {}
        self.contacts: dict[str, ContactState] = {}
        self.clock: datetime | None = None
        self._seen: set[tuple[str, str]] = set()
        self._deadlines: list[tuple[datetime, str, str]] = []
        # address keys whose audit trail is kept (all of them with audit=True-like "*")
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
        seen_key = (key, event.event_id)
        trail = self.trail
        if seen_key in self._seen:
            if trail is not None and key in trail:
                trail.duplicate(key, event)
            return
        self._seen.add(seen_key)
        address = self.addresses.get(key)
        if address is None:
            address = self.addresses[key] = new_address(event.channel, event.address, event.occurred_at)
        before = trail.before(key, address, event) if trail is not None and key in trail else None
        contact_id = getattr(event, "contact_id", None)
        new_carrier = False
        if contact_id is not None and kind_is_delivery(event):
            message = address.messages.get(event.message_id)
            new_carrier = message is None or contact_id not in message.contacts
        outcome = apply_address_event(address, event, self.policy)
        if outcome.deadline is not None:
            heapq.heappush(self._deadlines, (outcome.deadline, key, outcome.message_id))
        if contact_id is not None:
            contact = self.contacts.get(contact_id)
            if contact is None:
                contact = self.contacts[contact_id] = ContactState()
            if new_carrier:
                add_message(contact, (key, event.message_id))
        if before is not None:
            trail.after(key, address, event, before, self.policy)

    def _apply_contact(self, event: Contact) -> None:
        contact_id = event.contact_id
        seen_key = ("contact", contact_id, event.event_id)
        if seen_key in self._seen:
            return
        self._seen.add(seen_key)
        contact = self.contacts.get(contact_id)
        if contact is None:
            contact = self.contacts[contact_id] = ContactState()
        at = event.occurred_at
        keys = [f"email:{e}" for e in event.emails] + [f"sms:{p}" for p in event.phones]
        for key in keys:
            if key not in self.addresses:
                channel, _, value = key.partition(":")
                self.addresses[key] = new_address(channel, value, at)
        diff = set_addresses(contact, keys, at)
        if diff is None:
            return
        added, removed = diff
        for key in added:
            self.addresses[key].holders.append(contact_id)
        for key in removed:
            self.addresses[key].holders.remove(contact_id)
        if self.trail is not None:
            self.trail.contact(event, added, removed, self.addresses)

    def tick(self, at: datetime) -> None:
        """RULES.md §6: the clock advances only through ticks; a tick fires every due deadline."""
        if self.clock is not None and at < self.clock:
            return
        self.clock = at
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= at:
            due, key, message_id = heapq.heappop(deadlines)
            address = self.addresses[key]
            trail = self.trail if self.trail is not None and key in self.trail else None
            before = trail.before_deadline(address, message_id) if trail is not None else None
            outcome = fire_deadline(address, message_id, due, self.policy)
            if outcome is not None and trail is not None:
                trail.deadline(key, address, message_id, due, before, self.policy)

    # -- views -------------------------------------------------------------------------------

    def address_records(self) -> list[AddressRecord]:
        return [self.addresses[key].record() for key in sorted(self.addresses, key=_key_order)]

    def contact_record(self, contact_id: str) -> ContactRecord:
        addresses = self.addresses
        contact = self.contacts[contact_id]

        def messages():
            for key, message_id in contact.messages:
                address = addresses[key]
                yield address.messages[message_id].record(message_id, address.channel, address.address)

        return render_contact(contact_id, contact, lambda key: addresses[key].record(), messages())

    def contact_records(self) -> list[ContactRecord]:
        return [self.contact_record(contact_id) for contact_id in sorted(self.contacts)]


def kind_is_delivery(event) -> bool:
    return type(event) is Delivery


def _key_order(key: str) -> tuple[str, str]:
    channel, _, address = key.partition(":")
    return channel, address
