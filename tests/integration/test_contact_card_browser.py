"""The contact card in a real browser (headless Chromium from Debian, driven by Playwright),
rendered by a worker from a real pipeline on the broker: what support staff see and do
(the seeds: red struck-through blocked addresses, the Messages tab's labels, bounce
details behind an information icon, a manual unblock with a note), on a phone (375 px,
mobile emulation) and a desktop (1280 px), with hostile long values."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from streams.urls import contact_path
from tests.integration.cluster import ROOT

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "card-test-token"
BLOCKED = "email:anna.card@example.com"


def _event(kind: str, event_id: str, at: str, **fields) -> dict:
    return {"type": kind, "event_id": event_id, "occurred_at": at, **fields}


def _delivery(event_id: str, at: str, channel: str, address: str, message_id: str, status: str, **extra) -> dict:
    return _event("delivery", event_id, at, channel=channel, address=address, message_id=message_id, status=status,
                  sendout_id=extra.pop("sendout_id", "so-2026-03-spring"), contact_id="c-card", **extra)


EMAIL, WORK, PHONE = "anna.card@example.com", "anna.work@example.com", "+46701112233"
LOG = [
    _event("contact", "ev-1", "2026-03-01T07:00:00Z", contact_id="c-card", emails=[EMAIL, WORK], phones=[PHONE]),
    _delivery("ev-2", "2026-03-01T08:00:00Z", "email", EMAIL, "m-hard", "sent"),
    _delivery("ev-3", "2026-03-01T08:01:00Z", "email", EMAIL, "m-hard", "hard_bounce",
              bounce_reason="No such user", bounce_code="5.1.1"),
    _delivery("ev-4", "2026-03-01T08:00:00Z", "email", WORK, "m-opened", "delivered"),
    _delivery("ev-5", "2026-03-01T09:30:00Z", "email", WORK, "m-opened", "opened"),
    _delivery("ev-6", "2026-03-01T08:00:00Z", "email", WORK, "m-control", "control_group", sendout_id="so-control"),
    _delivery("ev-7", "2026-03-01T10:00:00Z", "sms", PHONE, "m-expired", "sent"),
    _delivery("ev-8", "2026-03-03T10:00:00Z", "email", WORK, "m-deferred", "deferred",
              bounce_reason="Greylisted, try again later", bounce_code="4.7.1"),
    _delivery("ev-9", "2026-03-02T10:00:00Z", "sms", PHONE, "m-delivered", "delivered"),
    _delivery("ev-10", "2026-03-02T11:00:00Z", "sms", PHONE, "m-soft", "soft_bounce",
              bounce_reason="Handset switched off", bounce_code="27"),
    _delivery("ev-11", "2026-03-03T09:00:00Z", "email", WORK, "m-unknown", "sent"),
    _delivery("ev-12", "2026-03-03T09:00:00Z", "sms", PHONE, "m-routed", "no_status"),
    _event("unsubscribe", "ev-13", "2026-03-03T11:00:00Z", channel="sms", address=PHONE, contact_id="c-card"),
    # past the SMS's 48 h validity, not past the deferral's 72 h
    {"type": "tick", "at": "2026-03-03T12:00:00Z"},
]
# the labels of the seed "Message delivery statuses", as RULES.md §2 words them
EXPECTED_LABELS = {
    "m-hard": "Hard bounce",
    "m-opened": "Delivered (Opened)",
    "m-control": "Included in a control group",
    "m-expired": "Validity expired",
    "m-deferred": "Deferred",
    "m-delivered": "Delivered",
    "m-soft": "Soft bounce",
    "m-unknown": "Unknown",
    "m-routed": "No delivery status available",
}


def _style(page, selector: str) -> dict:
    return page.eval_on_selector(selector, "e => { const s = getComputedStyle(e); return "
                                           "{color: s.color, line: s.textDecorationLine}; }")


@contextmanager
def chromium():
    """Playwright's sync API runs an event loop in this thread while it is open, so the
    cluster's own asyncio calls (publish, read a topic) are made before or after it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _save_screenshot(page, tmp_path: Path, name: str, full_page: bool = True) -> Path:
    """The screenshot is a test artifact: in the test's tmp dir and test-artifacts/; with
    BOUNCEBACK_UPDATE_SCREENSHOTS=1 it also replaces the README's copy in docs/."""
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=full_page)
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(shot, artifacts / name)
    if os.environ.get("BOUNCEBACK_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(shot, ROOT / "docs" / name)
    print(f"[browser] screenshot {shot} (copy in {artifacts / name})")
    return shot


def _started(cluster, tmp_path, monkeypatch, log: list[dict]):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium; .ci/run installs it)")
    monkeypatch.setenv("BOUNCEBACK_OPERATOR_TOKEN", TOKEN)
    worker = cluster.worker("w1")
    cluster.wait_ready()
    path = tmp_path / "card.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in log))
    cluster.cli("publish", str(path))
    cluster.wait_idle()
    return worker


