"""The operator API on every worker: the state-changing endpoints, behind a bearer token.

- `POST /addresses/{channel}/{address}/unblock`, JSON body `{"actor": ..., "note": ...}`:
  a manual unblock (RULES.md §4), recorded with who did it and why.
- `POST /bounce-lists?list=bounced|unsubscribed[&channel=email|sms|auto][&source=NAME][&dry_run=1]`,
  the CSV file as the body: the same import as `bounceback import-bounce-list`.

Neither changes state itself: each publishes contract events to the inbound topic, to the
partition that owns the address, and answers once the broker has them. The pipeline then
applies them like any other event, and a replay of the log sees them too.

A request is never answered 2xx for an event the pipeline would then drop: every event is
checked here with the worker's own decoder (`decode_event`: the contract and the
MAX_EVENT_BYTES limit) before anything is published, fields have limits of their own
(ACTOR_MAX_CHARS, NOTE_MAX_CHARS, SOURCE_MAX_CHARS), an unblock needs an address some
event has mentioned (the worker that owns the address is asked), and a broker that does
not take the event is a 503, not a 500.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import tempfile
import uuid
from datetime import datetime, timezone

import aiohttp
import msgspec
from faust.web import View

from ingress.bounce_list import MEMO_LIMIT, import_rows
from ingress.publisher import Headers, InboundPublisher, Send, checked_bytes
from projections.bounce_list import CHANNELS, LISTS, BounceListReader, Invalid
from projections.normalise import AddressNormaliser, InvalidAddress, address_key
from schemas.events import InvalidEvent, Unblock
from streams.inbound import faust_send
from streams.urls import BOUNCE_LISTS_ROUTE, UNBLOCK_ROUTE, address_path

log = logging.getLogger("bounceback")

INVALID_ROWS_SHOWN = 1000
TOKEN_VARIABLE = "BOUNCEBACK_OPERATOR_TOKEN"
# limits of the operator's own words (docs/decisions.md); with them an unblock event stays
# far below the pipeline's MAX_EVENT_BYTES, which is checked as well
NOTE_MAX_CHARS = 4000
ACTOR_MAX_CHARS = 200
SOURCE_MAX_CHARS = 200
BODY_MAX_BYTES = 1 << 20  # an unblock request body (aiohttp's own default limit)
PUBLISH_TIMEOUT = 30.0  # seconds the broker has to acknowledge an event
OWNER_TIMEOUT = 10.0  # seconds the worker that owns an address has to answer


class Refused(Exception):
    """A request answered with `status` and `reason`, before anything more is published."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class UnblockRequest(msgspec.Struct, forbid_unknown_fields=False):
    actor: str | None = None
    note: str | None = None


_decode_unblock = msgspec.json.Decoder(UnblockRequest).decode


def check_bearer(authorization: str | None, configured: str | None) -> tuple[int, str] | None:
    """None when the request may change state; else the status (401: no credentials,
    403: wrong ones, or no token configured at all) and the reason."""
    if not configured:
        return 403, f"the operator API is off: no operator token is configured ({TOKEN_VARIABLE})"
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return 401, "this endpoint needs an operator token: Authorization: Bearer <token>"
    if not hmac.compare_digest(token.strip().encode(), configured.encode()):
        return 403, "the operator token is wrong"
    return None


def required_text(value: str | None, field: str, limit: int) -> str:
    """The value stripped; refused (400, naming the field) when blank or longer than `limit`."""
    text = (value or "").strip()
    if not text:
        raise Refused(400, f"{field} is required - at `$.{field}`")
    if len(text) > limit:
        raise Refused(400, f"{field} is {len(text)} characters, over the limit of {limit} - at `$.{field}`")
    return text


def normalised_address(channel: str, address: str, normalise) -> str:
    if channel not in ("email", "sms"):
        raise Refused(400, f"channel must be email or sms, not {channel!r}")
    try:
        return normalise(channel, address)
    except InvalidAddress as exc:
        raise Refused(400, str(exc)) from None


def checked(event) -> bytes:
    """The event as the pipeline will read it, or Refused(400) when its own decoder would
    dead-letter it (e.g. over MAX_EVENT_BYTES)."""
    try:
        return checked_bytes(event)
    except InvalidEvent as exc:
        raise _refused_event(event, exc) from None


def _refused_event(event, exc: InvalidEvent) -> Refused:
    return Refused(400, f"the pipeline would refuse this {event.__struct_config__.tag} event: {exc}")


