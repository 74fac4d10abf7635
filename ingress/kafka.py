"""The publisher of a process that is not a worker (the command line, the gateway): a
producer of its own, every record acknowledged by all in-sync replicas before it counts
as published."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer

from ingress.publisher import Headers, InboundPublisher
from partitions.routing import Router
from projections.normalise import AddressNormaliser
from schemas.records import RejectedLine


class KafkaProducer:
    """The `send` of an InboundPublisher; started and stopped by its user, in the loop it
    sends from (aiokafka binds a producer to the running loop)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5, acks="all")
        await self.producer.start()

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def send(self, topic: str, value: bytes, partition: int | None, headers: Headers | None):
        return await self.producer.send(topic, value=value, partition=partition, headers=headers)


@asynccontextmanager
async def kafka_publisher(bootstrap: str, topic: str, partitions: int, normalise: AddressNormaliser,
                          memo_limit: int | None = None) -> AsyncIterator[InboundPublisher]:
    """An InboundPublisher (see there for `memo_limit`) on a producer started here and
    stopped on leaving."""
    producer = KafkaProducer(bootstrap)
    await producer.start()
    try:
        yield InboundPublisher(producer.send, topic, Router(partitions, normalise), memo_limit=memo_limit)
    finally:
        await producer.stop()


async def publish_lines(lines: Iterable[bytes], bootstrap: str, topic: str, partitions: int,
                        default_region: str = "SE",
                        on_line: Callable[[int], None] | None = None) -> tuple[int, list[RejectedLine]]:
    """Publish a log (one event per line) in order: the events published, and each invalid
    line with its number and reason."""
    async with kafka_publisher(bootstrap, topic, partitions, AddressNormaliser(default_region)) as publisher:
        return await publisher.publish_lines(lines, on_line)