def test_support_staff_see_the_card_read_bounce_details_and_unblock_an_address(cluster, tmp_path, monkeypatch):
    worker = _started(cluster, tmp_path, monkeypatch, LOG)

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        response = page.goto(f"{worker.url}/contacts/c-card")
        assert response.status == 200 and response.headers["content-type"].startswith("text/html")
        assert page.title() == "Contact c-card · bounceback"

        # the hard-bounced address: red and struck through; the others are not
        blocked = f'li[data-key="{BLOCKED}"]'
        assert page.get_attribute(blocked, "data-state") == "blocked"
        assert _style(page, f"{blocked} .value") == {"color": "rgb(198, 40, 40)", "line": "line-through"}
        assert _style(page, f'li[data-key="email:{WORK}"] .value')["line"] == "none"
        assert page.get_attribute(f'li[data-key="sms:{PHONE}"]', "data-state") == "unsubscribed"
        assert page.inner_text(f'li[data-key="sms:{PHONE}"] .badge') == "Unsubscribed"
        assert page.inner_text(f"{blocked} .reasons") == "Hard bounce"

        # the Messages tab: every message with the seed's label
        assert not page.is_visible("#panel-messages")
        page.click("#tab-messages")
        assert page.is_visible("#panel-messages")
        labels = {row.get_attribute("data-message-id"): row.query_selector(".label").inner_text()
                  for row in page.query_selector_all("tr.message")}
        assert labels == EXPECTED_LABELS
        assert page.inner_text('tr[data-message-id="m-hard"] td.sendout') == "so-2026-03-spring"
        assert page.inner_text('tr[data-message-id="m-hard"] td.time') == "2026-03-01 08:01 UTC"

        # the information icon opens the bounce details
        assert not page.is_visible("#bounce-details")
        page.click('tr[data-message-id="m-hard"] button.info')
        assert page.is_visible("#bounce-details")
        assert page.inner_text('#bounce-details [data-field="code"]') == "5.1.1"
        assert page.inner_text('#bounce-details [data-field="reason"]') == "No such user"
        page.click("#bounce-details button")
        assert not page.is_visible("#bounce-details")
        assert page.query_selector('tr[data-message-id="m-delivered"] button.info') is None

        # Unblock asks for a note; a wrong token is refused and nothing is published
        page.click("#tab-addresses")
        page.click(f"{blocked} button.unblock")
        assert page.is_visible("#unblock-dialog")
        page.fill("#unblock-note", "Customer fixed the mailbox")
        page.fill("#unblock-actor", "support@shop.example")
        page.fill("#unblock-token", "not-the-token")
        page.click('#unblock-dialog button[type="submit"]')
        # a locator, not wait_for_function: the page's CSP forbids the eval that polling a string needs
        page.locator("#unblock-dialog .error", has_text="wrong").wait_for()
        page.fill("#unblock-token", TOKEN)
        page.click('#unblock-dialog button[type="submit"]')
        # the page waits for the pipeline to apply the event, then reloads
        page.wait_for_selector(f'{blocked}[data-state="active"]', timeout=90_000)
        assert _style(page, f"{blocked} .value")["line"] == "none"
        assert page.query_selector(f"{blocked} button.unblock") is None

        # the address page shows the audit trail, the unblock and who did it last
        page.click(f"{blocked} a.value")
        page.wait_for_selector("tr.trail-entry")
        trail = [row.inner_text() for row in page.query_selector_all("tr.trail-entry")]
        # the contact's link, which reaches the address through the contact's partition
        links = [row for row in trail if "contact c-card now lists this address" in row]
        assert len(links) == 1 and "no change to the address" in links[0]
        trail.remove(links[0])
        assert len(trail) == 3
        assert "hard_bounce (5.1.1 No such user)" in trail[1] and "blocked: hard_bounce" in trail[1]
        assert "manual unblock by support@shop.example: Customer fixed the mailbox" in trail[2]
        assert "lifted hard_bounce" in trail[2]
        _save_screenshot(page, tmp_path, "address-page.png")

    # the unblock went through Kafka as a contract event, with its actor and note
    unblocks = [json.loads(value) for records in cluster.read("events").values() for _, value, _ in records
                if b'"unblock"' in value]
    assert [(u["address"], u["actor"], u["note"]) for u in unblocks] == [
        ("anna.card@example.com", "support@shop.example", "Customer fixed the mailbox")]


# hostile but legal values: a 5,000-character contact id, message id, send-out id and
# bounce reason, an address with braces, and one of the longest an address can be
LONG = "x" * 5000
HOSTILE = "c-" + LONG
ODD, LONGEST = "x{y}@example.com", "a" * 64 + "@" + ".".join(["b" * 61] * 3) + ".se"
LAYOUT_LOG = LOG + [
    _event("contact", "ev-20", "2026-03-01T07:00:00Z", contact_id=HOSTILE, emails=[ODD, LONGEST], phones=[]),
    {**_delivery("ev-21", "2026-03-01T08:00:00Z", "email", ODD, "m-" + LONG, "hard_bounce", sendout_id="so-" + LONG,
                 bounce_reason="No such user " + LONG, bounce_code="5.1.1"), "contact_id": HOSTILE},
    {**_delivery("ev-22", "2026-03-01T08:00:00Z", "email", LONGEST, "m-longest", "hard_bounce",
                 bounce_reason="No such user", bounce_code="5.1.1"), "contact_id": HOSTILE},
]
SCREENS = {
    375: dict(viewport={"width": 375, "height": 800}, device_scale_factor=2, is_mobile=True, has_touch=True),
    1280: dict(viewport={"width": 1280, "height": 800}),
}
TARGET = 44  # px: the smallest control a finger hits reliably (WCAG 2.5.5, Apple's and Google's guidelines)


