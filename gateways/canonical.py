"""The contract itself (docs/CONTRACT.md): one event object, or an array of them.

Every inbound event type is accepted except `tick`: the clock belongs to the pipeline,
and a tick from outside would fire deadlines (72 h deferrals, 48 h SMS validity) early.
"""

from __future__ import annotations

import msgspec

from gateways.common import bad
from schemas.events import Event, InvalidEvent, Tick, decode_event


def events(body: bytes) -> list[Event]:
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise bad(f"not valid JSON: {exc}") from None
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        raise bad("an empty array: no event")
    out: list[Event] = []
    for i, item in enumerate(items):
        where = f"event {i}: " if isinstance(doc, list) else ""
        if not isinstance(item, dict):
            raise bad(f"{where}an event is a JSON object")
        try:
            event = decode_event(msgspec.json.encode(item))
        except InvalidEvent as exc:
            raise bad(f"{where}{exc}") from None
        if type(event) is Tick:
            raise bad(f"{where}a tick is the pipeline's own clock and is not accepted from outside")
        out.append(event)
    return out
