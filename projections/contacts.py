"""The contact-status projection: a contact's addresses (many-to-many with contacts)
and the messages whose reports carried its id.

The contact only holds references; its record is rendered from the address and
message states, so a change to a shared address shows on every contact holding it,
including contacts created after the change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import msgspec

from schemas.records import AddressRecord, ContactRecord, MessageRecord


class ContactState(msgspec.Struct, omit_defaults=True):
    # address keys (`channel:address`) of the latest `contact` event: emails, then phones
    addresses: list[str] = []
    addresses_at: datetime | None = None
    # (address key, message id) of every message whose reports carried this contact id
    messages: list[tuple[str, str]] = []


def set_addresses(contact: ContactState, keys: list[str], at: datetime) -> tuple[list[str], list[str]] | None:
    """Apply a `contact` event; the latest by event time stands (on equal times, the later
    in the log). Returns (added keys, removed keys), or None when the event is older."""
    if contact.addresses_at is not None and at < contact.addresses_at:
        return None
    ordered = list(dict.fromkeys(keys))
    before = contact.addresses
    contact.addresses = ordered
    contact.addresses_at = at
    old, new = set(before), set(ordered)
    return [k for k in ordered if k not in old], [k for k in before if k not in new]


def add_message(contact: ContactState, ref: tuple[str, str]) -> None:
    """Called once per message, when one of its reports first carries this contact id."""
    contact.messages.append(ref)


def message_sort_key(message: MessageRecord):
    # newest first, then by message id (then address, for messages sharing an id)
    return (-message.updated_at.timestamp(), message.message_id, message.channel, message.address)


def render_contact(
    contact_id: str,
    contact: ContactState,
    address_record: Callable[[str], AddressRecord],
    message_records: Iterable[MessageRecord],
) -> ContactRecord:
    return ContactRecord(
        contact_id=contact_id,
        addresses=[address_record(key) for key in contact.addresses],
        messages=sorted(message_records, key=message_sort_key),
    )
