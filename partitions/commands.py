"""Records the pipeline's agents send each other on internal topics (not part of the contract).

The address topic carries contract address events (already normalised) and links;
the contact topic carries contract `contact` events and what address partitions tell
contacts. Both are JSON with a `type` tag, like the contract's events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Union

import msgspec

from schemas.events import BounceList, Contact, Delivery, Resubscribe, Tick, Unblock, Unsubscribe
from schemas.records import AddressRecord, MessageRecord


class Link(msgspec.Struct, tag_field="type", tag="link"):
    """A contact's latest `contact` event lists (linked) or no longer lists the address."""

    channel: str
    address: str
    contact_id: str
    linked: bool
    # the `contact` event that made the link, for the address's audit trail
    event_id: str | None = None
    at: datetime | None = None


class AddressUpdate(msgspec.Struct, tag_field="type", tag="address_update"):
    """The current record of an address the contact holds; None while it has no state."""

    contact_id: str
    key: str
    record: AddressRecord | None


class MessageUpdate(msgspec.Struct, tag_field="type", tag="message_update"):
    """The current record of a message whose reports carry the contact's id; `new` the
    first time they do (the contact counts its messages by it, RULES.md §7)."""

    contact_id: str
    key: str
    record: MessageRecord
    new: bool = False


class ContactSeen(msgspec.Struct, tag_field="type", tag="contact_seen"):
    """An address event carried this contact id: the contact exists."""

    contact_id: str


AddressCommand = Union[Delivery, Unsubscribe, Resubscribe, Unblock, BounceList, Tick, Link]
ContactCommand = Union[Contact, AddressUpdate, MessageUpdate, ContactSeen]

decode_address_command = msgspec.json.Decoder(AddressCommand).decode
decode_contact_command = msgspec.json.Decoder(ContactCommand).decode
encode = msgspec.json.Encoder().encode
