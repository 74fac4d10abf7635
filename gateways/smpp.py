"""SMPP delivery receipts: what an SMSC reports in a `deliver_sm` with a receipt's esm_class.

The text in short_message is the de-facto format of SMPP 3.4 Appendix B:

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...

Keys are read in any case (`Text:`, `ID:`), in any order, with keys of the SMSC's own
among them (`mccmnc:24001`); `text:` runs to the end of the line. Dates are YYMMDDhhmm,
YYMMDDhhmmss or YYYYMMDDhhmmss, in the SMSC's time zone (`[smpp] timezone`, default UTC).
Where an aggregator forwards the TLVs of SMPP 3.4 §5.3.2 they win over the text:
`receipted_message_id` (0x001E), `message_state` (0x0427, §5.2.28) and
`network_error_code` (0x0423: a network type octet and a two-octet code).

A receipt reaches bounceback as one line (`POST /sms/receipts`, `bounceback
ingest-receipts`): the deliver_sm's source_addr (the handset) then the short_message,
`+46701234567 id:... stat:DELIVRD ...`; or as a JSON object with the fields (see
`Receipt`), one per line or an array.

stat / message_state:
  DELIVRD (2)                 delivered
  EXPIRED (3)                 validity_expired
  UNDELIV (5), REJECTD (8),   classified by the error code (rules.toml), `undelivered`
  DELETED (4), SKIPPED (9)    when no rule knows it
  UNKNOWN (7)                 no_status
  ACCEPTD (6), ENROUTE (1),   nothing yet: no event
  SCHEDULED (0)

Error codes: a GSM `network_error_code` (type 3) is a MAP cause (3GPP TS 29.002, table
`gsm_map`); the text's `err:` is the SMSC's own (Appendix B: "network or SMSC specific"):
read in the table named by `err_codes` (default `gsm_map`; `vonage`, `sinch` for their
SMPP services, or a table of the user's rules file).

Which message: the receipt's id is the SMSC's message id (from submit_sm_resp). Either the
sender uses that id as its message_id when it reports `sent`, or it records the SMSC id
at submit time and puts its own id in the receipt (`message_id`). Event id:
`smpp:<SMSC message id>:<stat>`, so the same receipt twice is applied once.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo
from typing import Any

import msgspec

from gateways.batch import Batch, read_each
from gateways.carrier import classify_code, international
from gateways.classify import Classifier
from gateways.common import bad, delivery, from_iso, json_object, verdict_event
from schemas.events import Event

# SMPP 3.4 §5.2.28 message_state (SMPP 5.0 adds SCHEDULED 0 and SKIPPED 9), and the
# 7-letter stat of Appendix B naming the same states
STATES = {0: "SCHEDULED", 1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD",
          7: "UNKNOWN", 8: "REJECTD", 9: "SKIPPED"}
_STATE_NAMES = {"DELIVERED": "DELIVRD", "UNDELIVERABLE": "UNDELIV", "ACCEPTED": "ACCEPTD", "REJECTED": "REJECTD"}
NOTHING_YET = frozenset(("SCHEDULED", "ENROUTE", "ACCEPTD"))
FAILED = frozenset(("UNDELIV", "REJECTD", "DELETED", "SKIPPED"))

# SMPP 3.4 §5.3.2.31 network_error_code, its network type octet: the table its code is read in
NETWORK_TYPES = {1: "ansi136_access_denied", 2: "is95_access_denied", 3: "gsm_map", 4: "ansi136_cause",
                 5: "is95_cause", 6: "ansi41", 7: "smpp_command_status", 8: "smsc"}

_KEY = re.compile(r"(?i)(?:^|(?<=\s))(submit[ _]date|done[ _]date|[a-z][a-z0-9_-]*)\s*:")
_NUMBER = re.compile(r"\+?\d{3,20}")
_META = ("message_id", "contact_id", "sendout_id")


class Receipt(msgspec.Struct, forbid_unknown_fields=False):
    """A receipt as JSON: the receipt text, or its fields one by one, and/or the TLVs."""

    receipt: str | None = None               # the short_message text, as in a receipt line
    id: str | None = None
    stat: str | None = None
    err: str | int | None = None
    submit_date: str | None = None
    done_date: str | None = None
    text: str | None = None
    receipted_message_id: str | None = None
    message_state: int | str | None = None
    network_error_code: str | dict[str, Any] | None = None
    address: str | None = None               # the handset: the deliver_sm's source_addr
    source_addr: str | None = None
    source_addr_ton: int | None = None       # 1 international; 2 national (read in the default region)
    message_id: str | None = None            # the sender's own id of the message
    contact_id: str | None = None
    sendout_id: str | None = None
    received_at: str | None = None           # when the receipt arrived (RFC 3339); else the clock


def parse_text(text: str) -> tuple[str | None, dict[str, str]]:
    """(what came before the first key, {key: value}) of a receipt text. Keys are
    lower-cased with `_` for spaces; `text` takes the rest of the line."""
    matches = list(_KEY.finditer(text))
    if not matches:
        return text.strip() or None, {}
    lead = text[: matches[0].start()].strip() or None
    fields: dict[str, str] = {}
    for i, m in enumerate(matches):
        key = re.sub(r"[ -]", "_", m.group(1).lower())
        if key == "text":
            fields[key] = text[m.end():].strip()
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        fields.setdefault(key, text[m.end():end].strip())
    return lead, fields


def receipt_date(value: str | None, field: str, tz: tzinfo) -> datetime | None:
    if value is None or not value.strip():
        return None
    digits = value.strip()
    layout = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S", 14: "%Y%m%d%H%M%S"}.get(len(digits))
    try:
        if layout is None or not digits.isdigit():
            raise ValueError
        return datetime.strptime(digits, layout).replace(tzinfo=tz).astimezone(timezone.utc)
    except ValueError:
        raise bad(f"`{field}` {value!r} is not YYMMDDhhmm, YYMMDDhhmmss or YYYYMMDDhhmmss") from None


def _state(stat: str | None, message_state: int | str | None) -> str:
    if message_state is not None and str(message_state).strip() != "":
        value = str(message_state).strip()
        if value.isdigit():
            if int(value) not in STATES:
                raise bad(f"`message_state` {value} is not an SMPP message state (0-9)")
            return STATES[int(value)]
        name = _STATE_NAMES.get(value.upper(), value.upper())
        if name not in STATES.values():
            raise bad(f"`message_state` {value!r} is not an SMPP message state")
        return name
    if stat is None or not stat.strip():
        raise bad("`stat` (or the `message_state` TLV) is missing")
    name = _STATE_NAMES.get(stat.strip().upper(), stat.strip().upper())
    if name not in STATES.values():
        raise bad(f"`stat` {stat!r} is not a receipt state (DELIVRD, EXPIRED, UNDELIV, REJECTD, ...)")
    return name


def _network_error(value: str | dict | None) -> tuple[str, str] | None:
    """(table, code as written) of a network_error_code: 3 octets as hex (`030001`) or
    `{"network_type": 3, "error_code": 1}`."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        kind = value.get("network_type", value.get("type"))
        code = value.get("error_code", value.get("code"))
        if not isinstance(kind, int) or not isinstance(code, int) or isinstance(kind, bool) or isinstance(code, bool):
            raise bad("`network_error_code` needs integer `network_type` and `error_code`")
    else:
        raw = value.strip().lower().removeprefix("0x")
        if not re.fullmatch(r"[0-9a-f]{6}", raw):
            raise bad(f"`network_error_code` {value!r} is not 3 octets in hex (network type, error code)")
        kind, code = int(raw[:2], 16), int(raw[2:], 16)
    if kind not in NETWORK_TYPES:
        raise bad(f"`network_error_code` network type {kind} is not one of SMPP's 1-8")
    if code == 0:
        return None
    return NETWORK_TYPES[kind], f"{kind:02X}{code:04X}"


