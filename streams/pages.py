"""The HTML pages the workers serve to people: the contact card and the address page.

Rendered on the server from the same records the JSON API returns; every value from the
data goes through html.escape. The style and the script are files (streams/assets/),
served by every worker: the pages carry no inline script or style, so their
Content-Security-Policy (streams/web_guard.py) can forbid both. The script switches tabs,
opens the bounce details and sends the manual unblock (the operator API,
streams/operator_api.py)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from html import escape
from pathlib import Path
from string import Template

from projections.normalise import address_key
from schemas.records import AddressRecord, ContactRecord, MessageRecord
from streams.operator_api import ACTOR_MAX_CHARS, NOTE_MAX_CHARS
from streams.urls import address_path, contact_path, unblock_path

STATE_WORDS = {"active": "Active", "blocked": "Blocked", "unsubscribed": "Unsubscribed"}
CHANNEL_WORDS = {"email": "Email", "sms": "Mobile"}
_ASSET_DIR = Path(__file__).resolve().parent / "assets"
_ASSET_TYPES = {"card.css": "text/css", "card.js": "text/javascript", "favicon.svg": "image/svg+xml"}


class Asset:
    """A file the pages load; its URL carries a digest of its content, so a browser may keep
    it as long as it likes and still gets a changed file at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.content = (_ASSET_DIR / name).read_bytes()
        self.content_type = _ASSET_TYPES[name]
        self.url = f"/assets/{name}?v={hashlib.blake2b(self.content, digest_size=6).hexdigest()}"


ASSETS = {name: Asset(name) for name in _ASSET_TYPES}


def reason_words(reason: str, soft_bounce_limit: int) -> str:
    return {
        "hard_bounce": "Hard bounce",
        "soft_bounce_limit": f"{soft_bounce_limit} consecutive soft bounces",
        "bounce_list": "On an imported bounce list",
        "unsubscribed": "Unsubscribed",
        "complaint": "Marked as spam",
    }.get(reason, reason)


def esc(value) -> str:
    return escape("" if value is None else str(value), quote=True)


def when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at is not None else ""


