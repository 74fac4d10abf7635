"""What the providers' authentication checks share: comparing a credential from the request
with the configured one in constant time without ever raising on malformed bytes; the
credentials a provider sends instead of a signature (HTTP Basic credentials in the
webhook URL and/or a custom header with a secret: Postmark, Infobip, Sinch's Basic
option) and the bearer token of bounceback's own routes (/events, /mail, /sms/receipts);
reading a signed timestamp, refusing one outside the freshness window, and the cache
that lets a Mailgun token be used once.

A signature proves who made a request, not when it was sent: a request captured from a
log or a proxy verifies forever. The signed timestamp bounds how long a captured request
can be replayed (the window); a single-use token (Mailgun's, whose signature covers only
`timestamp + token`, not the event) stops it being replayed within the window.

A missing credential is a `Rejected` with 401; every other refusal is a 403 (the
credential is there but not acceptable; unreadable Basic credentials stay 401), and only
the 503 of a full token cache asks the provider to retry.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from cachetools import TLRUCache

from gateways.common import Rejected, from_iso

_UTC = timezone.utc
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() would also take "١٢" or " 12 "


def credential_bytes(value: object) -> bytes | None:
    """The bytes a client sent: aiohttp decodes header bytes that are not UTF-8 as lone
    surrogates (surrogateescape), which `str.encode()` refuses; None for a non-string."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        return None
    return value.encode("utf-8", "surrogateescape")


def same_secret(got: object, expected: str | bytes) -> bool:
    """Constant-time comparison of a credential from the request with the configured one;
    a value of the wrong type or with malformed bytes is simply not equal."""
    raw = credential_bytes(got)
    want = expected if isinstance(expected, bytes) else expected.encode("utf-8")
    return raw is not None and hmac.compare_digest(raw, want)


def check_credentials(headers, username: str | None, password: str | None, header: tuple[str, str] | None,
                      where: str = "the webhook URL") -> None:
    """HTTP Basic credentials and/or a header with a secret value, each when configured:
    401 when missing, 403 when wrong; `where` says where the provider is given the Basic
    credentials."""
    if username is not None:
        scheme, _, value = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic" or not value:
            raise Rejected(401, f"HTTP Basic credentials are required (put them in {where})")
        try:
            user, _, pw = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, ValueError):  # not base64, not ASCII, not UTF-8
            raise Rejected(401, "Authorization: not valid Basic credentials") from None
        if not same_secret(user, username) & same_secret(pw, password or ""):
            raise Rejected(403, "wrong Basic credentials")
    if header is not None:
        name, expected = header
        got = headers.get(name)
        if got is None:
            raise Rejected(401, f"the header {name} is required")
        if not same_secret(got, expected):
            raise Rejected(403, f"wrong value of the header {name}")


def check_bearer(headers, token: str | None) -> None:
    """`Authorization: Bearer <token>` when a token is configured."""
    if token is None:
        return
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise Rejected(401, "`Authorization: Bearer <token>` is required")
    if not same_secret(value.strip(), token):
        raise Rejected(403, "wrong bearer token")


def unix_seconds(value: object, field: str) -> datetime:
    """A signed Unix timestamp (whole seconds, as Mailgun and SendGrid write it)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12:
        return datetime.fromtimestamp(value, _UTC)
    if isinstance(value, str) and _UNIX_SECONDS.fullmatch(value):
        return datetime.fromtimestamp(int(value), _UTC)
    raise Rejected(403, f"{field}: {_shown(value)} is not a Unix timestamp in seconds")


def iso_time(value: str, field: str) -> datetime:
    """A signed RFC 3339 timestamp (SNS `Timestamp`)."""
    try:
        return from_iso(value, field)
    except Rejected as exc:
        raise Rejected(403, exc.reason) from None


def _shown(value: object) -> str:
    """A refused value as it may be echoed to the client: short, and printable ASCII."""
    text = ascii(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Window:
    """How far a signed timestamp may be from the gateway's clock, before or after it
    (after: the sender's clock may run ahead of ours)."""

    def __init__(self, seconds: int, setting: str) -> None:
        self.span = timedelta(seconds=seconds)
        self.setting = setting  # the configuration key, named in a refusal so an operator knows what to change

    def check(self, signed_at: datetime, now: datetime, field: str) -> None:
        off = (now - signed_at).total_seconds()
        if abs(off) > self.span.total_seconds():
            when = f"{off:.0f} s before" if off > 0 else f"{-off:.0f} s after"
            raise Rejected(403, f"{field} is {when} the gateway's clock, outside the window of "
                                f"{self.span.total_seconds():.0f} s ({self.setting}): a stale or replayed request")

    def closes(self, signed_at: datetime) -> datetime:
        """When a request signed at `signed_at` stops being fresh."""
        return signed_at + self.span


class SingleUseTokens:
    """Tokens seen within the window, in this process. A token is kept until the timestamp
    signed with it leaves the window (after that the window refuses it anyway), so the
    cache holds at most the tokens of one window; past `max_tokens` new requests are
    answered 503 (the provider retries) rather than forgetting a token early."""

    def __init__(self, max_tokens: int, clock: Callable[[], datetime], setting: str) -> None:
        self.max_tokens = max_tokens
        self.setting = setting
        # the value is the token's expiry (Unix seconds); the timer is the gateway's clock
        self._seen: TLRUCache = TLRUCache(maxsize=max_tokens, ttu=lambda _token, until, _now: until,
                                          timer=lambda: clock().timestamp())

    def claim(self, token: str, until: datetime) -> Callable[[], None]:
        """Mark `token` used until `until`; refuse it if it was used already. Returns the
        release to call when the request is refused later on (nothing was published, so
        the provider's retry with the same token must pass)."""
        if token in self._seen:
            raise Rejected(403, "this token was already used: a replayed request")
        self._seen.expire()
        if len(self._seen) >= self.max_tokens:
            raise Rejected(503, f"more than {self.max_tokens} tokens within the window ({self.setting}): retry later")
        self._seen[token] = until.timestamp()
        return lambda: self._seen.pop(token, None)

    def __len__(self) -> int:
        self._seen.expire()
        return len(self._seen)
