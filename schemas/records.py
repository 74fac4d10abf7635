"""Outbound records of contract version 1: what the suppression and contact-status topics carry
and what `bounceback replay` writes."""

from __future__ import annotations

from datetime import datetime

import msgspec


class AddressRecord(msgspec.Struct):
    channel: str
    address: str
    state: str
    reasons: list[str]
    soft_bounces: int
    updated_at: datetime


class MessageRecord(msgspec.Struct):
    message_id: str
    channel: str
    address: str
    sendout_id: str | None
    status: str
    label: str
    bounce_reason: str | None
    bounce_code: str | None
    updated_at: datetime


class ContactRecord(msgspec.Struct):
    contact_id: str
    addresses: list[AddressRecord]
    # the latest CARD_MESSAGES, newest first (RULES.md §7)
    messages: list[MessageRecord]
    # how many messages in all
    messages_total: int = 0


# RULES.md §7: the contact card lists a contact's latest 100 messages
CARD_MESSAGES = 100


class RejectedLine(msgspec.Struct):
    line: int
    error: str
    raw: str
