"""RULES.md §1: an address is (channel, normalised value); invalid values never reach the state.

Email: stripped, lower-cased, syntax checked by email-validator (no DNS).
SMS: E.164 by phonenumbers, numbers without a country code read in a default region; a
value with anything in it but a number is invalid (projections/phone.py).
Results are memoised because a log mentions the same address many times.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from email_validator import EmailNotValidError, validate_email

from projections.phone import InvalidPhoneNumber, PhoneNumbers

# A conservative subset of what email-validator accepts (plain ASCII dot-atom at a
# hostname with an alphabetic top-level domain), checked by a property test to never
# accept what email-validator rejects. It only skips the slow path for ordinary addresses.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_RESERVED_SUFFIXES = ("arpa", "invalid", "local", "localhost", "onion")
_CACHE_LIMIT = 1_000_000


class InvalidAddress(ValueError):
    """The value is not a usable address; the message says why."""


def _email(raw: str) -> str:
    value = raw.strip().lower()
    if (
        len(value) <= 254
        and _PLAIN_EMAIL.fullmatch(value)
        and len(value.partition("@")[0]) <= 64
        and value.rpartition(".")[2] not in _RESERVED_SUFFIXES
        and "--" not in value  # "ab--" labels are reserved for IDNA: email-validator decides
    ):
        return value
    try:
        # test_environment allows the `.test` domain that test data uses; the other
        # special-use names (localhost, invalid, ...) stay rejected as unmailable.
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"invalid email {raw!r}: {exc}") from None
    return value


class AddressNormaliser:
    """Normalises (channel, raw value) pairs; raises InvalidAddress with the reason."""

    def __init__(self, default_region: str = "SE", cache_limit: int = _CACHE_LIMIT) -> None:
        self.default_region = default_region.upper()
        self.phones = PhoneNumbers(self.default_region)
        self.cache_limit = cache_limit
        # per channel: raw value -> normalised value, or the error it raised
        self.cache: dict[str, dict[str, str | InvalidAddress]] = {"email": {}, "sms": {}}

    def __call__(self, channel: str, raw: str) -> str:
        cache = self.cache[channel]
        hit = cache.get(raw)
        if hit is None:
            try:
                hit = _email(raw) if channel == "email" else self._phone(raw)
            except InvalidAddress as exc:
                hit = exc
            if len(cache) >= self.cache_limit:
                cache.clear()
            cache[raw] = hit
        if type(hit) is str:
            return hit
        raise hit

    def of_channel(self, channel: str) -> Callable[[str], str]:
        """The same answer for one channel without the memo: for values mostly seen once (an
        audience), where filling the memo costs more than it saves; one call per value."""
        return _email if channel == "email" else self._phone

    def _phone(self, raw: str) -> str:
        try:
            return self.phones(raw)
        except InvalidPhoneNumber as exc:
            raise InvalidAddress(f"invalid phone number {raw!r}: {exc}") from None


def address_key(channel: str, address: str) -> str:
    """The key of an address on the suppression topic and in every table: `channel:address`."""
    return f"{channel}:{address}"


def split_key(key: str) -> tuple[str, str]:
    channel, _, address = key.partition(":")
    return channel, address
