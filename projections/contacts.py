"""The contact-status projection: a contact's addresses (many-to-many with contacts)
and the messages whose reports carried its id.

The contact only holds address keys; its record is rendered from the address and
message states, so a change to a shared address shows on every contact holding it,
including contacts created after the change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import compress
from operator import attrgetter, not_

import msgspec

from projections.normalise import split_key
from schemas.records import CARD_MESSAGES, AddressRecord, ContactRecord, MessageRecord


class ContactState(msgspec.Struct, omit_defaults=True):
    # address keys (`channel:address`) of the latest `contact` event: emails, then phones
    addresses: list[str] = []
    addresses_at: datetime | None = None


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


def sort_messages(messages: list[MessageRecord]) -> list[MessageRecord]:
    """Newest `updated_at` first, then by message id (then address, for messages sharing an id)."""
    messages.sort(key=attrgetter("message_id", "channel", "address"))
    messages.sort(key=attrgetter("updated_at"), reverse=True)  # stable: ties keep the order above
    return messages


def _listed_before(a: MessageRecord, b: MessageRecord) -> bool:
    """Whether a card lists `a` before `b` (the order of sort_messages)."""
    if a.updated_at != b.updated_at:
        return a.updated_at > b.updated_at
    return (a.message_id, a.channel, a.address) < (b.message_id, b.channel, b.address)


# a message record's (channel, address, message id): one message to one address
message_identity = attrgetter("channel", "address", "message_id")
_message_id = attrgetter("message_id")


def merge_messages(card: list[MessageRecord], updates: list[MessageRecord]) -> tuple[list[MessageRecord], set]:
    """A card's messages (in card order) with the records of `updates` (new messages, or
    new records of messages it lists; at most one per message), in card order, the latest
    CARD_MESSAGES; and the identities of the updates the card listed. A report makes its
    message the newest, so the updates usually all go before what the card kept: then
    nothing is sorted but the updates. (map and compress: no Python call per message of
    the card.)"""
    fresh = sort_messages(updates)
    kept, listed = card, set()
    if not set(map(_message_id, fresh)).isdisjoint(map(_message_id, card)):
        identities = list(map(message_identity, card))
        replaced = list(map(set(map(message_identity, fresh)).__contains__, identities))
        listed = set(compress(identities, replaced))
        kept = list(compress(card, map(not_, replaced)))
    merged = fresh + kept
    if kept and not _listed_before(fresh[-1], kept[0]):
        sort_messages(merged)
    return merged[:CARD_MESSAGES], listed


def render_contact(
    contact_id: str,
    contact: ContactState,
    address_record: Callable[[str], AddressRecord | None],
    message_records: list[MessageRecord],
    messages_total: int,
) -> ContactRecord:
    """The contact record, with its messages as given (in card order: merge_messages). An
    address no address event has mentioned yet has no state of its own: it shows as active,
    with the time of the contact event that listed it."""
    addresses = []
    for key in contact.addresses:
        record = address_record(key)
        if record is None:
            channel, value = split_key(key)
            record = AddressRecord(channel, value, "active", [], 0, contact.addresses_at)
        addresses.append(record)
    return ContactRecord(contact_id, addresses, message_records, messages_total)
