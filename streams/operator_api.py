"""The operator API on every worker: the state-changing endpoints, behind a bearer token.

- `POST /addresses/{channel}/{address}/unblock`, JSON body `{"actor": ..., "note": ...}`:
  a manual unblock (RULES.md §4), recorded with who did it and why.
- `POST /bounce-lists?list=bounced|unsubscribed[&channel=email|sms|auto][&source=NAME][&dry_run=1]`,
  the CSV file as the body: the same import as `bounceback import-bounce-list`.

Neither changes state itself: each publishes contract events to the inbound topic, to the
partition that owns the address, and answers once the broker has them. The pipeline then
applies them like any other event, and a replay of the log sees them too. Any worker can
take these requests: no routing to the owner is needed.
"""

from __future__ import annotations

import asyncio
import hmac
import tempfile
import uuid
from datetime import datetime, timezone

import msgspec

from projections.bounce_list import CHANNELS, LISTS, BounceListReader, Entry, Invalid
from projections.normalize import AddressNormalizer, InvalidAddress
from schemas.events import Unblock, encode_event
from streams.urls import BOUNCE_LISTS_ROUTE, UNBLOCK_ROUTE

SEND_WINDOW = 1000
INVALID_ROWS_SHOWN = 1000
TOKEN_VARIABLE = "BOUNCEBACK_OPERATOR_TOKEN"
_encode = msgspec.json.Encoder().encode


class UnblockRequest(msgspec.Struct, forbid_unknown_fields=False):
    actor: str
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


def install_operator_views(pipeline, reply) -> None:
    """`reply(web, obj, status, headers=None)` answers JSON."""
    app = pipeline.app
    inbound = pipeline.settings.topics.inbound

    def refused(web, request):
        problem = check_bearer(request.headers.get("Authorization"), pipeline.settings.operator_token)
        if problem is None:
            return None
        status, reason = problem
        headers = {"WWW-Authenticate": 'Bearer realm="bounceback"'} if status == 401 else None
        return reply(web, {"error": reason}, status, headers)

    async def send(event):
        """Put the event on the inbound partition of its address, outside any transaction
        (as Pipeline.publish_inbound does), without waiting: returns (ack, partition)."""
        partition = pipeline.partition(f"{event.channel}:{event.address}")
        producer = app.producer
        await producer.maybe_start()
        return await producer.send(inbound, None, encode_event(event), partition, None, None), partition

    from faust.web import View

    class UnblockAddress(View):
        async def post(self, request, channel: str, address: str):
            denied = refused(self, request)
            if denied is not None:
                return denied
            if channel not in ("email", "sms"):
                return reply(self, {"error": f"channel must be email or sms, not {channel!r}"}, 400)
            try:
                normalised = pipeline.normalise(channel, address)
            except InvalidAddress as exc:
                return reply(self, {"error": str(exc)}, 400)
            try:
                body = _decode_unblock(await request.read())
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                return reply(self, {"error": f"the body must be JSON {{\"actor\": ..., \"note\": ...}}: {exc}"}, 400)
            if not body.actor.strip():
                return reply(self, {"error": "actor must name who unblocks - at `$.actor`"}, 400)
            event = Unblock(event_id=f"unblock-{uuid.uuid4().hex[:16]}", occurred_at=datetime.now(timezone.utc),
                            channel=channel, address=normalised, actor=body.actor.strip(),
                            note=(body.note or "").strip() or None)
            ack, partition = await send(event)
            await ack
            return reply(self, {"event_id": event.event_id, "address": f"{channel}:{normalised}",
                                "topic": inbound, "partition": partition}, 202)

    class BounceListUpload(View):
        async def post(self, request):
            denied = refused(self, request)
            if denied is not None:
                return denied
            query = request.query
            list_name = query.get("list")
            channel = query.get("channel", "auto")
            if list_name not in LISTS:
                return reply(self, {"error": f"list must be one of {', '.join(LISTS)} (query parameter `list`)"}, 400)
            if channel not in CHANNELS:
                return reply(self, {"error": f"channel must be one of {', '.join(CHANNELS)} (query parameter `channel`)"}, 400)
            dry_run = query.get("dry_run", "") not in ("", "0", "false", "no")
            reader = BounceListReader(list_name, channel, query.get("source") or "upload",
                                      datetime.now(timezone.utc),
                                      AddressNormalizer(pipeline.settings.policy.default_region, cache_limit=4096))
            from bounceback.bounce_import import file_lines

            invalid: list[dict] = []
            with tempfile.TemporaryFile() as spool:
                # the body goes to disk first, so a large list never sits in the worker's memory
                async for chunk in request.content.iter_chunked(1 << 16):
                    spool.write(chunk)
                spool.seek(0)
                pending = []
                for n, item in enumerate(reader.read(file_lines(spool)), 1):
                    kind = type(item)
                    if kind is Entry and not dry_run:
                        pending.append((await send(item.event))[0])
                    elif kind is Invalid and len(invalid) < INVALID_ROWS_SHOWN:
                        invalid.append({"line": item.line, "reason": item.reason})
                    if len(pending) >= SEND_WINDOW:
                        await asyncio.gather(*pending)
                        pending.clear()
                    elif n % 1000 == 0:
                        await asyncio.sleep(0)  # let the worker's other tasks run
                await asyncio.gather(*pending)
            summary = reader.summary.as_dict()
            return reply(self, {**summary, "list": list_name, "dry_run": dry_run, "topic": inbound,
                                "invalid_rows": invalid,
                                "invalid_rows_not_shown": max(0, summary["invalid"] - len(invalid))}, 200)

    app.page(UNBLOCK_ROUTE)(UnblockAddress)
    app.page(BOUNCE_LISTS_ROUTE)(BounceListUpload)
