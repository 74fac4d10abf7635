"""The worker's wall clock: a tick into every inbound partition."""

from __future__ import annotations

import asyncio

from schemas.events import Tick, decode_event
from streams.settings import Settings, Topics


def test_publish_tick_sends_one_tick_to_every_inbound_partition(tmp_path):
    from streams.app import Pipeline

    pipeline = Pipeline(Settings(topics=Topics("ticks"), partitions=3, datadir=str(tmp_path),
                                 processing_guarantee="at_least_once"))
    sent = []

    async def publish_inbound(value: bytes, partition: int, key: bytes | None = None) -> None:
        sent.append((partition, decode_event(value)))

    pipeline.publish_inbound = publish_inbound
    asyncio.run(pipeline.publish_tick())
    assert [p for p, _ in sent] == [0, 1, 2]
    assert all(type(tick) is Tick for _, tick in sent)
