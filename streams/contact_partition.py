"""What one partition of contact state does with one batch of commands, without Kafka.

A contact keeps copies of the records of its addresses and messages, sent by the
address partitions, and renders its card from them; `finish` returns the cards that
changed and the links to send when a `contact` event changes the address list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from projections.contacts import ContactState, render_contact, set_addresses
from projections.normalize import split_key
from schemas.events import Contact, encode_event
from schemas.records import AddressRecord, ContactRecord, MessageRecord
from streams.commands import AddressUpdate, ContactSeen, Link, MessageUpdate


class ContactEntry(msgspec.Struct, omit_defaults=True, gc=False):
    contact: ContactState = msgspec.field(default_factory=ContactState)
    addresses: dict[str, AddressRecord] = {}
    # "<address key> <message id>" -> record
    messages: dict[str, MessageRecord] = {}
    applied: set[str] = set()

    def render(self, contact_id: str) -> ContactRecord:
        return render_contact(contact_id, self.contact, self.addresses.get, list(self.messages.values()))


@dataclass
class ContactBatchResult:
    entries: dict[str, ContactEntry]
    cards: list[ContactRecord]
    links: list[Link]
    applied: list[bytes]


class ContactBatch:
    def __init__(self, load: Callable[[str], ContactEntry | None]) -> None:
        self._load = load
        self._entries: dict[str, ContactEntry] = {}
        self._cards_before: dict[str, ContactRecord | None] = {}
        self._links: list[Link] = []
        self._applied: list[bytes] = []

    def _entry(self, contact_id: str) -> ContactEntry:
        entry = self._entries.get(contact_id)
        if entry is None:
            entry = self._load(contact_id)
            self._cards_before[contact_id] = entry.render(contact_id) if entry is not None else None
            entry = self._entries[contact_id] = entry or ContactEntry()
        return entry

    def apply(self, command) -> None:
        kind = type(command)
        if kind is Contact:
            self._contact(command)
        elif kind is AddressUpdate:
            entry = self._entry(command.contact_id)
            if command.key in entry.contact.addresses:  # else stale: sent before an unlink
                if command.record is None:
                    entry.addresses.pop(command.key, None)
                else:
                    entry.addresses[command.key] = command.record
        elif kind is MessageUpdate:
            record = command.record
            self._entry(command.contact_id).messages[f"{command.key} {record.message_id}"] = record
        elif kind is ContactSeen:
            self._entry(command.contact_id)
        else:
            raise TypeError(f"not a contact command: {kind.__name__}")

    def _contact(self, event: Contact) -> None:
        entry = self._entry(event.contact_id)
        if event.event_id in entry.applied:
            return
        entry.applied.add(event.event_id)
        self._applied.append(encode_event(event))
        keys = [f"email:{e}" for e in event.emails] + [f"sms:{p}" for p in event.phones]
        diff = set_addresses(entry.contact, keys, event.occurred_at)
        if diff is None:
            return
        added, removed = diff
        for key, linked in [(k, True) for k in added] + [(k, False) for k in removed]:
            channel, address = split_key(key)
            self._links.append(Link(channel, address, event.contact_id, linked))
        for key in removed:
            entry.addresses.pop(key, None)

    def finish(self) -> ContactBatchResult:
        cards = []
        for contact_id, entry in self._entries.items():
            card = entry.render(contact_id)
            if card != self._cards_before[contact_id]:
                cards.append(card)
        return ContactBatchResult(self._entries, cards, self._links, self._applied)