def unblock_event(channel: str, normalised: str, body: bytes, now: datetime | None = None,
                  event_id: str | None = None) -> tuple[Unblock, bytes]:
    """The unblock event a request body asks for, checked; raises Refused(400) naming the field."""
    try:
        request = _decode_unblock(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise Refused(400, f"the body must be a JSON object {{\"actor\": ..., \"note\": ...}}: {exc}") from None
    event = Unblock(event_id=event_id or f"unblock-{uuid.uuid4().hex[:16]}",
                    occurred_at=now or datetime.now(timezone.utc), channel=channel, address=normalised,
                    actor=required_text(request.actor, "actor", ACTOR_MAX_CHARS),
                    note=required_text(request.note, "note", NOTE_MAX_CHARS))
    return event, checked(event)


async def from_broker(awaitable, timeout: float = PUBLISH_TIMEOUT):
    """The result of a producer call (a send, or the acknowledgement it returned); any
    error of the producer or the broker, or no answer within `timeout`, is Refused(503)."""
    try:
        return await asyncio.wait_for(asyncio.shield(awaitable), timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # whatever the producer raises: the request failed, the worker did not
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        log.warning("operator API: the broker did not take an event: %s", reason)
        raise Refused(503, f"the broker did not take the event ({reason}); try again") from None


def answered(send: Send) -> Send:
    """`send`, with whatever the producer or the broker raises, or no answer within
    PUBLISH_TIMEOUT, a Refused(503): on sending, and on awaiting the acknowledgement."""
    async def send_or_refuse(topic: str, value: bytes, partition: int | None, headers: Headers | None):
        ack = await from_broker(send(topic, value, partition, headers))
        return asyncio.ensure_future(from_broker(ack))

    return send_or_refuse


async def read_body(content, limit: int = BODY_MAX_BYTES) -> bytes:
    """The request body, or Refused(413) once it passes `limit` bytes."""
    chunks, size = [], 0
    async for chunk in content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"the request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def install_operator_views(pipeline, reply) -> None:
    """`reply(web, obj, status, headers=None)` answers JSON."""
    app = pipeline.app
    inbound = pipeline.settings.topics.inbound
    publisher = InboundPublisher(answered(faust_send(app)), inbound, pipeline.router)

    def refused(web, request):
        problem = check_bearer(request.headers.get("Authorization"), pipeline.settings.operator_token)
        if problem is None:
            return None
        status, reason = problem
        headers = {"WWW-Authenticate": 'Bearer realm="bounceback"'} if status == 401 else None
        return reply(web, {"error": reason}, status, headers)

    async def mentioned(channel: str, address: str) -> bool:
        """Whether any event has mentioned the address, as the worker that owns it knows."""
        key = address_key(channel, address)
        try:
            owner = app.router.key_store(pipeline.addresses.name, key.encode())
        except Exception as exc:  # no assignment yet
            raise Refused(503, f"no worker holds {key} yet ({exc!r}); try again") from None
        here = app.conf.canonical_url
        if (owner.host, owner.port) == (here.host, here.port):
            entry = pipeline.lookup_address(key)
            return entry is not None and entry.state is not None
        url = owner.with_path(address_path(channel, address), encoded=True)
        try:
            async with app.http_client.get(url, headers={"Accept": "application/json"},
                                           timeout=aiohttp.ClientTimeout(total=OWNER_TIMEOUT)) as answer:
                status = answer.status
        except Exception as exc:
            raise Refused(503, f"the worker that holds {key} did not answer ({exc!r}); try again") from None
        if status in (200, 404):
            return status == 200
        raise Refused(503, f"the worker that holds {key} answered {status}; try again")

    class UnblockAddress(View):
        async def post(self, request, channel: str, address: str):
            denied = refused(self, request)
            if denied is not None:
                return denied
            try:
                normalised = normalised_address(channel, address, pipeline.normalise)
                key = address_key(channel, normalised)
                event, _ = unblock_event(channel, normalised, await read_body(request.content))
                if not await mentioned(channel, normalised):
                    raise Refused(404, f"no event has mentioned {key}: there is nothing to unblock")
                sends = publisher.window()
                try:
                    routed = await sends.publish(event)
                except InvalidEvent as exc:
                    raise _refused_event(event, exc) from None
                await sends.flush()
            except Refused as exc:
                return reply(self, {"error": exc.reason}, exc.status)
            return reply(self, {"event_id": event.event_id, "address": key,
                                "topic": inbound, "partition": routed.partitions[0]}, 202)

    class BounceListUpload(View):
        async def post(self, request):
            denied = refused(self, request)
            if denied is not None:
                return denied
            query = request.query
            list_name = query.get("list")
            channel = query.get("channel", "auto")
            source = query.get("source") or "upload"
            if list_name not in LISTS:
                return reply(self, {"error": f"list must be one of {', '.join(LISTS)} (query parameter `list`)"}, 400)
            if channel not in CHANNELS:
                return reply(self, {"error": f"channel must be one of {', '.join(CHANNELS)} (query parameter `channel`)"}, 400)
            if len(source) > SOURCE_MAX_CHARS:
                return reply(self, {"error": f"source is {len(source)} characters, over the limit of "
                                             f"{SOURCE_MAX_CHARS} (query parameter `source`)"}, 400)
            dry_run = query.get("dry_run", "") not in ("", "0", "false", "no")
            reader = BounceListReader(list_name, channel, source, datetime.now(timezone.utc),
                                      AddressNormaliser(pipeline.settings.policy.default_region, cache_limit=MEMO_LIMIT))
            invalid: list[dict] = []

            def keep(item: Invalid) -> None:
                if len(invalid) < INVALID_ROWS_SHOWN:
                    invalid.append({"line": item.line, "reason": item.reason})

            sends = None if dry_run else publisher.window()
            try:
                with tempfile.TemporaryFile() as spool:
                    # the body goes to disk first, so a large list never sits in the worker's memory
                    async for chunk in request.content.iter_chunked(1 << 16):
                        spool.write(chunk)
                    spool.seek(0)
                    try:
                        await import_rows(spool, reader, sends, keep)
                    except InvalidEvent as exc:
                        raise Refused(400, f"the pipeline would refuse this bounce_list event: {exc}") from None
            except Refused as exc:
                # entry ids derive from the entry itself: importing the list again applies each once
                sent = sends.acknowledged if sends is not None else 0
                return reply(self, {"error": f"{exc.reason} ({sent} entries were acknowledged before; "
                                             "importing the list again is safe)", "acknowledged": sent}, exc.status)
            summary = reader.summary.as_dict()
            return reply(self, {**summary, "list": list_name, "dry_run": dry_run, "topic": inbound,
                                "invalid_rows": invalid,
                                "invalid_rows_not_shown": max(0, summary["invalid"] - len(invalid))}, 200)

    app.page(UNBLOCK_ROUTE)(UnblockAddress)
    app.page(BOUNCE_LISTS_ROUTE)(BounceListUpload)