def _has_error(err: str | None) -> bool:
    return bool(err) and not (err.isdigit() and int(err) == 0)


class Reader:
    """Receipts to canonical events, for one SMSC connection's conventions."""

    def __init__(self, classifier: Classifier, err_codes: str = "gsm_map", tz: tzinfo = timezone.utc) -> None:
        self.classifier = classifier
        self.err_codes = err_codes
        self.tz = tz

    def line(self, line: str, received_at: datetime) -> list[Event]:
        """One receipt line: `[source_addr] short_message`, or a JSON object."""
        if line.lstrip().startswith("{"):
            return self.document(json_object(line, "a receipt"), received_at)
        lead, fields = parse_text(line)
        if lead is not None and not _NUMBER.fullmatch(lead):
            raise bad(f"{lead!r} before the first key is not the handset number (source_addr)")
        return self._events(fields, {}, lead, None, received_at)

    def document(self, doc: Any, received_at: datetime) -> list[Event]:
        if not isinstance(doc, dict):
            raise bad("a receipt is a JSON object")
        folded = {re.sub(r"[ -]", "_", str(k).strip().lower()): v for k, v in doc.items()}
        try:
            r = msgspec.convert(folded, Receipt)
        except msgspec.ValidationError as exc:
            raise bad(str(exc)) from None
        lead, fields = parse_text(r.receipt) if r.receipt else (None, {})
        if lead is not None:
            raise bad(f"`receipt`: {lead!r} before the first key")
        for key in ("id", "stat", "submit_date", "done_date", "text"):
            value = getattr(r, key)
            if value is not None:
                fields[key] = value
        if r.err is not None:
            fields["err"] = str(r.err)
        tlv = {"receipted_message_id": r.receipted_message_id, "message_state": r.message_state,
               "network_error_code": r.network_error_code}
        for key in _META:
            if getattr(r, key):
                fields[key] = getattr(r, key)
        at = from_iso(r.received_at, "`received_at`") if r.received_at else received_at
        number = r.address or r.source_addr
        return self._events(fields, tlv, number, r.source_addr_ton, at)

    def _events(self, fields: dict[str, str], tlv: dict, number: str | None, ton: int | None,
                received_at: datetime) -> list[Event]:
        smsc_id = (tlv.get("receipted_message_id") or fields.get("id") or "").strip()
        if not smsc_id:
            raise bad("`id` (or the `receipted_message_id` TLV) is missing")
        state = _state(fields.get("stat"), tlv.get("message_state"))
        if state in NOTHING_YET:
            return []
        if not number or not number.strip():
            raise bad("the handset number (source_addr) is missing")
        address = international(number) if ton in (None, 0, 1) else number.strip()
        # the event is the final state: `submit date` is not needed, and a missing `done date`
        # (some SMSCs leave it out of failures) is the time the receipt arrived
        at = receipt_date(fields.get("done_date"), "done date", self.tz) or received_at
        meta = {key: fields[key] for key in _META if fields.get(key)}
        eid = f"smpp:{smsc_id}:{state}"
        err = (fields.get("err") or "").strip()
        tables = []
        network = _network_error(tlv.get("network_error_code"))
        if network is not None:
            tables.append((network[0], str(int(network[1][2:], 16))))
        if _has_error(err):
            tables.append((self.err_codes, err))
        shown = network[1] if network is not None else (err if _has_error(err) else None)
        if state == "DELIVRD":
            return [delivery(eid, at, "sms", address, smsc_id, "delivered", meta)]
        if state == "EXPIRED":
            return [delivery(eid, at, "sms", address, smsc_id, "validity_expired", meta,
                             reason="validity period expired", code=shown)]
        if state == "UNKNOWN":
            return [delivery(eid, at, "sms", address, smsc_id, "no_status", meta, code=shown)]
        verdict = classify_code(self.classifier, tables)
        verdict = type(verdict)(verdict.status, shown, verdict.reason or _reason(state), verdict.rule)
        return verdict_event(verdict, eid, at, "sms", address, smsc_id, meta)


def _reason(state: str) -> str:
    return {"UNDELIV": "undeliverable", "REJECTD": "rejected", "DELETED": "deleted", "SKIPPED": "skipped"}[state]


def items(body: bytes) -> list[tuple[str, bytes, Any]]:
    """The receipts of a request or file: a JSON array, or one receipt per line (text or a
    JSON object); blank lines are skipped. Each is (label, raw bytes, item)."""
    if body.lstrip()[:1] == b"[":
        try:
            doc = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise bad(f"not valid JSON: {exc}") from None
        return [(f"receipt {i}", msgspec.json.encode(item), item) for i, item in enumerate(doc)]
    out = []
    for n, raw in enumerate(body.split(b"\n"), 1):
        raw = raw.rstrip(b"\r")
        if raw.strip():
            out.append((f"line {n}", raw, raw))
    if not out:
        raise bad("no receipt: the body is empty")
    return out


def read(body: bytes, reader: Reader, received_at: datetime) -> Batch:
    def convert(item: Any) -> list[Event]:
        if isinstance(item, bytes):
            try:
                text = item.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise bad(f"not UTF-8: {exc}") from None
            return reader.line(text, received_at)
        return reader.document(item, received_at)

    return read_each(items(body), convert)
