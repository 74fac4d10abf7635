"""The answer to a request that carried a batch of reports (gateways/batch.py): the reports
that were read are published to the inbound topic, each one that was not is dead-lettered
with its reason, and the request is answered 200 with the counts and the reasons, so the
provider does not resend a batch that will never be read whole.

Dead letters go to the pipeline's dead-letter topic in the worker's form: the report's
own bytes as the value, headers `reason` and `source` (`gateway <route> <report>`).
Publishing fails as a whole (503: the provider resends; event ids make the resend
harmless), events first, so a report is never dead-lettered while its batch is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec
from aiohttp import web

from gateways.batch import Batch
from schemas.events import Event, InvalidEvent

log = logging.getLogger("bounceback.gateway")


@dataclass(frozen=True)
class Letter:
    raw: bytes
    reason: str
    source: str


DeadLetter = Callable[[list[Letter]], Awaitable[None]]


def _json(obj, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(obj), status=status, content_type="application/json")


async def answer(route: str, batch: Batch, normalise: Callable[[Event], Event],
                 publish: Callable[[list[Event]], Awaitable[None]], dead_letter: DeadLetter | None) -> web.Response:
    for report in batch.reports:
        if report.error is None:
            try:
                report.events = [normalise(e) for e in report.events]
            except InvalidEvent as exc:
                report.reject(f"{report.item}: {exc}")
    events, dead = batch.events, batch.dead
    if dead and dead_letter is None:
        return _json({"error": "reports could not be read and no dead-letter topic is configured: "
                               + "; ".join(r.error for r in dead)}, 503)
    try:
        if events:
            await publish(events)
        if dead:
            await dead_letter([Letter(r.raw, r.error, f"gateway {route} {r.item}") for r in dead])
    except Exception as exc:
        log.exception("publishing %d events and %d dead letters failed", len(events), len(dead))
        return _json({"error": f"could not publish to the broker, retry later: {exc}"}, 503)
    for r in dead:
        log.warning("dead letter from %s: %s", route, r.error)
    body: dict = {"published": len(events), "dead_lettered": len(dead)}
    if dead:
        body["errors"] = [{"item": r.item, "error": r.error} for r in dead]
    return _json(body)
