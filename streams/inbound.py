"""faust's producer as the `send` of the one publisher (ingress/): what a worker puts on
the inbound topic (the operator API's events; the clock's ticks) goes the way every
producer's does, outside any transaction: it is input to the pipeline, not the output of
a partition this worker may hold."""

from __future__ import annotations

import faust

from ingress.publisher import Headers, Send


def faust_send(app: faust.App) -> Send:
    async def send(topic: str, value: bytes, partition: int | None, headers: Headers | None):
        producer = app.producer
        await producer.maybe_start()
        return await producer.send(topic, None, value, partition, None, headers)

    return send
