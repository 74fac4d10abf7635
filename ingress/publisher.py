"""The one publisher to the inbound topic.

Every event takes the same way: its addresses are normalised and its owner found by
partitions/routing.Router (the one rule of which partition holds an address, a contact, a
tick), its bytes are checked as the worker will read them (the contract and its size
limit: the worker's own decoder), and it is sent to the partition that owns it (a tick to
every partition). Sending each address's events to its owner keeps their order, so a
published file is applied in file order for each address. Each event is answered on its
own: where it went, or InvalidEvent naming the field before anything of it was sent.

The producer is given as `send` (ingress/kafka.py: a producer of the process's own;
a worker gives faust's), so every producer publishes alike. The sends of one caller (a
file, a request) are a `Window`: at most `window` of them unacknowledged, and `flush`
waits for them all. Each caller has its own, so a request is never answered on, or kept
waiting for, the acknowledgements of another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from partitions.routing import EVERY_ADDRESS_PARTITION, Router
from schemas.events import Event, InvalidEvent, decode_event, encode_event
from schemas.records import RejectedLine

SEND_WINDOW = 1000  # sends in flight before waiting for their acknowledgements

Headers = list[tuple[str, bytes]]
# send(topic, value, partition or None, headers or None): puts one record on its way and
# returns its acknowledgement, to be awaited
Send = Callable[[str, bytes, int | None, Headers | None], Awaitable[Awaitable]]


@dataclass(frozen=True)
class Routed:
    """An event ready to send: normalised, checked, and the partitions it goes to."""

    event: Event
    value: bytes
    partitions: tuple[int, ...]


@dataclass(frozen=True)
class DeadLetter:
    """A record of the dead-letter topic, in the worker's form: the input's own bytes, and
    headers `reason` and `source`."""

    raw: bytes
    reason: str
    source: str


def route(event: Event, router: Router) -> Routed:
    """The event normalised (in place), checked and routed; raises InvalidEvent naming the
    field. (InboundPublisher.route, for a caller that only checks: a dry run.)"""
    kind, partition = router.route(event)
    partitions = tuple(range(router.partition.partitions)) if kind == EVERY_ADDRESS_PARTITION else (partition,)
    return Routed(event, checked_bytes(event), partitions)


def checked_bytes(event: Event) -> bytes:
    """The bytes the event is sent as; InvalidEvent (naming the field, or the size limit)
    when the worker's decoder would dead-letter them."""
    value = encode_event(event)
    decode_event(value)
    return value


class InboundPublisher:
    def __init__(self, send: Send, topic: str, router: Router, dead_letter_topic: str | None = None,
                 window: int = SEND_WINDOW, memo_limit: int | None = None) -> None:
        """`memo_limit`: the Router remembers every spelling it routed (up to a million: a
        worker sees the same addresses again and again); a publisher of addresses seen
        about once (a bounce list) starts a new Router after this many events instead, so
        its memory stays flat."""
        self.send = send
        self.topic = topic
        self.router = router
        self.dead_letter_topic = dead_letter_topic
        self.window_size = window
        self.memo_limit = memo_limit
        self._routed = 0

    def route(self, event: Event) -> Routed:
        """The event normalised (in place), checked and routed; raises InvalidEvent naming the
        field."""
        if self.memo_limit is not None:
            self._routed += 1
            if self._routed > self.memo_limit:
                self.router, self._routed = Router(self.router.partition.partitions, self.router.normalise), 1
        return route(event, self.router)

    def window(self) -> Window:
        return Window(self)

    async def publish_lines(self, lines: Iterable[bytes],
                            on_line: Callable[[int], None] | None = None) -> tuple[int, list[RejectedLine]]:
        """Decode, check and publish a log, one event per line, in order, and wait for every
        acknowledgement; the events published, and each invalid line with its number and
        reason (blank lines are skipped)."""
        sends = self.window()
        rejected: list[RejectedLine] = []
        published = 0
        for number, raw in enumerate(lines, 1):
            if on_line is not None:
                on_line(number)
            try:
                await sends.publish(decode_event(raw))
            except InvalidEvent as exc:
                if raw.strip():
                    rejected.append(RejectedLine(number, str(exc), raw.rstrip(b"\r\n").decode("utf-8", "replace")))
                continue
            published += 1
        await sends.flush()
        return published, rejected

    async def publish_batch(self, routed: Sequence[Routed], letters: Sequence[DeadLetter]) -> None:
        """Routed events, all acknowledged first, then the dead letters: a report is never
        dead-lettered while the events of its batch are lost."""
        sends = self.window()
        for event in routed:
            await sends.send(event)
        await sends.flush()
        for letter in letters:
            await sends.dead_letter(letter)
        await sends.flush()


class Window:
    """The sends of one caller: at most the publisher's window of them unacknowledged."""

    def __init__(self, publisher: InboundPublisher) -> None:
        self.publisher = publisher
        self.acknowledged = 0  # records the broker has acknowledged
        self._pending: list[Awaitable] = []

    async def publish(self, event: Event) -> Routed:
        """Route and send; raises InvalidEvent, naming the field, before sending anything."""
        routed = self.publisher.route(event)
        await self.send(routed)
        return routed

    async def send(self, routed: Routed) -> None:
        for partition in routed.partitions:
            await self._put(self.publisher.topic, routed.value, partition, None)

    async def dead_letter(self, letter: DeadLetter) -> None:
        topic = self.publisher.dead_letter_topic
        if topic is None:
            raise ValueError("this publisher has no dead-letter topic")
        await self._put(topic, letter.raw, None, [("reason", letter.reason.encode()), ("source", letter.source.encode())])

    async def flush(self) -> None:
        """Wait until the broker has acknowledged every record sent so far."""
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending)
        self.acknowledged += len(pending)

    async def _put(self, topic: str, value: bytes, partition: int | None, headers: Headers | None) -> None:
        self._pending.append(await self.publisher.send(topic, value, partition, headers))
        if len(self._pending) >= self.publisher.window_size:
            await self.flush()
