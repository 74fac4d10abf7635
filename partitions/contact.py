"""One partition of contact state, without Kafka.

A contact keeps copies of the records of its addresses and messages, which the address
partitions send it, and renders its card from them. A batch returns the entries to store,
the links to send when a `contact` event changes the address list and, for a runner that
publishes cards, the cards that changed. Both runners drive it: the faust worker
(streams/app.py) and replay (replay/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec

from projections.contacts import ContactState, merge_messages, message_identity, render_contact, set_addresses
from projections.normalise import address_key, split_key
from schemas.events import Contact
from schemas.records import AddressRecord, ContactRecord, MessageRecord
from partitions.commands import AddressUpdate, ContactSeen, Link, MessageUpdate


class ContactEntry(msgspec.Struct, omit_defaults=True, gc=False):
    contact: ContactState = msgspec.field(default_factory=ContactState)
    addresses: dict[str, AddressRecord] = {}
    # the records of its latest CARD_MESSAGES messages, as the card lists them (RULES.md §7)
    messages: list[MessageRecord] = []
    messages_total: int = 0
    # the ids of the latest KEPT_CONTACT_EVENTS `contact` events applied
    applied: list[str] = []

    def render(self, contact_id: str) -> ContactRecord:
        return render_contact(contact_id, self.contact, self.addresses.get, self.messages, self.messages_total)


# `contact` events change nothing when applied twice; their ids are kept to count duplicates
KEPT_CONTACT_EVENTS = 100


@dataclass
class ContactBatchResult:
    entries: dict[str, ContactEntry]
    # the cards that changed (empty unless the processor publishes cards)
    cards: list[ContactRecord]
    links: list[Link]
    # the `contact` events applied, in order: duplicates are not
    applied: list[Contact]


class ContactProcessor:
    """The contact state of one partition. `cards` says whether batches return the cards
    they changed (live: published on the contact-status topic), which costs rendering each
    card before and after; replay renders every card once, at the end."""

    def __init__(self, load: Callable[[str], ContactEntry | None], cards: bool = True) -> None:
        self.load = load
        self.cards = cards

    def process(self, commands: Iterable) -> ContactBatchResult:
        batch = _Batch(self)
        for command in commands:
            batch.apply(command)
        return batch.finish()


class _Batch:
    def __init__(self, processor: ContactProcessor) -> None:
        self.processor = processor
        self.entries: dict[str, ContactEntry] = {}
        self.cards_before: dict[str, ContactRecord | None] = {}
        self.links: list[Link] = []
        self.applied: list[Contact] = []
        # contact id -> the latest record of each message this batch sends it, by identity
        self.messages: dict[str, dict[tuple[str, str, str], MessageRecord]] = {}
        # contact id -> the identities of the messages this batch says are new to it
        self.new_messages: dict[str, set[tuple[str, str, str]]] = {}

    def entry(self, contact_id: str) -> ContactEntry:
        entry = self.entries.get(contact_id)
        if entry is None:
            entry = self.processor.load(contact_id)
            if self.processor.cards:
                self.cards_before[contact_id] = entry.render(contact_id) if entry is not None else None
            entry = self.entries[contact_id] = entry or ContactEntry()
        return entry

    def apply(self, command) -> None:
        kind = type(command)
        if kind is MessageUpdate:
            record = command.record
            messages = self.messages.get(command.contact_id)
            if messages is None:
                self.entry(command.contact_id)
                messages = self.messages[command.contact_id] = {}
            identity = message_identity(record)
            messages[identity] = record
            if command.new:
                self.new_messages.setdefault(command.contact_id, set()).add(identity)
        elif kind is AddressUpdate:
            entry = self.entry(command.contact_id)
            if command.key in entry.contact.addresses:  # else stale: sent before an unlink
                if command.record is None:
                    entry.addresses.pop(command.key, None)
                else:
                    entry.addresses[command.key] = command.record
        elif kind is Contact:
            self.contact(command)
        elif kind is ContactSeen:
            self.entry(command.contact_id)
        else:
            raise TypeError(f"not a contact command: {kind.__name__}")

    def contact(self, event: Contact) -> None:
        entry = self.entry(event.contact_id)
        if event.event_id in entry.applied:
            return
        entry.applied.append(event.event_id)
        if len(entry.applied) > KEPT_CONTACT_EVENTS:
            del entry.applied[0]
        self.applied.append(event)
        keys = [address_key("email", e) for e in event.emails] + [address_key("sms", p) for p in event.phones]
        diff = set_addresses(entry.contact, keys, event.occurred_at)
        if diff is None:
            return
        added, removed = diff
        for keys, linked in ((added, True), (removed, False)):
            for key in keys:
                channel, address = split_key(key)
                self.links.append(Link(channel, address, event.contact_id, linked, event.event_id, event.occurred_at))
        for key in removed:
            entry.addresses.pop(key, None)

    def finish(self) -> ContactBatchResult:
        for contact_id, messages in self.messages.items():
            entry = self.entries[contact_id]
            entry.messages, listed = merge_messages(entry.messages, list(messages.values()))
            new = self.new_messages.get(contact_id)
            if new:
                # a message the card listed is not counted again: `new` comes twice when a
                # batch of the address partition is processed twice (at-least-once, or a
                # transaction whose offsets a restarted worker did not yet see committed)
                entry.messages_total += len(new - listed)
        cards = []
        for contact_id, before in self.cards_before.items():
            card = self.entries[contact_id].render(contact_id)
            if card != before:
                cards.append(card)
        return ContactBatchResult(self.entries, cards, self.links, self.applied)
