"""The lag metric and /health's caught_up: a worker has caught up only once what it
processed is committed, so its outputs are visible to read_committed consumers."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiokafka.structs import TopicPartition

from streams import fence
from streams.settings import Settings, Topics


def test_processed_but_uncommitted_records_count_as_lag_until_committed(tmp_path, monkeypatch):
    from streams.app import Pipeline

    async def scenario():
        pipeline = Pipeline(Settings(topics=Topics("lag"), datadir=str(tmp_path), processing_guarantee="exactly_once"))
        consumer = pipeline.app.consumer
        tp = TopicPartition("lag.events", 0)
        consumer.assignment = lambda: {tp}
        highwater = {tp: 10}
        consumer.highwater = highwater.get
        position = {tp: 10}
        monkeypatch.setattr(fence, "fetch_position", lambda consumer, tp: position.get(tp))

        pipeline.ledger.fetched({tp: [SimpleNamespace(offset=o) for o in range(10)]})
        assert pipeline.consumer_lag() == {("lag.events", 0): 10}, "fetched, nothing processed"
        pipeline.ledger.processed(tp.topic, 0, list(range(6)))
        assert pipeline.consumer_lag() == {("lag.events", 0): 4 + 6}, "4 to process, 6 to commit"
        pipeline.ledger.processed(tp.topic, 0, list(range(6, 10)))
        assert pipeline.consumer_lag() == {("lag.events", 0): 10}, "all processed, none committed (not visible)"
        consumer._committed_offset[tp] = 10
        assert pipeline.consumer_lag() == {("lag.events", 0): 0}
        # the marker ending the transaction takes offset 10: the fetch position is past it
        highwater[tp], position[tp] = 11, 11
        assert pipeline.consumer_lag() == {("lag.events", 0): 0}

    asyncio.run(scenario())
