"""All projections of one log in one process: the fold that `bounceback replay` runs.

It routes each event to the address and contact folds the streaming pipeline runs
per partition, keeps the deadline queue, and drops events already applied. The same
event id is a duplicate within its address (or contact), the scope one partition
of the pipeline can see.

Replay is bound by memory access far more than by arithmetic (a log of a million events
holds hundreds of MB of state), so an event touches as few objects as it can: a decoded
event finds its address through one dict keyed by the address as written, whose value
also holds the ids applied there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from heapq import heappop, heappush
from itertools import count

import msgspec

from projections.addresses import AddressState, apply_address_event, apply_delivery, fire_deadline, new_address
from projections.audit import Trail, deadline_entry, duplicate_entry, event_entry, snapshot
from projections.contacts import ContactState, render_contact, set_addresses
from projections.intake import normalise_event
from projections.messages import MessageState
from projections.normalize import AddressNormalizer, InvalidAddress
from projections.policy import Policy
from schemas.events import Contact, Delivery, Event, InvalidEvent, Tick
from schemas.records import AddressRecord, ContactRecord, MessageRecord

# Address spellings remembered per channel before the memo starts again (as AddressNormalizer).
_ROUTE_LIMIT = 1_000_000


class _Scope(msgspec.Struct, gc=False):
    """One address of the ledger: its key, its state and the event ids applied to it.

    The ids are the keys of a dict rather than a set: a dict holding only strings is not
    tracked by the cyclic garbage collector, a set always is."""

    key: str
    state: AddressState
    applied: dict[str, None] = {}


class Ledger:
    def __init__(self, policy: Policy | None = None, audit: Iterable[str] | None = None) -> None:
        self.policy = policy or Policy()
        self.addresses: dict[str, AddressState] = {}
        self.contacts: dict[str, ContactState] = {}
        self.clock: datetime | None = None
        # address key -> its scope; per channel, the address as written -> its scope
        self._scopes: dict[str, _Scope] = {}
        self._routes: dict[str, dict[str, _Scope]] = {"email": {}, "sms": {}}
        # contact id -> the ids of the `contact` events applied to it
        self._contact_applied: dict[str, dict[str, None]] = {}
        # contact id -> the messages whose reports carried it, as a flat list of
        # (address state, message id, message state) triples: no tuple per message
        self._contact_messages: dict[str, list] = {}
        # (due, address key, message id, push count, message state), earliest first (see _deadline)
        self._deadlines: list[tuple[datetime, str, str, int, MessageState]] = []
        self._pushes = count()
        self.normalise = AddressNormalizer(self.policy.default_region)
        # the audit trail of the address keys asked for ("*": all of them)
        self.trail = Trail(audit) if audit is not None else None

    def apply_decoded(self, event: Event) -> None:
        """Normalise a decoded event's addresses (RULES.md §1) and fold it; raises InvalidEvent,
        with nothing applied, when an address does not normalise."""
        kind = type(event)
        if kind is Tick or kind is Contact or self.trail is not None:
            self.apply(normalise_event(event, self.normalise))
            return
        scope = self._routes[event.channel].get(event.address)
        if scope is None:
            scope = self._route(event)
        applied = scope.applied
        event_id = event.event_id
        if event_id in applied:
            return
        applied[event_id] = None
        if kind is Delivery:
            state = scope.state
            outcome = apply_delivery(state, event, self.policy)
            if outcome.deadline is not None:
                self._deadline(outcome.deadline, scope.key, outcome.message_id, state)
            # a contact is seen when any event carries its id: for a report, that is when a
            # message first carries it
            if outcome.new_contact is not None:
                self._carried(outcome.new_contact, state, outcome.message_id)
            return
        apply_address_event(scope.state, event, self.policy)
        contact_id = getattr(event, "contact_id", None)
        if contact_id is not None and contact_id not in self.contacts:
            self.contacts[contact_id] = ContactState()

    def _deadline(self, due: datetime, key: str, message_id: str, address: AddressState) -> None:
        # The queue of projections.deadlines, with the message's state in each entry so that a
        # stale entry (most are: the message settled first) is dropped without looking the
        # address and the message up. Entries are unique in (due, key, message id), as a
        # deadline only moves earlier; the push count after them keeps states from ever
        # being compared.
        heappush(self._deadlines, (due, key, message_id, next(self._pushes), address.messages[message_id]))

    def _carried(self, contact_id: str, address: AddressState, message_id: str) -> None:
        """A message's reports carry a contact id for the first time."""
        found = self._contact_messages.get(contact_id)
        if found is None:
            self._contact_messages[contact_id] = [address, message_id, address.messages[message_id]]
            if contact_id not in self.contacts:
                self.contacts[contact_id] = ContactState()
        else:
            found += (address, message_id, address.messages[message_id])

    def _route(self, event) -> _Scope:
        """The scope of an address event's address as written, remembered for the next time."""
        channel, written = event.channel, event.address
        try:
            value = self.normalise(channel, written)
        except InvalidAddress as exc:
            raise InvalidEvent(f"{exc} - at `$.address`") from None
        routes = self._routes[channel]
        if len(routes) >= _ROUTE_LIMIT:
            routes.clear()
        scope = routes[written] = self._scope(channel, value, event.occurred_at)
        return scope

    def _scope(self, channel: str, value: str, at: datetime) -> _Scope:
        """The scope of a normalised address; a new address starts at `at`, the time of the
        first event about it (a first event is never a duplicate)."""
        key = f"{channel}:{value}"
        scope = self._scopes.get(key)
        if scope is None:
            state = self.addresses[key] = new_address(channel, value, at)
            scope = self._scopes[key] = _Scope(key, state)
        return scope

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
        scope = self._scope(event.channel, event.address, event.occurred_at)
        key, address = scope.key, scope.state
        trail = self.trail if self.trail is not None and key in self.trail else None
        if event.event_id in scope.applied:
            if trail is not None:
                trail.add(key, duplicate_entry(address, event))
            return
        scope.applied[event.event_id] = None
        before = snapshot(address, getattr(event, "message_id", None)) if trail is not None else None
        if type(event) is Delivery:
            outcome = apply_delivery(address, event, self.policy)
            if outcome.deadline is not None:
                self._deadline(outcome.deadline, key, outcome.message_id, address)
            if outcome.new_contact is not None:
                self._carried(outcome.new_contact, address, outcome.message_id)
        else:
            outcome = apply_address_event(address, event, self.policy)
        # a contact is seen when any event carries its id
        contact_id = getattr(event, "contact_id", None)
        if contact_id is not None and contact_id not in self.contacts:
            self.contacts[contact_id] = ContactState()
        if trail is not None:
            trail.add(key, event_entry(address, event, before, self.policy))

    def _apply_contact(self, event: Contact) -> None:
        contact_id = event.contact_id
        applied = self._contact_applied.get(contact_id)
        if applied is None:
            applied = self._contact_applied[contact_id] = {}
        elif event.event_id in applied:
            return
        applied[event.event_id] = None
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
        heap = self._deadlines
        while heap and heap[0][0] <= at:
            due, key, message_id, _, message = heappop(heap)
            if message.final is not None or message.deadline != due:
                continue  # settled, or moved to an earlier deadline: fire_deadline would ignore it
            address = self.addresses[key]
            trail = self.trail if self.trail is not None and key in self.trail else None
            before = snapshot(address, message_id) if trail is not None else None
            outcome = fire_deadline(address, message_id, due, self.policy)
            if outcome is not None and trail is not None:
                trail.add(key, deadline_entry(address, message_id, due, before, self.policy))

    # -- views -------------------------------------------------------------------------------

    def address_records(self) -> dict[str, AddressRecord]:
        """Every address record by key, in output order (channel, address). Keys are
        `channel:address` and the channels are `email` < `sms`, so the keys' own order is
        that order, without splitting them."""
        addresses = self.addresses
        return {key: addresses[key].record() for key in sorted(addresses)}

    @staticmethod
    def _message_records(found: list) -> list[MessageRecord]:
        return [message.record(message_id, address.channel, address.address)
                for address, message_id, message in zip(found[::3], found[1::3], found[2::3])]

    def contact_record(self, contact_id: str) -> ContactRecord:
        """One contact's record."""
        messages = self._message_records(self._contact_messages.get(contact_id, []))
        return render_contact(contact_id, self.contacts[contact_id], self._address_record, messages)

    def contact_records(self, address_records: dict[str, AddressRecord] | None = None) -> list[ContactRecord]:
        """All contact records; `address_records` (by key) saves rendering them again."""
        return list(self.iter_contact_records(address_records))

    def iter_contact_records(self, address_records: dict[str, AddressRecord] | None = None) -> Iterator[ContactRecord]:
        """All contact records, by contact id, each made when it is asked for: a writer that
        encodes each as it comes works on records still in the CPU's caches."""
        record = address_records.get if address_records is not None else self._address_record
        by_contact = self._contact_messages
        contacts = self.contacts
        for contact_id in sorted(contacts):
            messages = self._message_records(by_contact.get(contact_id, []))
            yield render_contact(contact_id, contacts[contact_id], record, messages)

    def _address_record(self, key: str) -> AddressRecord | None:
        address = self.addresses.get(key)
        return address.record() if address is not None else None