def counted(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


_PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title · bounceback</title>
<link rel="icon" href="$favicon" type="image/svg+xml">
<link rel="stylesheet" href="$style">
<script src="$script" defer></script>
</head>
<body>
<main>
$body
</main>
<dialog id="bounce-details" aria-labelledby="bounce-details-title">
  <h3 id="bounce-details-title">Bounce details</h3>
  <dl>
    <dt>Status</dt><dd data-field="label"></dd>
    <dt>Reason</dt><dd data-field="reason"></dd>
    <dt>Code</dt><dd data-field="code"></dd>
    <dt>Message</dt><dd data-field="message"></dd>
    <dt>Address</dt><dd data-field="address"></dd>
    <dt>Time</dt><dd data-field="time"></dd>
  </dl>
  <form method="dialog" class="actions"><button class="primary">Close</button></form>
</dialog>
$unblock_dialog
</body>
</html>
""")

_UNBLOCK_DIALOG = f"""<dialog id="unblock-dialog" aria-labelledby="unblock-title">
  <form>
    <h3 id="unblock-title">Unblock <span data-field="address"></span></h3>
    <p class="sub">Hard bounces, the soft-bounce block and bounce-list entries are lifted;
      an unsubscribe or a spam complaint stays.</p>
    <label for="unblock-note">Note (why)</label>
    <textarea id="unblock-note" name="note" rows="3" required maxlength="{NOTE_MAX_CHARS}" autocomplete="off"></textarea>
    <label for="unblock-actor">Your name or email</label>
    <input id="unblock-actor" name="actor" required maxlength="{ACTOR_MAX_CHARS}" autocomplete="username">
    <label for="unblock-token">Operator token</label>
    <input id="unblock-token" name="token" type="password" required autocomplete="current-password">
    <p class="error" role="status"></p>
    <div class="actions"><button type="button" class="cancel">Cancel</button>
      <button type="submit" class="primary">Unblock</button></div>
  </form>
</dialog>"""


def _page(title: str, body: str, with_unblock: bool) -> str:
    return _PAGE.substitute(title=esc(title), body=body, favicon=ASSETS["favicon.svg"].url,
                            style=ASSETS["card.css"].url, script=ASSETS["card.js"].url,
                            unblock_dialog=_UNBLOCK_DIALOG if with_unblock else "")


def _unblock_button(record: AddressRecord) -> str:
    if record.state != "blocked":
        return ""
    return (f'<button type="button" class="unblock" data-channel="{esc(record.channel)}" '
            f'data-normalised="{esc(record.address)}" data-address="{esc(record.address)}" '
            f'data-unblock-url="{esc(unblock_path(record.channel, record.address))}">Unblock</button>')


def _reasons(record: AddressRecord, soft_bounce_limit: int) -> str:
    words = [reason_words(r, soft_bounce_limit) for r in record.reasons]
    if record.soft_bounces:
        words.append(f"{counted(record.soft_bounces, 'soft bounce', 'soft bounces')} since the latest delivery")
    return esc("; ".join(words))


def _address_item(record: AddressRecord, soft_bounce_limit: int) -> str:
    state = record.state
    return (
        f'<li class="address state-{esc(state)}" data-key="{esc(address_key(record.channel, record.address))}" '
        f'data-state="{esc(state)}">'
        f'<span class="channel">{esc(CHANNEL_WORDS.get(record.channel, record.channel))}</span>'
        f'<a class="value" href="{esc(address_path(record.channel, record.address))}">{esc(record.address)}</a>'
        f'<span class="badge">{esc(STATE_WORDS.get(state, state))}</span>'
        f'<span class="reasons">{_reasons(record, soft_bounce_limit)}</span>'
        f'{_unblock_button(record)}</li>'
    )


def _table(kind: str, columns: list[str], rows: str) -> str:
    """A table that scrolls inside its box when it is wider, and on a narrow screen shows
    each row as lines labelled with the column names (the `data-label` of each cell)."""
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    return f'<div class="table-scroll"><table class="rows {kind}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def _message_row(message: MessageRecord) -> str:
    info = ""
    if message.bounce_reason or message.bounce_code:
        info = (
            f' <button type="button" class="info" title="Bounce details" aria-label="Bounce details"'
            f' data-label="{esc(message.label)}" data-reason="{esc(message.bounce_reason)}"'
            f' data-code="{esc(message.bounce_code)}" data-message="{esc(message.message_id)}"'
            f' data-address="{esc(message.address)}" data-time="{esc(when(message.updated_at))}">'
            '<span aria-hidden="true">i</span></button>'
        )
    return (
        f'<tr class="message status-{esc(message.status)}" data-message-id="{esc(message.message_id)}">'
        f'<td class="status" data-label="Status"><span class="label">{esc(message.label)}</span>{info}</td>'
        f'<td data-label="Channel">{esc(CHANNEL_WORDS.get(message.channel, message.channel))}</td>'
        f'<td data-label="Address">{esc(message.address)}</td>'
        f'<td class="sendout" data-label="Send-out">{esc(message.sendout_id or "-")}</td>'
        f'<td class="message-id" data-label="Message">{esc(message.message_id)}</td>'
        f'<td class="time" data-label="Time">{esc(when(message.updated_at))}</td></tr>'
    )


def contact_page(card: ContactRecord, soft_bounce_limit: int) -> str:
    """The contact card: its addresses (blocked ones red and struck through) and its
    Messages tab, every status worded as RULES.md §2 words it."""
    listed = len(card.messages)
    # the card lists the latest messages only; `messages_total` counts them all (RULES.md §7)
    total = max(listed, card.messages_total)
    if card.addresses:
        addresses = '<ul class="addresses">' + "".join(_address_item(a, soft_bounce_limit) for a in card.addresses) + "</ul>"
    else:
        addresses = '<p class="empty">No email address or mobile number is known for this contact.</p>'
    if card.messages:
        messages = _table("messages", ["Status", "Channel", "Address", "Send-out", "Message", "Time"],
                          "".join(_message_row(m) for m in card.messages))
    else:
        messages = '<p class="empty">No message has been reported for this contact.</p>'
    if total > listed:
        messages += f'<p class="older">{counted(total - listed, "older message", "older messages")} not shown</p>'
    body = (
        f'<h1>Contact <span class="contact-id">{esc(card.contact_id)}</span></h1>'
        f'<p class="sub">{counted(len(card.addresses), "address", "addresses")} · '
        f'{counted(total, "message", "messages")}</p>'
        '<div class="tabs" role="tablist" aria-label="Contact">'
        '<button type="button" role="tab" id="tab-addresses" aria-controls="panel-addresses" aria-selected="true"'
        f' tabindex="0">Addresses ({len(card.addresses)})</button>'
        '<button type="button" role="tab" id="tab-messages" aria-controls="panel-messages" aria-selected="false"'
        f' tabindex="-1">Messages ({total})</button>'
        "</div>"
        f'<section id="panel-addresses" role="tabpanel" aria-labelledby="tab-addresses">{addresses}</section>'
        f'<section id="panel-messages" role="tabpanel" aria-labelledby="tab-messages" hidden>{messages}</section>'
    )
    return _page(f"Contact {card.contact_id}", body, any(a.state == "blocked" for a in card.addresses))


def address_page(record: AddressRecord, contacts: list[str], trail: list, soft_bounce_limit: int) -> str:
    """One address: its state and reasons, the contacts holding it, and its audit trail
    (each event that touched it and the decision it caused)."""
    state = record.state
    holders = ", ".join(f'<a class="contact" href="{esc(contact_path(c))}">{esc(c)}</a>' for c in contacts) or "none"
    rows = "".join(
        f'<tr class="trail-entry"><td class="time" data-label="Time">{esc(when(e.at))}</td>'
        f'<td data-label="Event id">{esc(e.event_id or "(clock)")}</td>'
        f'<td data-label="Event">{esc(e.event)}</td><td class="decision" data-label="Decision">{esc(e.decision)}</td>'
        f'<td class="state-{esc(e.state)}" data-label="State after"><span class="badge">'
        f'{esc(STATE_WORDS.get(e.state, e.state))}</span></td></tr>'
        for e in trail
    )
    trail_html = (_table("trail", ["Time", "Event id", "Event", "Decision", "State after"], rows) if trail
                  else '<p class="empty">No audit entries.</p>')
    body = (
        f'<h1>{esc(CHANNEL_WORDS.get(record.channel, record.channel))} address</h1>'
        f'<ul class="addresses">{_address_item(record, soft_bounce_limit)}</ul>'
        f'<p class="sub">Updated {esc(when(record.updated_at))} · held by contacts: {holders}</p>'
        f'<h2>Audit trail</h2>{trail_html}'
    )
    return _page(address_key(record.channel, record.address), body, state == "blocked")


def not_found_page(message: str) -> str:
    return _page("Not found", f'<h1>Not found</h1><p class="empty">{esc(message)}</p>', False)
