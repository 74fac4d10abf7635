"""What the SMS adapters share: a carrier or gateway error code classified by the rules
table into an SMS status, the number as the gateways write it, and the sender's own ids
carried in a gateway's client reference.

A failed SMS report's verdict comes from its error code alone (the rules' texts are SMTP
diagnostics). A code no rule knows gives the caller's default (`undelivered`: the message
could not be delivered, reason unknown). A rule written for email (`deferred`,
`complained`) says nothing about an SMS: it gives `undelivered` too.
"""

from __future__ import annotations

import re

import msgspec

from gateways.classify import Classifier, Verdict

SMS_OUTCOMES = frozenset(("soft_bounce", "hard_bounce", "undelivered", "validity_expired", "unsubscribe", "ignore"))
_DIGITS = re.compile(r"\d+")


def code_key(code: str) -> str:
    """The form a code takes in rules.toml: decimal codes without leading zeros
    (`err:001` and a TLV's 0x0001 are both "1"), anything else as written."""
    code = code.strip()
    return str(int(code)) if _DIGITS.fullmatch(code) else code


def classify_code(classifier: Classifier, tables: list[tuple[str, str | None]], default: str = "undelivered") -> Verdict:
    """`tables` are (provider, code) pairs, most specific first: the first table whose rules
    know its code decides (a user's rules before the shipped ones, as always). The verdict
    keeps the first code as the report wrote it."""
    tables = [(provider, code.strip()) for provider, code in tables if code and code.strip()]
    shown = tables[0][1] if tables else None
    for provider, code in tables:
        verdict = classifier.classify(provider, (code_key(code),), default=default)
        if verdict.rule is not None:
            status = verdict.status if verdict.status in SMS_OUTCOMES else "undelivered"
            return Verdict(status, shown, verdict.reason, verdict.rule)
    return Verdict(default, shown, None, None)


def international(number: str) -> str:
    """Gateways write numbers in international format without the `+` (`46701234567`):
    read in a default region they would be taken for national numbers."""
    number = number.strip()
    return "+" + number if _DIGITS.fullmatch(number) else number


def reference_meta(reference: str | None) -> dict | None:
    """The sender's `message_id`, `contact_id`, `sendout_id`, put as a JSON object in the
    gateway's client reference at send time (Sinch `client_reference`, Vonage `client-ref`,
    Infobip `callbackData`). Any other reference is the sender's own business: ignored."""
    if not reference or not reference.lstrip().startswith("{"):
        return None
    try:
        meta = msgspec.json.decode(reference)
    except msgspec.DecodeError:
        return None
    return meta if isinstance(meta, dict) else None
