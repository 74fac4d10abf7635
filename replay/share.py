"""One process's share of a replay: the partition processors of some partitions, their
state in dicts, fed from the lines of a log as the internal topics feed them live.

The processors form a cycle: a `contact` event gives links to address partitions, which
answer with address records for the contact partitions. A share folds the log in one pass:
each line goes to the partition that owns it, and what a processor sends another partition
goes to it at once when this share holds that partition, else to `send_link` or
`send_command` for the share that does (replay/runner.py carries it). Links from other shares
are taken in with `apply_links` whenever they arrive; contact commands, which make nothing
further, with `take_contact_commands` as they arrive and `apply_contact_commands` at the end.

Every address depends only on its own events and ticks, and every contact only on its own
`contact` events and the latest records sent to it, so the outputs are those of any
interleaving: the same as live, whatever the number of shares. A share that holds every
partition meets each link at the place of its `contact` event in the log, so an audit trail
lists it there.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from partitions.address import AddressEntry, AddressProcessor
from partitions.commands import Link
from partitions.contact import ContactEntry, ContactProcessor
from partitions.routing import ADDRESS, CONTACT, Router
from projections.addresses import AddressState
from projections.audit import TrailEntry
from projections.normalise import AddressNormaliser, address_key
from projections.policy import Policy
from schemas.events import Contact, InvalidEvent, Tick, decode_event
from schemas.records import AddressRecord, ContactRecord, RejectedLine

# Commands a partition's processor takes at a time. A batch publishes one record per
# address and per message it touched, so larger batches do less; but a batch's commands are
# held in memory until it runs (4 partitions x 16,384 events: about 20 MB).
BATCH = 16384
# Contact commands a contact partition's processor takes at a time: a batch sorts each
# contact's card once, so fewer batches cost less; but each command holds a message record
# until its batch runs (at 65,536 a replay of 1,000 weeks peaked at 151 MiB against 57 at
# 100 weeks; at 16,384, 88 MiB, in the same CPU time).
CONTACT_BATCH = 16384
# Lines between two looks for links from other shares.
POLL = 4096


def _ignore(partition: int, command) -> None:
    """Where a share with no other shares sends: nowhere (explain folds one address
    partition and needs nothing the others would do with what it sends)."""


class Share:
    def __init__(
        self,
        policy: Policy,
        partitions: int,
        address_partitions: Iterable[int],
        contact_partitions: Iterable[int],
        *,
        records_rejections: bool = True,
        audit: Callable[[str], bool] | None = None,
        send_link: Callable[[int, Link], None] = _ignore,
        send_command: Callable[[int, object], None] = _ignore,
    ) -> None:
        self.router = Router(partitions, AddressNormaliser(policy.default_region))
        self.address_tables: dict[int, dict[str, AddressEntry]] = {p: {} for p in address_partitions}
        self.contact_tables: dict[int, dict[str, ContactEntry]] = {p: {} for p in contact_partitions}
        self.address_processors = {p: AddressProcessor(policy, t.get, audit=audit) for p, t in self.address_tables.items()}
        self.contact_processors = {p: ContactProcessor(t.get, cards=False) for p, t in self.contact_tables.items()}
        # commands waiting for their partition's next batch, and the line of each (0 for ticks
        # and links), to report a report refused as too late
        self._address_queues: dict[int, list] = {p: [] for p in self.address_tables}
        self._origins: dict[int, list] = {p: [] for p in self.address_tables}
        self._contact_queues: dict[int, list] = {p: [] for p in self.contact_tables}
        self._contact_events: dict[int, list[Contact]] = {p: [] for p in self.contact_tables}
        self._send_link, self._send_command = send_link, send_command
        # a line no partition can take is recorded by one share only
        self.records_rejections = records_rejections
        self.rejected: list[RejectedLine] = []
        self.events = 0
        self.trail: dict[str, list[TrailEntry]] = {}

    # -- folding ------------------------------------------------------------------------------

    def fold_log(
        self,
        lines: Iterable[bytes],
        poll: Callable[[], Iterable[tuple[int, Link]]] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Fold every line this share's partitions own; every POLL lines, the links `poll`
        returns (from other shares) are taken in."""
        route, decode = self.router.route, decode_event
        queues, origins, contact_events = self._address_queues, self._origins, self._contact_events
        everywhere = [(p, queue, origins[p]) for p, queue in queues.items()]
        contacts_waiting = False
        events = number = 0
        for number, raw in enumerate(lines, 1):
            try:
                event = decode(raw)
                where, p = route(event)
            except InvalidEvent as exc:
                if self.records_rejections and raw.strip():  # blank lines are not events
                    self.rejected.append(RejectedLine(number, str(exc), raw.rstrip(b"\r\n").decode("utf-8", "replace")))
                continue
            events += 1
            if where is CONTACT:
                queue = contact_events.get(p)
                if queue is not None:
                    queue.append(event)
                    contacts_waiting = True
                continue
            if contacts_waiting:  # their links go before this event
                self._fold_contact_events()
                contacts_waiting = False
            if where is ADDRESS:
                queue = queues.get(p)
                if queue is not None:
                    queue.append(event)
                    origins[p].append(number)
                    if len(queue) >= BATCH:
                        self._fold(p, queue)
            else:  # a tick: every address partition
                for p, queue, origin in everywhere:
                    queue.append(event)
                    origin.append(0)
                    if len(queue) >= BATCH:
                        self._fold(p, queue)
            if not number % POLL:
                if poll is not None:
                    self.apply_links(poll())
                if on_progress is not None:
                    on_progress(number)
        self._fold_contact_events()
        self.events += events
        if on_progress is not None:
            on_progress(number)

    def apply_links(self, links: Iterable[tuple[int, Link]]) -> None:
        """Links to this share's address partitions, from the contact partitions of others."""
        for p, link in links:
            self._queue_link(p, link)

    def finish(self, as_of: datetime | None = None) -> None:
        """Fold what waits in the queues (after one last tick at `as_of`, if given)."""
        if as_of is not None:
            for p, queue in self._address_queues.items():
                queue.append(Tick(at=as_of))
                self._origins[p].append(0)
        for p, queue in self._address_queues.items():
            self._fold(p, queue)
        for q, queue in self._contact_queues.items():
            self._apply(q, queue)
        self.rejected.sort(key=_line)  # a report too late is found when its batch runs

    def take_contact_commands(self, commands: Iterable[object]) -> None:
        """Contact commands from the address partitions of other shares, queued for their
        partitions' next batches."""
        partition, queues = self.router.partition, self._contact_queues
        for command in commands:
            q = partition(command.contact_id)
            queue = queues[q]
            queue.append(command)
            if len(queue) >= CONTACT_BATCH:
                self._apply(q, queue)

    def apply_contact_commands(self, commands: Iterable[object]) -> None:
        """The last contact commands from other shares, and whatever waits in the queues."""
        self.take_contact_commands(commands)
        for q, queue in self._contact_queues.items():
            self._apply(q, queue)

    def _fold_contact_events(self) -> None:
        partition = self.router.partition
        for q, events in self._contact_events.items():
            if events:
                result = self.contact_processors[q].process(events)
                events.clear()
                self.contact_tables[q].update(result.entries)
                for link in result.links:
                    self._queue_link(partition(address_key(link.channel, link.address)), link)

    def _queue_link(self, p: int, link: Link) -> None:
        queue = self._address_queues.get(p)
        if queue is None:
            self._send_link(p, link)
            return
        queue.append(link)
        self._origins[p].append(0)
        if len(queue) >= BATCH:
            self._fold(p, queue)

    def _fold(self, p: int, queue: list) -> None:
        result = self.address_processors[p].process(queue)
        queue.clear()
        origins = self._origins[p]
        self.events -= len(result.too_late)
        for index, reason in result.too_late:
            self.rejected.append(RejectedLine(origins[index], reason, ""))  # its text: fill_raw
        origins.clear()
        self.address_tables[p].update(result.entries)
        for key, entry in result.trail:
            self.trail.setdefault(key, []).append(entry)
        partition, queues = self.router.partition, self._contact_queues
        for contact_id, command in result.contact_commands:
            q = partition(contact_id)
            queue = queues.get(q)
            if queue is None:
                self._send_command(q, command)
                continue
            queue.append(command)
            if len(queue) >= CONTACT_BATCH:
                self._apply(q, queue)

    def _apply(self, q: int, queue: list) -> None:
        self.contact_tables[q].update(self.contact_processors[q].process(queue).entries)
        queue.clear()

    def fill_raw(self, lines: Iterable[bytes]) -> None:
        """The text of the lines refused as too late (found when their batch ran, after the
        line itself was gone), from a second read of the log; only when there are some."""
        missing = {r.line: r for r in self.rejected if not r.raw}
        if not missing:
            return
        for number, raw in enumerate(lines, 1):
            rejected = missing.get(number)
            if rejected is not None:
                rejected.raw = raw.rstrip(b"\r\n").decode("utf-8", "replace")

    # -- results --------------------------------------------------------------------------------

    @property
    def clock(self) -> datetime | None:
        """The clock (the latest tick): every address partition sees every tick."""
        return next((p.clock for p in self.address_processors.values()), None)

    @property
    def addresses(self) -> dict[str, AddressState]:
        """Every address's state by key, in no particular order."""
        return {key: entry.state for table in self.address_tables.values()
                for key, entry in table.items() if entry.state is not None}

    @property
    def contacts(self) -> dict[str, ContactEntry]:
        """Every contact's entry by id, in no particular order."""
        return {contact_id: entry for table in self.contact_tables.values() for contact_id, entry in table.items()}

    def address_records(self) -> Iterator[tuple[str, AddressRecord]]:
        """(key, record) of every address seen, sorted by key: by channel, then address."""
        return heapq.merge(*(
            sorted(((key, entry.state.record()) for key, entry in table.items() if entry.state is not None), key=_first)
            for table in self.address_tables.values()
        ), key=_first)

    def contact_records(self) -> Iterator[tuple[str, ContactRecord]]:
        """(contact id, record) of every contact seen, sorted by contact id, each rendered
        when it is asked for (a writer encoding each as it comes works on records still in
        the CPU's caches)."""
        return heapq.merge(*map(_rendered, self.contact_tables.values()), key=_first)

    def contact_record(self, contact_id: str) -> ContactRecord | None:
        table = self.contact_tables.get(self.router.partition(contact_id), {})
        entry = table.get(contact_id)
        return entry.render(contact_id) if entry is not None else None


def _line(rejected: RejectedLine) -> int:
    return rejected.line


def _first(pair):
    return pair[0]


def _rendered(table: dict[str, ContactEntry]) -> Iterator[tuple[str, ContactRecord]]:
    for contact_id in sorted(table):
        yield contact_id, table[contact_id].render(contact_id)
