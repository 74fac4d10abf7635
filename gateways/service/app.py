"""`bounceback gateway`: the HTTP service in front of the adapters (gateways/).

Each request is handled in three steps: read the body (over the limit: 413), check its
signature or credentials (401 without one, 403 with a wrong or malformed one, a stale
timestamp or a reused Mailgun token: gateways/webhook_auth.py), turn it into canonical
events and normalise every address. A body that is not the provider's format at all is
refused 400 and nothing is published. Otherwise the good events are published to the
inbound topic by the one publisher (ingress/), each to the partition that owns its
address, and every event or item that cannot be used (a malformed address, an unknown
event in a batch) goes to the dead-letter topic with its reason, the shape the worker
uses; the answer is 200 with both counts, so a provider does not resend a whole batch
for days over one bad event. A broker failure answers 503 so the provider retries; the
event ids are derived from the provider's own ids, so what a retry publishes twice is
applied once.

Every adapter gives a gateways/batch.Batch (a list of events becomes one report per
event); batches.py publishes, dead-letters and answers it, the same way for every
route.

Routes: POST /webhooks/ses, /webhooks/sendgrid, /webhooks/mailgun, /webhooks/postmark,
/webhooks/twilio, /events (the contract itself), /mail (one RFC 822 bounce mail); the
SMS routes of sms.py (/sms/receipts, /webhooks/sinch, /webhooks/vonage,
/webhooks/infobip); GET /health, GET /metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import msgspec
from aiohttp import ClientError, ClientSession, ClientTimeout, web

from gateways.service.batches import deliver
from gateways.service.metrics import GatewayMetrics
from gateways.service.sms import SmsRoutes
from gateways import canonical, mail, mailgun, postmark, sendgrid, ses, sns, twilio
from gateways.batch import Batch
from gateways.classify import Classifier
from gateways.common import Rejected, bad, json_object
from gateways.config import GatewayConfig
from gateways.webhook_auth import SingleUseTokens, Window, check_bearer
from ingress.publisher import InboundPublisher

log = logging.getLogger("bounceback.gateway")

Fetch = Callable[[str], Awaitable[int]]  # GET a URL, answer its HTTP status
_RELEASES = web.RequestKey("releases", list)  # what to undo if the request is refused after all


def _json(obj, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(obj), status=status, content_type="application/json")


@web.middleware
async def _release_when_refused(request: web.Request, handler) -> web.StreamResponse:
    """A Mailgun token is claimed before the events are published; if the request ends
    refused after all (400, 503), nothing was published, so the provider's retry with
    the same token must pass: the claim is released."""
    accepted = False
    try:
        response = await handler(request)
        accepted = response.status < 300
        return response
    finally:
        if not accepted:
            for release in request.get(_RELEASES, ()):
                release()


async def _get_status(url: str) -> int:
    async with ClientSession(timeout=ClientTimeout(total=10)) as session:
        async with session.get(url) as response:
            return response.status


class Gateway(SmsRoutes):
    def __init__(self, config: GatewayConfig, publisher: InboundPublisher, classifier: Classifier | None = None,
                 clock: Callable[[], datetime] | None = None, fetch: Fetch | None = None) -> None:
        self.config = config
        self.publisher = publisher
        self.normalise = publisher.router.normalise
        self.classifier = classifier or Classifier(override=config.rules)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.fetch = fetch or _get_status
        self.sns_window = Window(config.ses.window_seconds, "ses.window_seconds")
        self.sendgrid_window = Window(config.sendgrid.window_seconds, "sendgrid.window_seconds")
        self.mailgun_window = Window(config.mailgun.window_seconds, "mailgun.window_seconds")
        self.mailgun_tokens = SingleUseTokens(config.mailgun.max_tokens, self.clock, "mailgun.max_tokens")
        self.trust = sns.TrustStore(config.ses.trust) if config.ses.trust else None
        self.sendgrid_key = sendgrid.load_key(config.sendgrid.public_key) if config.sendgrid.public_key else None
        self.confirmations: list[str] = []  # SubscribeURLs seen, newest last (shown in the log too)
        self.metrics = GatewayMetrics()

    def unprotected(self) -> list[str]:
        c = self.config
        checks = {"/webhooks/ses": self.trust, "/webhooks/sendgrid": self.sendgrid_key,
                  "/webhooks/mailgun": c.mailgun.signing_key,
                  "/webhooks/postmark": c.postmark.username or c.postmark.header_name,
                  "/webhooks/twilio": c.twilio.auth_token, "/events": c.canonical.token, "/mail": c.mail.token}
        checks.update({route: secret for route, (_, secret) in self.sms_routes().items()})
        return [route for route, secret in checks.items() if not secret]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_body_bytes, middlewares=[_release_when_refused])
        handlers = {"/webhooks/ses": self._ses, "/webhooks/sendgrid": self._sendgrid,
                    "/webhooks/mailgun": self._mailgun, "/webhooks/postmark": self._postmark,
                    "/webhooks/twilio": self._twilio, "/events": self._canonical, "/mail": self._mail}
        handlers.update({route: handler for route, (handler, _) in self.sms_routes().items()})
        for path, handler in handlers.items():
            app.router.add_post(path, self._handle(handler))
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        return app

    def _handle(self, adapter):
        async def handler(request: web.Request) -> web.Response:
            limit = self.config.max_body_bytes
            if request.content_length is not None and request.content_length > limit:
                return _json({"error": f"body of {request.content_length} bytes is over the limit of {limit}"}, 413)
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return _json({"error": f"body is over the limit of {limit} bytes"}, 413)
            try:
                result = await adapter(request, body)
                if isinstance(result, web.Response):
                    return result
                batch = result if isinstance(result, Batch) else Batch.of(list(result), body)
            except Rejected as exc:
                log.info("%s %s: %s %s", request.method, request.path, exc.status, exc.reason)
                self.metrics.refused.labels(route=request.path, status=str(exc.status)).inc()
                return _json({"error": exc.reason}, exc.status)
            except Exception:  # an input no adapter foresaw: still the input's fault, never a 500
                # the exception's text stays in the log: it may quote secrets or internals
                log.exception("%s %s: could not interpret the request", request.method, request.path)
                self.metrics.refused.labels(route=request.path, status="400").inc()
                return _json({"error": "could not interpret the request (the gateway's log has the details)"}, 400)
            status, answer = await deliver(request.path, batch, self.publisher, self.metrics)
            return _json(answer, status)

        return handler

    async def _health(self, request: web.Request) -> web.Response:
        return _json({"ok": True})

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = self.metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    # -- the providers ---------------------------------------------------------------------

    async def _ses(self, request: web.Request, body: bytes):
        if "Type" not in json_object(body, "an SNS message"):
            # raw message delivery: the SES record without the SNS envelope, so without a signature
            if self.trust is not None:
                raise Rejected(401, "not an SNS message (no `Type`): raw delivery carries no signature")
            return ses.events(body, self.classifier)
        env = sns.parse(body)
        if self.trust is not None:
            sns.verify(env, self.trust, self.clock(), self.sns_window)
        allowed = self.config.ses.topic_arns
        if allowed and env.TopicArn not in allowed:
            raise Rejected(403, f"TopicArn {env.TopicArn!r} is not one of the configured topic_arns")
        if env.type_ == "Notification":
            return ses.events(env.Message, self.classifier)
        if env.type_ == "SubscriptionConfirmation":
            return await self._subscription(env)
        log.info("SNS %s for %s", env.type_, env.TopicArn)
        return _json({"published": 0, "sns": env.type_})

    async def _subscription(self, env: sns.Envelope) -> web.Response:
        url = env.SubscribeURL or ""
        self.confirmations.append(url)
        verified = self.trust is not None
        if self.config.ses.confirm_subscriptions and verified and sns.confirmable(url):
            try:
                status = await self.fetch(url)
            except (OSError, ClientError, asyncio.TimeoutError) as exc:
                raise Rejected(502, f"could not reach the SubscribeURL: {type(exc).__name__}") from None
            if status != 200:
                raise Rejected(502, f"SNS answered {status} to the SubscribeURL")
            log.info("SNS subscription to %s confirmed", env.TopicArn)
            return _json({"published": 0, "subscription": "confirmed"})
        why = ("confirm_subscriptions is off" if not self.config.ses.confirm_subscriptions
               else "the message is not verified (no ses.trust)" if not verified
               else "the SubscribeURL is not https://sns.<region>.amazonaws.com on port 443")
        log.warning("SNS subscription to %s not confirmed (%s): visit %s to confirm it", env.TopicArn, why, url)
        return _json({"published": 0, "subscription": "logged", "why": why})

    async def _sendgrid(self, request: web.Request, body: bytes):
        if self.sendgrid_key is not None:
            sendgrid.verify(body, request.headers, self.sendgrid_key, self.clock(), self.sendgrid_window)
        return sendgrid.events(body, self.classifier)

    async def _mailgun(self, request: web.Request, body: bytes):
        hook = mailgun.parse(body)
        if self.config.mailgun.signing_key:
            token, signed_at = mailgun.verify(hook, self.config.mailgun.signing_key, self.clock(), self.mailgun_window)
            release = self.mailgun_tokens.claim(token, self.mailgun_window.closes(signed_at))
            request.setdefault(_RELEASES, []).append(release)
        return mailgun.events(hook, self.classifier)

    async def _postmark(self, request: web.Request, body: bytes):
        c = self.config.postmark
        header = (c.header_name, c.header_value) if c.header_name and c.header_value is not None else None
        postmark.verify(request.headers, c.username, c.password, header)
        return postmark.events(body, self.classifier)

    async def _twilio(self, request: web.Request, body: bytes):
        try:
            params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError) as exc:
            raise bad(f"not a form-encoded body: {exc}") from None
        if self.config.twilio.auth_token:
            url = self.config.twilio.url or str(request.url)
            twilio.verify(url, params, request.headers, self.config.twilio.auth_token)
        return twilio.events(params, self.classifier, self.clock())

    async def _canonical(self, request: web.Request, body: bytes):
        check_bearer(request.headers, self.config.canonical.token)
        return canonical.events(body)

    async def _mail(self, request: web.Request, body: bytes):
        check_bearer(request.headers, self.config.mail.token)
        result = mail.ingest(body, self.classifier, self.normalise, arrived=self.clock())
        if result.skipped:
            log.info("mail skipped as %s: %s", result.skipped, result.note)
            self.metrics.mail_skipped.labels(skipped_as=result.skipped).inc()
        for skipped in result.skipped_recipients:
            log.info("mail recipient skipped: %s: %s", skipped.recipient, skipped.reason)
        self.metrics.mail_recipients_skipped.inc(len(result.skipped_recipients))
        self.metrics.mail.labels(kind=result.kind).inc()
        return Batch.of(result.events, body, result.answer())


async def serve(gateway: Gateway, host: str, port: int, on_ready: Callable[[], None] | None = None) -> None:
    runner = web.AppRunner(gateway.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    if on_ready is not None:
        on_ready()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
