"""The answer to every accepted request (an adapter's gateways/batch.Batch): the events of
the reports that were read are published to the inbound topic, each report that was not
is dead-lettered with its reason, and the request is answered 200 with both counts and
the reasons, so the provider does not resend a batch that will never be read whole. The
email webhooks, the SMS webhooks, /sms/receipts, /events and bounce mail all end here.

The events are routed and sent by the one publisher (ingress/), which also checks each:
a report with an event it refuses (an address that does not normalise) is dead-lettered
whole. Dead letters go to the pipeline's dead-letter topic in the worker's form: the
report's own bytes as the value, headers `reason` and `source` (`gateway <route> <item>`,
as the worker's names the record it could not read). Publishing fails as a whole (503:
the provider resends; event ids make the resend harmless).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from gateways.service.metrics import GatewayMetrics
from gateways.batch import Batch
from ingress.publisher import DeadLetter, InboundPublisher

log = logging.getLogger("bounceback.gateway")


@dataclass(frozen=True)
class Letter(DeadLetter):
    """One dead letter as the topic gets it, and the report it was (`item`)."""

    item: str


async def deliver(route: str, batch: Batch, publisher: InboundPublisher, metrics: GatewayMetrics) -> tuple[int, dict]:
    """Publish and dead-letter a batch; the HTTP status and the answer."""
    routed = batch.route(publisher.route)
    letters = [Letter(r.raw, r.error, f"gateway {route} {r.item}", r.item) for r in batch.dead]
    if routed or letters:
        try:
            await publisher.publish_batch(routed, letters)
        except Exception:  # the text stays in the log: it may name brokers and internals
            log.exception("%s: publishing %d events and %d dead letters failed", route, len(routed), len(letters))
            return 503, {"error": "could not publish to the broker, retry later"}
    metrics.published.labels(route=route).inc(len(routed))
    answer = {"published": len(routed), **batch.answer}
    if letters:
        metrics.dead_letters.labels(route=route).inc(len(letters))
        for letter in letters:
            log.warning("%s: dead letter: %s", route, letter.reason)
        answer["dead_lettered"] = len(letters)
        answer["dead_letters"] = [{"item": letter.item, "reason": letter.reason} for letter in letters]
    return 200, answer
