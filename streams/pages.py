"""The HTML pages the workers serve to people: the contact card and the address page.

Rendered on the server from the same records the JSON API returns; every value from the
data goes through html.escape. A little JavaScript switches tabs, opens the bounce
details and sends the manual unblock (the operator API, streams/operator_api.py)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from string import Template

from schemas.records import AddressRecord, ContactRecord, MessageRecord
from streams.urls import address_path, contact_path, unblock_path

STATE_WORDS = {"active": "Active", "blocked": "Blocked", "unsubscribed": "Unsubscribed"}
CHANNEL_WORDS = {"email": "Email", "sms": "Mobile"}


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


_STYLE = """
:root { --red: #c62828; --amber: #8a5a00; --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --accent: #1565c0; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #f5f7fa; margin: 0; }
main { max-width: 980px; margin: 24px auto; background: #fff; border: 1px solid var(--line); border-radius: 8px;
       padding: 20px 28px 28px; box-shadow: 0 1px 3px rgba(0,0,0,.06); }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 22px 0 8px; }
.sub { color: var(--muted); margin: 0 0 16px; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
.tabs { display: flex; gap: 4px; border-bottom: 1px solid var(--line); margin: 16px 0; }
.tabs button { border: 0; background: none; padding: 8px 14px; font: inherit; cursor: pointer; color: var(--muted);
               border-bottom: 2px solid transparent; }
.tabs button[aria-selected="true"] { color: var(--ink); border-bottom-color: var(--accent); font-weight: 600; }
ul.addresses { list-style: none; padding: 0; margin: 0; }
ul.addresses li { display: flex; align-items: center; gap: 12px; padding: 10px 0; border-bottom: 1px solid var(--line); }
.channel { width: 56px; color: var(--muted); font-size: 13px; }
.value { font-weight: 600; }
.state-blocked .value, .state-blocked.value { color: var(--red); text-decoration: line-through;
                                              text-decoration-color: var(--red); text-decoration-thickness: 2px; }
.state-unsubscribed .value, .state-unsubscribed.value { color: var(--amber); }
.badge { font-size: 12px; padding: 1px 8px; border-radius: 10px; background: #e8f5e9; color: #2e7d32; }
.state-blocked .badge { background: #ffebee; color: var(--red); }
.state-unsubscribed .badge { background: #fff4e0; color: var(--amber); }
.reasons { color: var(--muted); font-size: 13px; flex: 1; }
button.unblock { font: inherit; font-size: 13px; padding: 4px 12px; border: 1px solid var(--red); color: var(--red);
                 background: #fff; border-radius: 4px; cursor: pointer; }
button.unblock:hover { background: #ffebee; }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th { text-align: left; color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); padding: 6px 8px; }
td { border-bottom: 1px solid var(--line); padding: 7px 8px; vertical-align: top; }
td.time { white-space: nowrap; color: var(--muted); }
button.info { display: inline-flex; align-items: center; justify-content: center; width: 17px; height: 17px;
              margin-left: 6px; padding: 0; border: 1.5px solid var(--accent); border-radius: 50%; background: #fff;
              color: var(--accent); font: italic 700 11px/1 Georgia, serif; cursor: pointer; vertical-align: 1px; }
button.info:hover { background: #e3f2fd; }
td.message-id, td.sendout, td.status { white-space: nowrap; }
dialog { border: 1px solid var(--line); border-radius: 8px; padding: 20px 24px; min-width: 340px;
         box-shadow: 0 8px 30px rgba(0,0,0,.2); }
dialog h3 { margin: 0 0 12px; }
dialog dl { display: grid; grid-template-columns: auto 1fr; gap: 4px 14px; margin: 0 0 16px; }
dialog dt { color: var(--muted); } dialog dd { margin: 0; }
dialog label { display: block; margin: 10px 0 4px; font-size: 13px; color: var(--muted); }
dialog input, dialog textarea { width: 100%; font: inherit; padding: 6px 8px; border: 1px solid #cbd2d9; border-radius: 4px; }
.actions { display: flex; justify-content: flex-end; gap: 8px; margin-top: 14px; }
.actions button { font: inherit; padding: 6px 14px; border-radius: 4px; border: 1px solid #cbd2d9; background: #fff; cursor: pointer; }
.actions button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.error { color: var(--red); min-height: 1.2em; font-size: 13px; }
.empty { color: var(--muted); font-style: italic; }
"""

_SCRIPT = """
(function () {
  const tabs = document.querySelectorAll('.tabs button');
  tabs.forEach(tab => tab.addEventListener('click', () => {
    tabs.forEach(t => {
      t.setAttribute('aria-selected', String(t === tab));
      document.getElementById(t.dataset.panel).hidden = t !== tab;
    });
  }));

  const details = document.getElementById('bounce-details');
  document.querySelectorAll('button.info').forEach(button => button.addEventListener('click', () => {
    for (const field of ['label', 'reason', 'code', 'message', 'address', 'time']) {
      details.querySelector('[data-field="' + field + '"]').textContent = button.dataset[field] || '-';
    }
    details.showModal();
  }));

  const dialog = document.getElementById('unblock-dialog');
  if (!dialog) return;
  const form = dialog.querySelector('form');
  const error = dialog.querySelector('.error');
  let target = null;
  document.querySelectorAll('button.unblock').forEach(button => button.addEventListener('click', () => {
    target = button.dataset;
    dialog.querySelector('[data-field="address"]').textContent = target.address;
    form.actor.value = sessionStorage.getItem('bounceback.actor') || '';
    form.token.value = sessionStorage.getItem('bounceback.token') || '';
    form.note.value = '';
    error.textContent = '';
    dialog.showModal();
    form.note.focus();
  }));
  dialog.querySelector('button.cancel').addEventListener('click', () => dialog.close());
  form.addEventListener('submit', async event => {
    event.preventDefault();
    error.textContent = '';
    sessionStorage.setItem('bounceback.actor', form.actor.value);
    sessionStorage.setItem('bounceback.token', form.token.value);
    let response;
    try {
      response = await fetch(target.unblockUrl, {
        method: 'POST',
        headers: {'Authorization': 'Bearer ' + form.token.value, 'Content-Type': 'application/json'},
        body: JSON.stringify({actor: form.actor.value, note: form.note.value}),
      });
    } catch (e) { error.textContent = 'The worker could not be reached: ' + e; return; }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) { error.textContent = body.error || ('HTTP ' + response.status); return; }
    error.textContent = 'Unblock sent; waiting for the pipeline to apply it...';
    const until = Date.now() + 60000;
    while (Date.now() < until) {
      await new Promise(r => setTimeout(r, 500));
      const current = await fetch(location.pathname, {headers: {'Accept': 'application/json'}})
        .then(r => r.ok ? r.json() : null).catch(() => null);
      if (current && stateOf(current, target.channel, target.normalised) !== 'blocked') { location.reload(); return; }
    }
    error.textContent = 'The unblock was sent but is not applied yet; reload the page later.';
  });

  function stateOf(data, channel, address) {
    if (data.record) return data.record.state;
    const found = (data.addresses || []).find(a => a.channel === channel && a.address === address);
    return found ? found.state : null;
  }
})();
"""

_PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title · bounceback</title>
<style>$style</style>
</head>
<body>
<main>
$body
</main>
<dialog id="bounce-details">
  <h3>Bounce details</h3>
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
<script>$script</script>
</body>
</html>
""")

_UNBLOCK_DIALOG = """<dialog id="unblock-dialog">
  <form>
    <h3>Unblock <span data-field="address"></span></h3>
    <p class="sub">Hard bounces, the soft-bounce block and bounce-list entries are lifted;
      an unsubscribe or a spam complaint stays.</p>
    <label for="unblock-note">Note (why)</label>
    <textarea id="unblock-note" name="note" rows="3" required></textarea>
    <label for="unblock-actor">Your name or email</label>
    <input id="unblock-actor" name="actor" required>
    <label for="unblock-token">Operator token</label>
    <input id="unblock-token" name="token" type="password" required>
    <p class="error" role="status"></p>
    <div class="actions"><button type="button" class="cancel">Cancel</button>
      <button type="submit" class="primary">Unblock</button></div>
  </form>
</dialog>"""


def _page(title: str, body: str, with_unblock: bool) -> str:
    return _PAGE.substitute(title=esc(title), style=_STYLE, body=body, script=_SCRIPT,
                            unblock_dialog=_UNBLOCK_DIALOG if with_unblock else "")


def _unblock_button(record: AddressRecord) -> str:
    if record.state != "blocked":
        return ""
    return (f'<button class="unblock" data-channel="{esc(record.channel)}" data-normalised="{esc(record.address)}" '
            f'data-address="{esc(record.address)}" '
            f'data-unblock-url="{esc(unblock_path(record.channel, record.address))}">Unblock</button>')


def _reasons(record: AddressRecord, soft_bounce_limit: int) -> str:
    words = [reason_words(r, soft_bounce_limit) for r in record.reasons]
    if record.soft_bounces:
        unit = "soft bounce" if record.soft_bounces == 1 else "soft bounces"
        words.append(f"{record.soft_bounces} {unit} since the latest delivery")
    return esc("; ".join(words))


def _address_item(record: AddressRecord, soft_bounce_limit: int) -> str:
    state = record.state
    return (
        f'<li class="address state-{esc(state)}" data-key="{esc(record.channel)}:{esc(record.address)}" '
        f'data-state="{esc(state)}">'
        f'<span class="channel">{esc(CHANNEL_WORDS.get(record.channel, record.channel))}</span>'
        f'<a class="value" href="{esc(address_path(record.channel, record.address))}">{esc(record.address)}</a>'
        f'<span class="badge">{esc(STATE_WORDS.get(state, state))}</span>'
        f'<span class="reasons">{_reasons(record, soft_bounce_limit)}</span>'
        f'{_unblock_button(record)}</li>'
    )


def _message_row(message: MessageRecord) -> str:
    info = ""
    if message.bounce_reason or message.bounce_code:
        info = (
            f' <button class="info" title="Bounce details" aria-label="Bounce details"'
            f' data-label="{esc(message.label)}" data-reason="{esc(message.bounce_reason)}"'
            f' data-code="{esc(message.bounce_code)}" data-message="{esc(message.message_id)}"'
            f' data-address="{esc(message.address)}" data-time="{esc(when(message.updated_at))}">i</button>'
        )
    return (
        f'<tr class="message status-{esc(message.status)}" data-message-id="{esc(message.message_id)}">'
        f'<td class="status"><span class="label">{esc(message.label)}</span>{info}</td>'
        f'<td>{esc(CHANNEL_WORDS.get(message.channel, message.channel))}</td>'
        f'<td>{esc(message.address)}</td>'
        f'<td class="sendout">{esc(message.sendout_id or "-")}</td>'
        f'<td class="message-id">{esc(message.message_id)}</td>'
        f'<td class="time">{esc(when(message.updated_at))}</td></tr>'
    )


def contact_page(card: ContactRecord, soft_bounce_limit: int) -> str:
    """The contact card: its addresses (blocked ones red and struck through) and its
    Messages tab, every status worded as RULES.md §2 words it."""
    if card.addresses:
        addresses = '<ul class="addresses">' + "".join(_address_item(a, soft_bounce_limit) for a in card.addresses) + "</ul>"
    else:
        addresses = '<p class="empty">No email address or mobile number is known for this contact.</p>'
    if card.messages:
        messages = ("<table><thead><tr><th>Status</th><th>Channel</th><th>Address</th><th>Send-out</th>"
                    "<th>Message</th><th>Time</th></tr></thead><tbody>"
                    + "".join(_message_row(m) for m in card.messages) + "</tbody></table>")
    else:
        messages = '<p class="empty">No message has been reported for this contact.</p>'
    body = (
        f'<h1>Contact <span class="contact-id">{esc(card.contact_id)}</span></h1>'
        f'<p class="sub">{len(card.addresses)} addresses · {len(card.messages)} messages</p>'
        '<nav class="tabs" role="tablist">'
        '<button role="tab" id="tab-addresses" data-panel="panel-addresses" aria-selected="true">Addresses</button>'
        f'<button role="tab" id="tab-messages" data-panel="panel-messages" aria-selected="false">Messages ({len(card.messages)})</button>'
        "</nav>"
        f'<section id="panel-addresses" role="tabpanel">{addresses}</section>'
        f'<section id="panel-messages" role="tabpanel" hidden>{messages}</section>'
    )
    return _page(f"Contact {card.contact_id}", body, any(a.state == "blocked" for a in card.addresses))


def address_page(record: AddressRecord, contacts: list[str], trail: list, soft_bounce_limit: int) -> str:
    """One address: its state and reasons, the contacts holding it, and its audit trail
    (each event that touched it and the decision it caused)."""
    state = record.state
    holders = ", ".join(f'<a href="{esc(contact_path(c))}">{esc(c)}</a>' for c in contacts) or "none"
    rows = "".join(
        f'<tr class="trail-entry"><td class="time">{esc(when(e.at))}</td><td>{esc(e.event_id or "(clock)")}</td>'
        f'<td>{esc(e.event)}</td><td class="decision">{esc(e.decision)}</td>'
        f'<td class="state-{esc(e.state)}"><span class="badge">{esc(STATE_WORDS.get(e.state, e.state))}</span></td></tr>'
        for e in trail
    )
    trail_html = (
        "<table><thead><tr><th>Time</th><th>Event id</th><th>Event</th><th>Decision</th><th>State after</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>" if trail else '<p class="empty">No audit entries.</p>'
    )
    body = (
        f'<h1>{esc(CHANNEL_WORDS.get(record.channel, record.channel))} address</h1>'
        f'<ul class="addresses">{_address_item(record, soft_bounce_limit)}</ul>'
        f'<p class="sub">Updated {esc(when(record.updated_at))} · held by contacts: {holders}</p>'
        f'<h2>Audit trail</h2>{trail_html}'
    )
    return _page(f"{record.channel}:{record.address}", body, state == "blocked")


def not_found_page(message: str) -> str:
    return _page("Not found", f'<h1>Not found</h1><p class="empty">{esc(message)}</p>', False)
