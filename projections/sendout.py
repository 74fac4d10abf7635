"""RULES.md §5, send-outs: which audience rows get a message, as a pure fold (no I/O).

Rows are taken in audience order. Each row ends in exactly one outcome, decided in this
order: `invalid` (no contact id, or an address that does not normalise), `suppressed`
(the address has a reason that excludes it for the send-out's purpose), `duplicate` (an
earlier row already took the normalised address), `control_group` (drawn), `send`.
So the audience count is the sum of the five counts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

import msgspec

from projections.normalise import AddressNormaliser, InvalidAddress, address_key
from schemas.events import Delivery, encode_event

PURPOSES = ("marketing", "transactional")
# RULES.md §4 "state": the reasons that block an address. The others (`unsubscribed`,
# `complaint`) are the recipient's opt-out, which a transactional send-out may pass over.
BLOCKING_REASONS = frozenset(("hard_bounce", "soft_bounce_limit", "bounce_list"))

OUTCOMES = ("invalid", "suppressed", "duplicate", "control_group", "send")


def excluding_reasons(reasons: list[str], purpose: str) -> list[str]:
    """The reasons of an address that keep it out of a send-out of this purpose: all of them
    for marketing, only the blocking ones for transactional."""
    if purpose == "marketing":
        return list(reasons)
    if purpose == "transactional":
        return [r for r in reasons if r in BLOCKING_REASONS]
    raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}, not {purpose!r}")


def control_threshold(percent: float) -> int:
    """The draw value below which a contact is in the control group (a 64-bit hash)."""
    if not 0 <= percent <= 100:
        raise ValueError(f"control group percent must be between 0 and 100, not {percent}")
    return round(percent / 100 * 2**64)


def control_draw(sendout_id: str, contact_id: str) -> int:
    """A contact's draw for a send-out: a hash, so the same send-out id draws the same
    contacts on every run and on every machine (no random state)."""
    digest = hashlib.blake2b(f"{sendout_id}\x00{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def in_control_group(sendout_id: str, contact_id: str, percent: float) -> bool:
    return control_draw(sendout_id, contact_id) < control_threshold(percent)


def check_sendout_id(sendout_id: str) -> str:
    """The send-out id, or ValueError: message ids, event ids and the control-group draw
    derive from it, so an empty one, or one that differs from another only by white space,
    would make ids nobody can tell apart."""
    if not sendout_id:
        raise ValueError("the send-out id must not be empty")
    if not sendout_id.strip():
        raise ValueError(f"the send-out id {sendout_id!r} is blank")
    if sendout_id != sendout_id.strip():
        raise ValueError(f"the send-out id {sendout_id!r} has white space around it")
    if not sendout_id.isprintable():
        raise ValueError(f"the send-out id {sendout_id!r} has a control character")
    return sendout_id


def message_id(sendout_id: str, contact_id: str, address: str) -> str:
    """The id of the message of a send-out to one address of one contact (RULES.md §2: one
    message goes to one address). A contact listed with two addresses gets two messages.
    The hash of all three parts keeps the id short whatever the address, and tells apart
    ids whose readable parts run together (`a:b` + `c`, `a` + `b:c`)."""
    digest = hashlib.blake2b(f"{sendout_id}\x00{contact_id}\x00{address}".encode(), digest_size=8).hexdigest()
    return f"{sendout_id}:{contact_id}:{digest}"


def sendout_event(sendout_id: str, channel: str, address: str, contact_id: str, status: str,
                  occurred_at: datetime) -> Delivery:
    """A contract `delivery` event for a planned message. Its event id depends only on the
    send-out, the contact, the address and the status, so planning the same send-out again
    publishes events the pipeline recognises as already applied."""
    mid = message_id(sendout_id, contact_id, address)
    return Delivery(event_id=f"{mid}:{status}", occurred_at=occurred_at, channel=channel, address=address,
                    message_id=mid, status=status, sendout_id=sendout_id, contact_id=contact_id)


class Row(msgspec.Struct, array_like=True):
    """The outcome of one audience row. `address` is normalised unless the row is invalid;
    `detail` is the error, the excluding reasons, or the line that took the address;
    `message_id` is set for the rows that get a message (send, control_group)."""
    line: int
    contact_id: str
    address: str
    outcome: str
    detail: str
    message_id: str = ""


class Summary(msgspec.Struct):
    sendout_id: str
    channel: str
    purpose: str
    control_group_percent: float
    audience: int = 0
    invalid: int = 0
    suppressed: int = 0
    suppressed_by_reason: dict[str, int] = msgspec.field(default_factory=dict)
    duplicate_addresses: int = 0
    control_group: int = 0
    to_send: int = 0
    # every line of the audience file: the header, blank lines, the lines of the rows
    # counted above, and those from where reading failed (`unread`, then non-zero exit)
    lines: int = 0
    blank_lines: int = 0
    unread: str | None = None


class SendoutPlan:
    """Folds audience rows into outcomes. `reasons_of(key)` gives the suppression reasons of
    a `channel:address` key (an empty list or None when it is not suppressed)."""

    def __init__(self, sendout_id: str, channel: str, purpose: str, control_percent: float,
                 reasons_of: Callable[[str], list[str] | None], normalise: AddressNormaliser | None = None) -> None:
        check_sendout_id(sendout_id)
        if channel not in ("email", "sms"):
            raise ValueError(f"channel must be email or sms, not {channel!r}")
        excluding_reasons([], purpose)  # checks the purpose
        self.sendout_id = sendout_id
        self.channel = channel
        self.purpose = purpose
        self.threshold = control_threshold(control_percent)
        # the same comparison on the digest's bytes (big-endian, so their order is the
        # numbers'), or None when every contact is drawn (2**64 has no 8 bytes)
        self._threshold_bytes = self.threshold.to_bytes(8, "big") if self.threshold < 2**64 else None
        self.reasons_of = reasons_of
        self.normalise = normalise or AddressNormaliser()
        # an audience repeats few addresses, and both channels have a fast way for the common
        # spellings (projections/normalise.py, projections/phone.py): a memo would cost more
        # than it saves
        self._normalise = self.normalise.of_channel(channel)
        # the draw hashes sendout_id NUL contact_id: the send-out's part is hashed once
        self._draw_base = hashlib.blake2b(f"{sendout_id}\x00".encode(), digest_size=8)
        self._key_prefix = address_key(channel, "")  # `channel:`, the start of every key looked up
        self.summary = Summary(sendout_id, channel, purpose, control_percent)
        self.taken: dict[str, int] = {}  # normalised address -> the line that took it

    def invalid(self, line: int, contact_id: str, raw: str, error: str) -> Row:
        """A row that could not be read as (contact_id, address): reported, never sent."""
        self.summary.audience += 1
        self.summary.invalid += 1
        return Row(line, contact_id, raw, "invalid", error)

    def add(self, line: int, contact_id: str, raw_address: str) -> Row:
        summary = self.summary
        summary.audience += 1
        contact_id = contact_id.strip()
        if not contact_id:
            summary.invalid += 1
            return Row(line, contact_id, raw_address, "invalid", "empty contact_id")
        try:
            address = self._normalise(raw_address)
        except InvalidAddress as exc:
            summary.invalid += 1
            return Row(line, contact_id, raw_address, "invalid", str(exc))
        reasons = self.reasons_of(self._key_prefix + address)  # = address_key(channel, address)
        if reasons:
            excluding = excluding_reasons(reasons, self.purpose)
            if excluding:
                summary.suppressed += 1
                by_reason = summary.suppressed_by_reason
                for reason in excluding:
                    by_reason[reason] = by_reason.get(reason, 0) + 1
                return Row(line, contact_id, address, "suppressed", " ".join(excluding))
        first = self.taken.setdefault(address, line)  # one look-up of the address, not two
        if first != line:
            summary.duplicate_addresses += 1
            return Row(line, contact_id, address, "duplicate", f"address taken by line {first}")
        draw = self._draw_base.copy()
        draw.update(contact_id.encode())
        drawn = self._threshold_bytes is None or draw.digest() < self._threshold_bytes
        # = control_draw(sendout_id, contact_id) < threshold; and the same hash, taken on
        # with the address, is the message id's (message_id())
        draw.update(f"\x00{address}".encode())
        mid = f"{self.sendout_id}:{contact_id}:{draw.hexdigest()}"
        if drawn:
            summary.control_group += 1
            return Row(line, contact_id, address, "control_group", "", mid)
        summary.to_send += 1
        return Row(line, contact_id, address, "send", "", mid)

    def event(self, row: Row, status: str, occurred_at: datetime) -> bytes:
        return encode_event(sendout_event(self.sendout_id, self.channel, row.address, row.contact_id, status,
                                          occurred_at))
