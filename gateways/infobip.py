"""Infobip SMS delivery reports: `{"results": [...]}`, up to 100 reports per request
(Infobip "Receive outbound SMS message report"), each with `messageId`, `to`, `doneAt`,
`callbackData`, a `status` and an `error` object (Infobip "Response status and error codes").

Authentication: Infobip does not sign delivery reports; its webhook settings take HTTP
Basic credentials (or a header with a key), which bounceback checks when configured.

status.groupId (groupName): 0 ACCEPTED, 1 PENDING -> nothing yet; 3 DELIVERED ->
delivered; 4 EXPIRED -> validity_expired, but EXPIRED_DLR_UNKNOWN (id 29: no receipt came)
-> no_status; 2 UNDELIVERABLE, 5 REJECTED -> classified by the error: its `name` in the
table `infobip` (a user's rules), then for handset errors (group 1, whose ids are the
GSM MAP causes of 3GPP TS 29.002) the id in the table `gsm_map`; `undelivered` when no
rule knows it. Infobip's own `permanent` flag is not taken as evidence about the number:
it says a resend fails the same way, which is as true of a content block as of a dead
number. Event time: `doneAt`, else the arrival. Message id: `messageId`, or `message_id`
of a JSON `callbackData`. Event id: `infobip:<messageId>:<status.name>`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import msgspec

from gateways.batch import Batch, read_each
from gateways.carrier import classify_code, international, reference_meta
from gateways.classify import Classifier
from gateways.common import bad, decode_json, delivery, from_iso, verdict_event
from schemas.events import Event

GROUPS = {0: "ACCEPTED", 1: "PENDING", 2: "UNDELIVERABLE", 3: "DELIVERED", 4: "EXPIRED", 5: "REJECTED"}
EXPIRED_DLR_UNKNOWN = 29
HANDSET_ERRORS = 1


class Code(msgspec.Struct):
    groupId: int | None = None
    groupName: str | None = None
    id: int | None = None
    name: str | None = None
    description: str | None = None
    permanent: bool | None = None


class Report(msgspec.Struct):
    messageId: str | None = None
    to: str | None = None
    doneAt: str | None = None
    callbackData: str | None = None
    status: Code | None = None
    error: Code | None = None


class Body(msgspec.Struct):
    results: list[Any]


def infobip_time(value: str, field: str) -> datetime:
    """Infobip writes `yyyy-MM-dd'T'HH:mm:ss.SSSZ`: an offset without a colon (+0000)."""
    return from_iso(re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", value.strip()), field)


def events(raw: Any, classifier: Classifier, received_at: datetime) -> list[Event]:
    try:
        r = msgspec.convert(raw, Report)
    except msgspec.ValidationError as exc:
        raise bad(str(exc)) from None
    for name, value in (("messageId", r.messageId), ("to", r.to), ("status", r.status)):
        if not value:
            raise bad(f"`{name}` is missing")
    group = r.status.groupId if r.status.groupId is not None else \
        next((k for k, v in GROUPS.items() if v == (r.status.groupName or "").upper()), None)
    if group not in GROUPS:
        raise bad(f"`status.groupId` {r.status.groupId!r} / groupName {r.status.groupName!r} is not an Infobip status group")
    if group in (0, 1):
        return []
    name = r.status.name or GROUPS[group]
    eid = f"infobip:{r.messageId}:{name}"
    at = infobip_time(r.doneAt, "`doneAt`") if r.doneAt else received_at
    address = international(r.to)
    meta = reference_meta(r.callbackData)
    error = r.error or Code()
    if group == 3:
        return [delivery(eid, at, "sms", address, r.messageId, "delivered", meta)]
    if group == 4:
        status = "no_status" if r.status.id == EXPIRED_DLR_UNKNOWN else "validity_expired"
        return [delivery(eid, at, "sms", address, r.messageId, status, meta, reason=r.status.description or name)]
    tables = []
    if error.id:
        tables.append(("infobip", error.name or str(error.id)))
        if error.groupId == HANDSET_ERRORS:
            tables.append(("gsm_map", str(error.id)))
    verdict = classify_code(classifier, tables)
    reason = error.description if error.id else None
    verdict = type(verdict)(verdict.status, verdict.code, reason or verdict.reason or r.status.description or name,
                            verdict.rule)
    return verdict_event(verdict, eid, at, "sms", address, r.messageId, meta)


def read(body: bytes, classifier: Classifier, received_at: datetime) -> Batch:
    doc = decode_json(body, Body, "Infobip delivery reports")
    items = [(f"results[{i}]", msgspec.json.encode(item), item) for i, item in enumerate(doc.results)]
    return read_each(items, lambda item: events(item, classifier, received_at))