def _overflow(page) -> tuple[int, int] | None:
    """(document width, viewport width) when the document is wider than the viewport."""
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return (scroll, inner) if scroll > inner else None


def _small_targets(page) -> list[str]:
    """The visible controls smaller than TARGET px in either direction."""
    return page.evaluate("""(target) => Array.from(document.querySelectorAll('button, a[href], input, textarea'))
        .filter(e => e.getClientRects().length > 0)
        .map(e => [e.outerHTML.slice(0, 90), e.getBoundingClientRect()])
        .filter(([html, r]) => r.width < target || r.height < target)
        .map(([html, r]) => `${html}: ${r.width}x${r.height}`)""", TARGET)


def _in_viewport(page, selector: str) -> dict:
    box = page.locator(selector).bounding_box()
    width, height = page.evaluate("[window.innerWidth, window.innerHeight]")
    assert box is not None, selector
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box, width)
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box, height)
    return box


@pytest.mark.parametrize("width", sorted(SCREENS))
def test_the_card_fits_the_screen_and_every_control_can_be_hit(cluster, tmp_path, monkeypatch, width):
    """At 375 px (a phone, mobile emulation: taps) and 1280 px (clicks): no horizontal
    overflow of the document, the Unblock button and the bounce popup on screen and hit by
    a real tap or click (Playwright refuses when another element would take it), every
    control at least 44 px, long values broken, keyboard tabs, no error in the console
    (no missing icon, nothing the Content-Security-Policy blocked)."""
    worker = _started(cluster, tmp_path, monkeypatch, LAYOUT_LOG)
    blocked = f'li[data-key="{BLOCKED}"]'
    with chromium() as browser:
        context = browser.new_context(**SCREENS[width])
        page = context.new_page()
        page.set_default_timeout(10_000)
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
                else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        press = page.tap if SCREENS[width].get("has_touch") else page.click

        assert page.goto(f"{worker.url}/contacts/c-card").status == 200
        assert _overflow(page) is None and _small_targets(page) == []
        page.locator(f"{blocked} button.unblock").scroll_into_view_if_needed()
        _in_viewport(page, f"{blocked} button.unblock")
        _save_screenshot(page, tmp_path, f"contact-card-{width}.png")

        # Unblock: the dialog opens on screen, its fields and buttons big enough
        press(f"{blocked} button.unblock")
        assert page.is_visible("#unblock-dialog")
        _in_viewport(page, "#unblock-dialog")
        assert _small_targets(page) == []
        press("#unblock-dialog button.cancel")
        assert not page.is_visible("#unblock-dialog")

        # the tabs by keyboard: arrows, Home and End move and select
        page.focus("#tab-addresses")
        for key, selected in [("ArrowRight", "tab-messages"), ("ArrowRight", "tab-addresses"),
                              ("End", "tab-messages"), ("Home", "tab-addresses"), ("ArrowLeft", "tab-messages")]:
            page.keyboard.press(key)
            assert page.evaluate("document.activeElement.id") == selected, key
            assert page.get_attribute(f"#{selected}", "aria-selected") == "true"
            assert page.is_visible("#" + page.get_attribute(f"#{selected}", "aria-controls"))

        # the Messages tab and the bounce popup
        assert page.is_visible("#panel-messages")
        assert _overflow(page) is None and _small_targets(page) == []
        press('tr[data-message-id="m-hard"] button.info')
        assert page.is_visible("#bounce-details")
        _in_viewport(page, "#bounce-details")
        assert page.inner_text('#bounce-details [data-field="code"]') == "5.1.1"
        if width == min(SCREENS):
            _save_screenshot(page, tmp_path, f"contact-card-{width}-bounce-details.png", full_page=False)
        press("#bounce-details button")
        assert not page.is_visible("#bounce-details")

        # hostile long values break instead of widening the page
        assert page.goto(f"{worker.url}{contact_path(HOSTILE)}").status == 200
        assert _overflow(page) is None and _small_targets(page) == []
        press("#tab-messages")
        assert _overflow(page) is None
        press("tr.message button.info")
        _in_viewport(page, "#bounce-details")
        press("#bounce-details button")
        press("#tab-addresses")

        # the address with braces opens its page (the route used to refuse `{`), which fits too
        press(f'li[data-key="email:{ODD}"] a.value')
        page.wait_for_selector("tr.trail-entry")
        assert page.inner_text("li.address a.value") == ODD
        assert _overflow(page) is None and _small_targets(page) == []
        _in_viewport(page, "li.address button.unblock")
        press("li.address button.unblock")
        _in_viewport(page, "#unblock-dialog")
        assert problems == []
        context.close()
