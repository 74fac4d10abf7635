"""The worker's wall clock: a tick into every inbound partition, through the one publisher."""

from __future__ import annotations

import asyncio

from schemas.events import Tick, decode_event
from streams.app import Pipeline
from streams.settings import Settings, Topics


def test_publish_tick_sends_one_tick_to_every_inbound_partition_through_the_publisher(tmp_path):
    pipeline = Pipeline(Settings(topics=Topics("ticks"), partitions=3, datadir=str(tmp_path),
                                 processing_guarantee="at_least_once"))
    sent = []

    async def send(topic: str, value: bytes, partition: int | None, headers):
        sent.append((topic, partition, decode_event(value)))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    pipeline.inbound_publisher.send = send
    asyncio.run(pipeline.publish_tick())
    assert [(topic, p) for topic, p, _ in sent] == [("ticks.events", 0), ("ticks.events", 1), ("ticks.events", 2)]
    assert all(type(tick) is Tick for _, _, tick in sent)
