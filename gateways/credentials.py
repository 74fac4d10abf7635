"""Credentials a provider sends instead of a signature: HTTP Basic credentials (in the
webhook URL, `https://user:password@host/...`) and/or a custom header with a secret value.
Postmark and Infobip document these; Sinch offers Basic credentials besides signing. And the
bearer token of the routes that take bounceback's own formats."""

from __future__ import annotations

import base64
import binascii
from gateways.common import Rejected
from gateways.webhook_auth import same_secret


def check(headers, username: str | None, password: str | None, header: tuple[str, str] | None,
          where: str = "the webhook URL") -> None:
    """401 when a configured credential is missing, 403 when it is wrong; `where` says
    where the provider is given the Basic credentials."""
    if username is not None:
        auth = headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "basic" or not value:
            raise Rejected(401, f"HTTP Basic credentials are required (put them in {where})")
        try:
            user, _, pw = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, ValueError):
            raise Rejected(401, "Authorization: not valid Basic credentials") from None
        ok = same_secret(user, username) & same_secret(pw, password or "")
        if not ok:
            raise Rejected(403, "wrong Basic credentials")
    if header is not None:
        name, expected = header
        got = headers.get(name)
        if got is None:
            raise Rejected(401, f"the header {name} is required")
        if not same_secret(got, expected):
            raise Rejected(403, f"wrong value of the header {name}")


def bearer(headers, token: str | None) -> None:
    """`Authorization: Bearer <token>` when a token is configured."""
    if token is None:
        return
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise Rejected(401, "`Authorization: Bearer <token>` is required")
    if not same_secret(value.strip(), token):
        raise Rejected(403, "wrong bearer token")
