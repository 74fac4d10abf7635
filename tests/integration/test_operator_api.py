"""The operator API and the bounce-list import on a real broker: bearer-token checks for
each state-changing endpoint, changes that go through the log (so replay sees them), the
HTML card from whichever worker is asked, and a re-import that changes nothing."""

from __future__ import annotations

import html
import json
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from streams.operator_api import BODY_MAX_BYTES, NOTE_MAX_CHARS
from streams.pages import ASSETS
from partitions.routing import partition_for
from streams.urls import address_path
from streams.web_guard import SECURITY_HEADERS
from tests.odd_addresses import ODD_EMAILS, ODD_PHONES

pytestmark = pytest.mark.integration

TOKEN = "operator-test-token"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bounce_lists"
THREE = ["email:anna@example.com", "email:bob@example.org", "sms:+46701234567"]
LOG = [
    {"type": "contact", "event_id": "ev-1", "occurred_at": "2026-03-01T07:00:00Z", "contact_id": "c-1",
     "emails": ["carl@example.com"], "phones": []},
    {"type": "delivery", "event_id": "ev-2", "occurred_at": "2026-03-01T08:00:00Z", "channel": "email",
     "address": "carl@example.com", "message_id": "m-1", "status": "hard_bounce", "contact_id": "c-1",
     "bounce_reason": "No such user", "bounce_code": "5.1.1"},
]


