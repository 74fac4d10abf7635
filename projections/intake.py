"""Normalisation of a decoded event (RULES.md §1), before it reaches any state.

An event with an address that does not normalise is rejected as a whole, with the
field named, so a contact is never stored with half of its addresses.
"""

from __future__ import annotations

from projections.normalise import AddressNormaliser, InvalidAddress
from schemas.events import Contact, Event, InvalidEvent, Tick


def normalise_event(event: Event, normalise: AddressNormaliser) -> Event:
    """Rewrite the event's addresses to their normalised form, or raise InvalidEvent."""
    kind = type(event)
    if kind is Tick:
        return event
    if kind is Contact:
        event.emails = _normalise_all(normalise, "email", event.emails, "emails")
        event.phones = _normalise_all(normalise, "sms", event.phones, "phones")
        return event
    # the common case, an address seen before, without a call
    hit = normalise.cache[event.channel].get(event.address)
    if type(hit) is str:
        event.address = hit
        return event
    try:
        event.address = normalise(event.channel, event.address)
    except InvalidAddress as exc:
        raise InvalidEvent(f"{exc} - at `$.address`") from None
    return event


def _normalise_all(normalise: AddressNormaliser, channel: str, values: list[str], field: str) -> list[str]:
    out = []
    for i, value in enumerate(values):
        try:
            out.append(normalise(channel, value))
        except InvalidAddress as exc:
            raise InvalidEvent(f"{exc} - at `$.{field}[{i}]`") from None
    return out
