"""The SMS routes of `bounceback gateway`: SMPP delivery receipts and the Sinch, Vonage and
Infobip delivery report webhooks (Twilio's is in app.py). Each checks the request's
credentials, then reads every report of it on its own (gateways/batch.py): the gateway
publishes the good ones and dead-letters the others.

Mixed into `Gateway`, whose `config`, `classifier` and `clock` it uses.
"""

from __future__ import annotations

from functools import cached_property
from zoneinfo import ZoneInfo

from aiohttp import web

from gateways import infobip, sinch, smpp, vonage
from gateways.batch import Batch
from gateways.webhook_auth import Window, check_bearer, check_credentials


class SmsRoutes:
    def sms_routes(self) -> dict[str, tuple]:
        """route -> (handler, the secret that protects it, or None)."""
        c = self.config
        return {
            "/sms/receipts": (self._receipts, c.smpp.token),
            "/webhooks/sinch": (self._sinch, c.sinch.secret or c.sinch.username),
            "/webhooks/vonage": (self._vonage, c.vonage.signature_secret),
            "/webhooks/infobip": (self._infobip, c.infobip.username or c.infobip.header_name),
        }

    @cached_property
    def receipt_reader(self) -> smpp.Reader:
        return smpp.Reader(self.classifier, self.config.smpp.err_codes, ZoneInfo(self.config.smpp.timezone))

    @cached_property
    def sinch_window(self) -> Window:
        return Window(self.config.sinch.window_seconds, "sinch.window_seconds")

    @cached_property
    def vonage_window(self) -> Window:
        return Window(self.config.vonage.window_seconds, "vonage.window_seconds")

    async def _receipts(self, request: web.Request, body: bytes) -> Batch:
        check_bearer(request.headers, self.config.smpp.token)
        return smpp.read(body, self.receipt_reader, self.clock())

    async def _sinch(self, request: web.Request, body: bytes) -> Batch:
        c = self.config.sinch
        if c.username is not None:
            check_credentials(request.headers, c.username, c.password, None, where="the Sinch callback URL")
        if c.secret:
            sinch.verify(body, request.headers, c.secret, self.clock(), self.sinch_window)
        return sinch.read(body, self.classifier, self.clock())

    async def _vonage(self, request: web.Request, body: bytes) -> Batch:
        c = self.config.vonage
        fields = vonage.params(body, request.content_type)
        if c.signature_secret:
            vonage.verify(fields, c.signature_secret, c.signature_method, self.clock(), self.vonage_window)
        return vonage.read(fields, body, self.classifier, self.clock())

    async def _infobip(self, request: web.Request, body: bytes) -> Batch:
        c = self.config.infobip
        header = (c.header_name, c.header_value) if c.header_name and c.header_value is not None else None
        check_credentials(request.headers, c.username, c.password, header, where="the Infobip webhook settings")
        return infobip.read(body, self.classifier, self.clock())