def wait_for_card(workers, contact_id: str, timeout: float = 60) -> None:
    """Until every worker answers for the card: under exactly-once a card becomes visible
    to the worker that serves it only when the transaction that wrote it commits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(call(w, "GET", f"/contacts/{contact_id}")[0] == 200 for w in workers):
            return
        time.sleep(0.5)
    raise TimeoutError(f"no card for {contact_id}")


def two_workers_with(cluster, tmp_path, monkeypatch, log: list[dict], contact_id: str):
    """Two workers with the operator token, the log published and applied, and the card of
    `contact_id` served by both."""
    monkeypatch.setenv("BOUNCEBACK_OPERATOR_TOKEN", TOKEN)
    one, two = cluster.worker("w1"), cluster.worker("w2")
    cluster.wait_ready()
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in log))
    cluster.cli("publish", str(path))
    cluster.wait_idle()
    wait_for_card((one, two), contact_id)
    return one, two


def call(worker, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(worker.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def inbound_of_type(cluster, kind: str) -> list[dict]:
    marker = f'"type":"{kind}"'.encode()
    return [json.loads(v) for records in cluster.read("events").values() for _, v, _ in records if marker in v]


def address_json(worker, key: str) -> dict:
    channel, address = key.split(":", 1)
    status, _, body = call(worker, "GET", address_path(channel, address))
    assert status == 200, body
    return json.loads(body)


def assert_token_checks(cluster, worker, method: str, path: str, body: bytes, kind: str) -> None:
    status, headers, answer = call(worker, method, path, body)
    assert status == 401, answer
    assert headers.get("WWW-Authenticate", "").startswith("Bearer")
    status, _, answer = call(worker, method, path, body, bearer("wrong-token"))
    assert status == 403, answer
    assert json.loads(answer)["error"] == "the operator token is wrong"
    assert inbound_of_type(cluster, kind) == [], "a refused request must publish nothing"


def test_operator_endpoints_need_the_token_and_their_changes_go_through_the_log(cluster, tmp_path, monkeypatch):
    one, two = two_workers_with(cluster, tmp_path, monkeypatch, LOG, "c-1")

    # the card: HTML for a browser, JSON for everyone else, from either worker
    for worker in (one, two):
        status, headers, body = call(worker, "GET", "/contacts/c-1", headers={"Accept": "text/html"})
        assert status == 200 and headers["Content-Type"].startswith("text/html"), body
        assert b'data-key="email:carl@example.com" data-state="blocked"' in body
        status, headers, body = call(worker, "GET", "/contacts/c-1")
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert json.loads(body)["addresses"][0]["state"] == "blocked"
        status, _, body = call(worker, "GET", "/contacts/nobody", headers={"Accept": "text/html"})
        assert status == 404 and b"<h1>Not found</h1>" in body

    # manual unblock
    unblock = "/addresses/email/Carl@Example.com/unblock"
    note = json.dumps({"actor": "ops@shop.example", "note": "mailbox restored"}).encode()
    assert_token_checks(cluster, two, "POST", unblock, note, "unblock")
    status, _, answer = call(two, "POST", unblock, b'{"note": "no actor"}', bearer(TOKEN))
    assert status == 400 and "actor" in json.loads(answer)["error"]
    status, _, answer = call(two, "POST", "/addresses/email/not-an-email/unblock", note, bearer(TOKEN))
    assert status == 400
    status, _, answer = call(two, "POST", unblock, note, bearer(TOKEN))
    assert status == 202, answer
    assert json.loads(answer)["address"] == "email:carl@example.com"

    # bounce-list upload
    upload = "/bounce-lists?list=bounced&source=invalid_rows.csv"
    csv = (FIXTURES / "invalid_rows.csv").read_bytes()
    assert_token_checks(cluster, one, "POST", upload, csv, "bounce_list")
    status, _, answer = call(one, "POST", "/bounce-lists?list=nope", csv, bearer(TOKEN))
    assert status == 400
    status, _, answer = call(one, "POST", upload, csv, {**bearer(TOKEN), "Content-Type": "text/csv"})
    assert status == 200, answer
    summary = json.loads(answer)
    assert (summary["imported"], summary["duplicates"], summary["invalid"]) == (3, 1, 6)
    assert [row["line"] for row in summary["invalid_rows"]] == [3, 4, 5, 7, 8, 10]
    status, _, answer = call(one, "POST", upload + "&dry_run=1", csv, bearer(TOKEN))
    assert status == 200 and json.loads(answer)["dry_run"] is True
    cluster.wait_idle()

    carl = address_json(one, "email:carl@example.com")
    assert carl["record"]["state"] == "active"
    assert carl["trail"][-1]["event"] == "manual unblock by ops@shop.example: mailbox restored"
    for key in THREE:
        record = address_json(two, key)["record"]
        assert (record["state"], record["reasons"]) == ("blocked", ["bounce_list"])
    assert len(inbound_of_type(cluster, "bounce_list")) == 3  # the dry run published nothing
    assert [u["actor"] for u in inbound_of_type(cluster, "unblock")] == ["ops@shop.example"]

    # replay of the log as applied gives the live state: the changes went through the log
    exported = cluster.workdir / "export.jsonl"
    cluster.cli("export-log", "--out", str(exported))
    expected = cluster.replay(exported, "replay")
    suppressions, _ = cluster.live_outputs()
    assert suppressions == expected[0]
    assert {json.loads(s)["address"] for s in suppressions} == {"anna@example.com", "bob@example.org", "+46701234567"}


def test_import_bounce_list_publishes_each_row_once_and_a_re_import_changes_nothing(cluster):
    worker = cluster.worker("w1")
    cluster.wait_ready()
    path = str(FIXTURES / "invalid_rows.csv")
    result = cluster.cli("import-bounce-list", path, "--list", "unsubscribed")
    assert result.stdout.decode().strip() == (
        f"{path}: 11 lines: imported to {cluster.prefix}.events 3 entries (list unsubscribed); "
        "1 duplicates within the file; 6 invalid; 0 blank; header row: yes; separator ','")
    reported = [line.split(":", 2)[1] for line in result.stderr.decode().splitlines() if line.startswith(path)]
    assert reported == ["3", "4", "5", "7", "8", "10"]
    cluster.wait_idle()
    suppressions_before = cluster.read("suppressions")
    records = {key: address_json(worker, key)["record"] for key in THREE}
    assert {k: (r["state"], r["reasons"]) for k, r in records.items()} == dict.fromkeys(
        THREE, ("unsubscribed", ["unsubscribed"]))
    assert sum(len(r) for r in suppressions_before.values()) == 3

    # the same file again (and the same entries in another layout): nothing changes
    cluster.cli("import-bounce-list", path, "--list", "unsubscribed")
    cluster.cli("import-bounce-list", str(FIXTURES / "semicolon_header.csv"), "--list", "unsubscribed")
    cluster.wait_idle()
    assert cluster.read("suppressions") == suppressions_before
    for key in THREE:
        answer = address_json(worker, key)
        assert answer["record"] == records[key]
        assert answer["trail"][-1]["decision"].endswith("already applied -> ignored")
    assert len(inbound_of_type(cluster, "bounce_list")) == 9  # sent again, applied once


class Page(HTMLParser):
    """The start tags of a page, with their attributes."""

    def __init__(self, html: bytes) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html.decode())

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def with_class(self, name: str) -> list[dict]:
        return [a for _, a in self.tags if name in (a.get("class") or "").split()]


def test_every_address_the_normaliser_accepts_reaches_its_page_and_the_operator_api(cluster, tmp_path, monkeypatch):
    """Braces, `|`, `'`, `+`, `/`, `%`, `?`, `#`, unicode local parts, IDN domains and E.164
    numbers: each address's link on the card opens its page and its Unblock URL unblocks
    it, from the worker that owns it and from one that forwards the request."""
    keys = [("email", a) for a in ODD_EMAILS] + [("sms", p) for p in ODD_PHONES]
    log = [{"type": "contact", "event_id": "ev-c", "occurred_at": "2026-03-01T07:00:00Z", "contact_id": "c-odd",
            "emails": ODD_EMAILS, "phones": ODD_PHONES}]
    log += [{"type": "delivery", "event_id": f"ev-{i}", "occurred_at": "2026-03-01T08:00:00Z", "channel": channel,
             "address": value, "message_id": f"m-{i}", "status": "hard_bounce", "contact_id": "c-odd"}
            for i, (channel, value) in enumerate(keys)]
    one, two = two_workers_with(cluster, tmp_path, monkeypatch, log, "c-odd")

    status, _, body = call(one, "GET", "/contacts/c-odd", headers={"Accept": "text/html"})
    assert status == 200
    card = Page(body)
    items = card.with_class("address")
    assert [i["data-key"] for i in items] == [f"{c}:{v}" for c, v in keys]
    assert all(i["data-state"] == "blocked" for i in items)
    links = [a["href"] for a in card.with_class("value")]
    unblock_urls = [b["data-unblock-url"] for b in card.with_class("unblock")]
    assert links == [address_path(c, v) for c, v in keys]
    assert unblock_urls == [f"{link}/unblock" for link in links]

    for n, ((channel, value), link, unblock_url) in enumerate(zip(keys, links, unblock_urls)):
        for worker in (one, two):
            status, headers, body = call(worker, "GET", link, headers={"Accept": "text/html"})
            assert status == 200 and headers["Content-Type"].startswith("text/html"), (worker.name, value, body[:200])
            assert f'data-key="{html.escape(f"{channel}:{value}")}"'.encode() in body, (worker.name, value)
            status, _, body = call(worker, "GET", link)
            assert status == 200 and json.loads(body)["record"]["address"] == value, (worker.name, value, body[:200])
        status, _, answer = call((one, two)[n % 2], "POST", unblock_url,
                                 json.dumps({"actor": "ops", "note": f"unblock {value}"}).encode(), bearer(TOKEN))
        assert status == 202, (value, answer)
        assert json.loads(answer)["address"] == f"{channel}:{value}"
    cluster.wait_idle()

    for channel, value in keys:
        status, _, body = call(two, "GET", address_path(channel, value))
        assert json.loads(body)["record"]["state"] == "active", value
    assert sorted((u["channel"], u["address"]) for u in inbound_of_type(cluster, "unblock")) == sorted(keys)
    assert sum(len(r) for r in cluster.read("dead-letters").values()) == 0


def _unknown_addresses(partitions: int) -> list[str]:
    """Addresses no event mentions, one owned by each partition (so each worker is asked
    about some it owns and some another worker owns)."""
    found: dict[int, str] = {}
    for n in range(1000):
        candidate = f"nobody{n}@example.com"
        found.setdefault(partition_for(f"email:{candidate}", partitions), candidate)
        if len(found) == partitions:
            return list(found.values())
    raise AssertionError("no address for some partition")


def test_requests_the_pipeline_would_drop_are_refused_before_anything_is_published(cluster, tmp_path, monkeypatch):
    one, two = two_workers_with(cluster, tmp_path, monkeypatch, LOG, "c-1")
    unblock = "/addresses/email/carl@example.com/unblock"

    def post(worker, body: dict | bytes, path: str = unblock):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, _, answer = call(worker, "POST", path, raw, bearer(TOKEN))
        return status, json.loads(answer)["error"] if status >= 400 else json.loads(answer)

    # the 70 kB note the worker used to dead-letter after a 202, and a body near 1 MB (was a 500)
    assert post(one, {"actor": "ops", "note": "x" * 70_000}) == (
        400, f"note is 70000 characters, over the limit of {NOTE_MAX_CHARS} - at `$.note`")
    assert post(two, {"actor": "ops", "note": "x" * 1_000_000}) == (
        400, f"note is 1000000 characters, over the limit of {NOTE_MAX_CHARS} - at `$.note`")
    status, error = post(one, {"actor": "ops", "note": "x" * 1_100_000})
    assert status == 413 and str(BODY_MAX_BYTES) in error
    assert post(two, {"actor": "ops"}) == (400, "note is required - at `$.note`")
    assert post(one, {"actor": "o" * 201, "note": "n"})[0] == 400
    for address in _unknown_addresses(cluster.partitions):
        for worker in (one, two):
            status, error = post(worker, {"actor": "ops", "note": "n"}, f"/addresses/email/{address}/unblock")
            assert (status, error) == (404, f"no event has mentioned email:{address}: there is nothing to unblock")
    assert inbound_of_type(cluster, "unblock") == [], "a refused request must publish nothing"

    # the one request that may pass, passes, and the pipeline applies it
    status, answer = post(two, {"actor": "ops", "note": "mailbox restored"})
    assert status == 202, answer
    cluster.wait_idle()
    assert address_json(one, "email:carl@example.com")["record"]["state"] == "active"
    assert len(inbound_of_type(cluster, "unblock")) == 1
    assert sum(len(r) for r in cluster.read("dead-letters").values()) == 0


def test_every_page_carries_the_security_headers_and_its_assets(cluster, tmp_path, monkeypatch):
    one, two = two_workers_with(cluster, tmp_path, monkeypatch, LOG, "c-1")

    # one of the two workers owns c-1 and the other forwards: both answers carry the headers
    for worker in (one, two):
        for path, accept, status in [("/contacts/c-1", "text/html", 200), ("/contacts/c-1", "application/json", 200),
                                     ("/addresses/email/carl@example.com", "text/html", 200),
                                     ("/contacts/nobody", "text/html", 404)]:
            got, headers, body = call(worker, "GET", path, headers={"Accept": accept})
            assert got == status, (worker.name, path, body[:200])
            for name, value in SECURITY_HEADERS.items():
                assert headers.get(name) == value, (worker.name, path, name)
        for asset in ASSETS.values():
            got, headers, body = call(worker, "GET", asset.url)
            assert (got, headers["Content-Type"].split(";")[0], body) == (200, asset.content_type, asset.content)
        got, headers, _ = call(worker, "GET", "/favicon.ico")
        assert (got, headers["Content-Type"]) == (200, "image/svg+xml")

    # a URL over aiohttp's request-line limit: refused, logged as one warning, no traceback
    before = one.log_path.stat().st_size
    status, _, _ = call(one, "GET", "/contacts/" + "a" * 9000)
    assert status in (400, 414)
    assert call(one, "GET", "/contacts/c-1")[0] == 200
    time.sleep(1)
    logged = one.log_path.read_bytes()[before:].decode(errors="replace")
    assert "refused a request that HTTP could not parse (answered 400): LineTooLong" in logged
    assert "ERROR" not in logged and "Traceback" not in logged, logged
