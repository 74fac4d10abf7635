"""HTTP lookups on every worker: each request is answered by the worker that owns the
key's partition, whichever worker is asked (faust's router forwards it)."""

from __future__ import annotations

import msgspec
from faust.exceptions import SameNode
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily

from projections.normalise import InvalidAddress, address_key
from streams import metrics, pages, web_guard
from streams.operator_api import install_operator_views
from streams.urls import ADDRESS_ROUTE, CONTACT_ROUTE

_encode = msgspec.json.Encoder().encode


def _json(web, obj, status: int = 200, headers=None):
    return web.bytes(_encode(obj), content_type="application/json", status=status, headers=headers)


def _media_q(accept: str, wanted: str) -> float:
    for part in accept.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        if media.lower() == wanted:
            for param in params:
                name, _, value = param.partition("=")
                if name.strip() == "q":
                    try:
                        return float(value)
                    except ValueError:
                        return 0.0
            return 1.0
    return 0.0


def wants_html(request) -> bool:
    """A browser asks for text/html by name; API clients (curl's */*, no Accept, or
    application/json) get JSON, as before there were pages (docs/decisions.md)."""
    accept = request.headers.get("Accept", "")
    return _media_q(accept, "text/html") > _media_q(accept, "application/json")


_VARY = {"Vary": "Accept"}


class _LagCollector:
    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline

    def collect(self):
        gauge = GaugeMetricFamily("bounceback_consumer_lag", "Records not yet processed", labels=["topic", "partition"])
        for (topic, partition), lag in sorted(self.pipeline.consumer_lag().items()):
            gauge.add_metric([topic, str(partition)], lag)
        yield gauge


def install_views(pipeline) -> None:
    app = pipeline.app
    web_guard.install(app.web.web_app)
    try:
        metrics.REGISTRY.register(_LagCollector(pipeline))
    except ValueError:  # already registered by an earlier pipeline in this process
        pass

    async def route(web, request, table, key: bytes):
        """The owner's answer, or None when this worker owns the key."""
        try:
            return await app.router.route_req(table.name, key, web, request)
        except SameNode:
            return None
        except Exception as exc:  # no assignment yet, or the owner is unreachable
            return _json(web, {"error": f"no worker can answer for this key yet: {exc!r}"}, status=503)

    limit = pipeline.settings.policy.soft_bounce_limit

    def not_found(web, request, message: str):
        if wants_html(request):
            return web.html(pages.not_found_page(message), status=404, headers=_VARY)
        return _json(web, {"error": message}, status=404, headers=_VARY)

    @app.page(ADDRESS_ROUTE)
    async def address_view(web, request, channel: str, address: str):
        if channel not in ("email", "sms"):
            return _json(web, {"error": f"channel must be email or sms, not {channel!r}"}, status=400)
        try:
            key = address_key(channel, pipeline.normalise(channel, address))
        except InvalidAddress as exc:
            return _json(web, {"error": str(exc)}, status=400)
        routed = await route(web, request, pipeline.addresses, key.encode())
        if routed is not None:
            return routed
        entry = pipeline.lookup_address(key)
        if entry is None or entry.state is None:
            return not_found(web, request, f"no event has mentioned {key}")
        trail = pipeline.lookup_trail(key, entry)
        if wants_html(request):
            return web.html(pages.address_page(entry.state.record(), entry.holders, trail, limit), headers=_VARY)
        return _json(web, {"record": entry.state.record(), "contacts": entry.holders, "trail": trail},
                     headers=_VARY)

    @app.page(CONTACT_ROUTE)
    async def contact_view(web, request, contact_id: str):
        routed = await route(web, request, pipeline.contacts, contact_id.encode())
        if routed is not None:
            return routed
        entry = pipeline.lookup_contact(contact_id)
        if entry is None:
            return not_found(web, request, f"no event has mentioned contact {contact_id!r}")
        if wants_html(request):
            return web.html(pages.contact_page(entry.render(contact_id), limit), headers=_VARY)
        return _json(web, entry.render(contact_id), headers=_VARY)

    def asset_view(asset: pages.Asset):
        async def view(web, request):
            # the URL the pages use names the content's digest: it may be kept for a year
            return web.bytes(asset.content, content_type=asset.content_type,
                             headers={"Cache-Control": "public, max-age=31536000, immutable"})

        view.__name__ = f"asset_{asset.name.replace('.', '_')}"
        return view

    for asset in pages.ASSETS.values():
        app.page(f"/assets/{asset.name}")(asset_view(asset))
    # what a browser asks for without a page naming its icon
    app.page("/favicon.ico", name="favicon")(asset_view(pages.ASSETS["favicon.svg"]))

    @app.page("/metrics")
    async def metrics_view(web, request):
        return web.bytes(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/health")
    async def health_view(web, request):
        assigned = sorted(f"{tp.topic}/{tp.partition}" for tp in app.consumer.assignment())
        # ready: not rebalancing and the tables restored, so the lag metric means something
        ready = not app.rebalancing and not app.in_recovery and app.tables.recovery.completed.is_set()
        # caught up: nothing left to process, and what was processed committed (visible)
        lag = sum(pipeline.consumer_lag().values()) if ready else None
        # the changelog partitions kept warm for other workers' partitions (--standby-replicas)
        changelogs = app.tables.changelog_topics
        standby = sorted(f"{tp.topic}/{tp.partition}" for tp in app.assignor.assigned_standbys()
                         if tp.topic in changelogs)
        return _json(web, {"assigned": assigned, "standby": standby, "ready": ready, "lag": lag, "caught_up": lag == 0,
                           "processing_guarantee": pipeline.settings.processing_guarantee})

    install_operator_views(pipeline, _json)
