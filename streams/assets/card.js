// The contact card and the address page (streams/pages.py): tabs, bounce details, manual unblock.
// Served as a file: the pages' Content-Security-Policy allows no inline script.
(function () {
  'use strict';

  // Tabs (WAI-ARIA tabs pattern): the selected tab is the one in the tab order; arrow keys,
  // Home and End move between tabs and select them.
  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
  function select(tab, focus) {
    tabs.forEach(t => {
      const selected = t === tab;
      t.setAttribute('aria-selected', String(selected));
      t.tabIndex = selected ? 0 : -1;
      document.getElementById(t.getAttribute('aria-controls')).hidden = !selected;
    });
    if (focus) tab.focus();
  }
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => select(tab, false));
    tab.addEventListener('keydown', event => {
      const next = {ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1}[event.key];
      if (next === undefined) return;
      event.preventDefault();
      select(tabs[(next + tabs.length) % tabs.length], true);
    });
  });

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
