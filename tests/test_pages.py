"""The contact card and address pages (streams/pages.py), the operator token check and the
choice between HTML and JSON (streams/web.py). The browser test is in tests/integration."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from projections.audit import TrailEntry
from projections.statuses import LABELS
from schemas.records import AddressRecord, ContactRecord, MessageRecord
from streams.operator_api import check_bearer
from streams.pages import address_page, contact_page
from streams.web import wants_html

AT = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
RULES = Path(__file__).resolve().parents[1] / "docs" / "RULES.md"


def rules_labels() -> dict[str, str]:
    """The status -> label table of RULES.md §2."""
    section = RULES.read_text().split("## 2.")[1].split("## 3.")[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| \w+ \| ([^|]+?) \|", section, re.M)}


def address(addr: str, state: str, reasons: list[str], channel="email", soft=0) -> AddressRecord:
    return AddressRecord(channel, addr, state, reasons, soft, AT)


def message(mid: str, status: str, reason=None, code=None, channel="email", addr="anna@example.com") -> MessageRecord:
    return MessageRecord(mid, channel, addr, "so-1", status, LABELS[status], reason, code, AT)


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text inside each element with an id or class."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def with_class(self, name: str) -> list[dict]:
        return [a for _, a in self.tags if name in (a.get("class") or "").split()]


def test_the_labels_are_rules_md_section_2_word_for_word():
    assert rules_labels() == LABELS
    card = ContactRecord("c-1", [], [message(f"m-{s}", s) for s in LABELS])
    html = contact_page(card, 10)
    for label in LABELS.values():
        assert f'<span class="label">{label}</span>' in html


def test_blocked_addresses_are_marked_and_get_an_unblock_button_unsubscribed_ones_are_marked():
    card = ContactRecord("c-1", [
        address("anna@example.com", "blocked", ["hard_bounce"]),
        address("+46701234567", "unsubscribed", ["unsubscribed"], channel="sms"),
        address("bob@example.org", "active", [], soft=3),
        address("cleo@example.org", "blocked", ["bounce_list", "soft_bounce_limit"]),
    ], [])
    html = contact_page(card, 10)
    items = Elements(html).with_class("address")
    assert [(i["data-key"], i["class"]) for i in items] == [
        ("email:anna@example.com", "address state-blocked"),
        ("sms:+46701234567", "address state-unsubscribed"),
        ("email:bob@example.org", "address state-active"),
        ("email:cleo@example.org", "address state-blocked"),
    ]
    buttons = Elements(html).with_class("unblock")
    assert [b["data-unblock-url"] for b in buttons] == [
        "/addresses/email/anna@example.com/unblock", "/addresses/email/cleo@example.org/unblock"]
    assert "Hard bounce" in html and "Unsubscribed" in html
    assert "On an imported bounce list; 10 consecutive soft bounces" in html
    assert "3 soft bounces since the latest delivery" in html
    assert 'id="unblock-dialog"' in html


def test_no_unblock_dialog_when_nothing_is_blocked():
    html = contact_page(ContactRecord("c-1", [address("a@b.se", "active", [])], []), 10)
    assert 'id="unblock-dialog"' not in html and not Elements(html).with_class("unblock")


def test_only_messages_with_bounce_details_get_the_information_icon():
    card = ContactRecord("c-1", [], [
        message("m-1", "hard_bounce", "No such user", "5.1.1"),
        message("m-2", "delivered"),
        message("m-3", "soft_bounce", "Mailbox full", None),
    ])
    icons = Elements(contact_page(card, 10)).with_class("info")
    assert [(i["data-message"], i["data-code"], i["data-reason"]) for i in icons] == [
        ("m-1", "5.1.1", "No such user"), ("m-3", "", "Mailbox full")]


def test_everything_from_the_data_is_escaped():
    evil = '<script>alert("x")</script>'
    card = ContactRecord(evil, [address('a"><b>@example.com', "blocked", ["hard_bounce"])],
                         [message("m-<i>", "hard_bounce", evil, '"><img src=x>')])
    html = contact_page(card, 10)
    assert "<script>alert" not in html and "<img" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    record = address("a@b.se", "blocked", ["hard_bounce"])
    trail = [TrailEntry(AT, "ev-<1>", evil, evil, "blocked", ["hard_bounce"], 0)]
    page = address_page(record, [evil], trail, 10)
    assert "<script>alert" not in page and "ev-&lt;1&gt;" in page


def test_the_address_page_shows_the_audit_trail_and_the_holders():
    record = address("anna@example.com", "blocked", ["hard_bounce"])
    trail = [
        TrailEntry(AT, "ev-1", "delivery m-1: sent", "message m-1: new -> Unknown", "active", [], 0),
        TrailEntry(AT, "ev-2", "delivery m-1: hard_bounce (5.1.1 No such user)",
                   "message m-1: Unknown -> Hard bounce -> blocked: hard_bounce", "blocked", ["hard_bounce"], 0),
    ]
    html = address_page(record, ["c-1", "c 2"], trail, 10)
    assert len(Elements(html).with_class("trail-entry")) == 2
    assert "message m-1: Unknown -&gt; Hard bounce -&gt; blocked: hard_bounce" in html
    assert 'href="/contacts/c-1"' in html and 'href="/contacts/c%202"' in html


@pytest.mark.parametrize("header, configured, expected", [
    (None, "s3cret", 401),
    ("", "s3cret", 401),
    ("Basic czNjcmV0", "s3cret", 401),
    ("Bearer ", "s3cret", 401),
    ("Bearer wrong", "s3cret", 403),
    ("Bearer s3cret", None, 403),  # no token configured: the operator API is off
    ("Bearer s3cret", "", 403),
    ("Bearer s3cret", "s3cret", None),
    ("bearer  s3cret ", "s3cret", None),
])
def test_the_bearer_token_check(header, configured, expected):
    problem = check_bearer(header, configured)
    assert (problem[0] if problem else None) == expected


class _Request:
    def __init__(self, accept: str | None) -> None:
        self.headers = {"Accept": accept} if accept is not None else {}


@pytest.mark.parametrize("accept, html", [
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # a browser
    ("*/*", False),  # curl
    (None, False),  # urllib, the integration tests
    ("application/json", False),  # the page's own fetch
    ("application/json, text/html;q=0.5", False),
    ("text/html;q=0.9, application/json;q=0.1", True),
])
def test_html_only_when_the_client_asks_for_it(accept, html):
    assert wants_html(_Request(accept)) is html


def _card(addresses: int, messages: int, total: int | None = None) -> ContactRecord:
    return ContactRecord("c-1", [address(f"a{i}@example.com", "active", []) for i in range(addresses)],
                         [message(f"m-{i}", "delivered") for i in range(messages)],
                         messages if total is None else total)


@pytest.mark.parametrize("addresses, messages, header", [
    (1, 1, "1 address · 1 message"),
    (2, 0, "2 addresses · 0 messages"),
    (0, 3, "0 addresses · 3 messages"),
])
def test_counts_are_plural_only_when_more_than_one(addresses, messages, header):
    html = contact_page(_card(addresses, messages), 10)
    assert f'<p class="sub">{header}</p>' in html


def test_soft_bounce_count_is_singular_for_one():
    html = contact_page(ContactRecord("c-1", [address("a@b.se", "active", [], soft=1)], []), 10)
    assert "1 soft bounce since the latest delivery" in html


@pytest.mark.parametrize("total, note", [
    (250, "150 older messages not shown"),
    (101, "1 older message not shown"),
    (100, None),
    (0, None),  # a record from before `messages_total`: the messages listed are all there are
])
def test_the_messages_tab_says_how_many_older_messages_are_not_shown(total, note):
    html = contact_page(_card(1, 100, total), 10)
    older = re.findall(r'<p class="older">([^<]*)</p>', html)
    assert older == ([note] if note else [])
    assert f"Messages ({total or 100})" in html and f"{total or 100} messages</p>" in html


def test_tabs_name_their_panels_and_only_the_selected_one_is_in_the_tab_order():
    page = Elements(contact_page(_card(1, 1), 10))
    tabs = [a for tag, a in page.tags if a.get("role") == "tab"]
    panels = {a["id"]: a for tag, a in page.tags if a.get("role") == "tabpanel"}
    assert [t["aria-controls"] for t in tabs] == ["panel-addresses", "panel-messages"]
    assert [panels[t["aria-controls"]]["aria-labelledby"] for t in tabs] == [t["id"] for t in tabs]
    assert [(t["aria-selected"], t["tabindex"]) for t in tabs] == [("true", "0"), ("false", "-1")]
    assert "hidden" in panels["panel-messages"] and "hidden" not in panels["panel-addresses"]


def test_the_unblock_form_fields_have_autocomplete_and_the_api_s_limits():
    from streams.operator_api import ACTOR_MAX_CHARS, NOTE_MAX_CHARS

    html = contact_page(ContactRecord("c-1", [address("a@b.se", "blocked", ["hard_bounce"])], []), 10)
    fields = {a["name"]: a for tag, a in Elements(html).tags if tag in ("input", "textarea") and "name" in a}
    assert fields["token"]["type"] == "password" and fields["token"]["autocomplete"] == "current-password"
    assert fields["actor"]["autocomplete"] == "username" and fields["actor"]["maxlength"] == str(ACTOR_MAX_CHARS)
    assert fields["note"]["maxlength"] == str(NOTE_MAX_CHARS) and "required" in fields["note"]


def test_the_pages_have_no_inline_script_or_style_and_name_their_icon():
    from streams.pages import ASSETS, not_found_page

    record = address("a@b.se", "blocked", ["hard_bounce"])
    trail = [TrailEntry(AT, "ev-1", "e", "d", "blocked", ["hard_bounce"], 0)]
    card = ContactRecord("c-1", [record], [message("m-1", "hard_bounce", "No such user", "5.1.1")])
    for html in (contact_page(card, 10), address_page(record, ["c-1"], trail, 10), not_found_page("x")):
        tags = Elements(html).tags
        scripts = [a for tag, a in tags if tag == "script"]
        assert scripts == [{"src": ASSETS["card.js"].url, "defer": None}]
        assert "<style" not in html
        assert not [a for _, a in tags if "style" in a or any(name.startswith("on") for name in a)]
        links = {a["rel"]: a["href"] for tag, a in tags if tag == "link"}
        assert links == {"icon": ASSETS["favicon.svg"].url, "stylesheet": ASSETS["card.css"].url}


def test_the_assets_urls_change_with_their_content():
    from streams.pages import ASSETS, Asset

    for asset in ASSETS.values():
        assert asset.content and asset.url.startswith(f"/assets/{asset.name}?v=")
        assert Asset(asset.name).url == asset.url


def test_links_and_unblock_urls_are_percent_encoded_paths():
    card = ContactRecord("c-1", [address("x{y}@example.com", "blocked", ["hard_bounce"]),
                                 address("+46701234567", "blocked", ["hard_bounce"], channel="sms")], [])
    page = Elements(contact_page(card, 10))
    assert [a["href"] for a in page.with_class("value")] == [
        "/addresses/email/x%7By%7D@example.com", "/addresses/sms/%2B46701234567"]
    assert [b["data-unblock-url"] for b in page.with_class("unblock")] == [
        "/addresses/email/x%7By%7D@example.com/unblock", "/addresses/sms/%2B46701234567/unblock"]
