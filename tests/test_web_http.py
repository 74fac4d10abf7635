"""The worker's HTTP layer without a broker, on a real aiohttp server: the URL of every
address the normaliser accepts comes back as that address (streams/urls.py), every answer
carries the security headers, and a request line over aiohttp's limit is refused without
an ERROR in the log (streams/web_guard.py). The workers themselves: tests/integration."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from projections.normalise import AddressNormaliser
from streams import web_guard
from streams.urls import ADDRESS_ROUTE, CONTACT_ROUTE, UNBLOCK_ROUTE, address_path, contact_path, unblock_path
from tests.odd_addresses import ODD_CONTACTS, ODD_EMAILS, ODD_PHONES


def test_the_odd_addresses_are_ones_the_normaliser_accepts_unchanged():
    normalise = AddressNormaliser()
    assert [normalise("email", a) for a in ODD_EMAILS] == ODD_EMAILS
    assert [normalise("sms", p) for p in ODD_PHONES] == ODD_PHONES


async def _served(app: web.Application, calls):
    async with TestClient(TestServer(app)) as client:
        return await calls(client)


def _echo_app() -> web.Application:
    async def echo(request):
        return web.json_response(dict(request.match_info))

    app = web.Application()
    app.router.add_get(ADDRESS_ROUTE, echo)
    app.router.add_post(UNBLOCK_ROUTE, echo)
    app.router.add_get(CONTACT_ROUTE, echo)
    return app


def test_every_address_and_contact_id_comes_back_from_its_url():
    async def calls(client):
        seen = []
        for channel, value in [("email", a) for a in ODD_EMAILS] + [("sms", p) for p in ODD_PHONES]:
            for method, path in (("GET", address_path(channel, value)), ("POST", unblock_path(channel, value))):
                response = await client.request(method, path)
                seen.append((path, response.status, await response.json() if response.status == 200 else None,
                             {"channel": channel, "address": value}))
        for contact_id in ODD_CONTACTS:
            response = await client.get(contact_path(contact_id))
            seen.append((contact_path(contact_id), response.status,
                         await response.json() if response.status == 200 else None, {"contact_id": contact_id}))
        return seen

    for path, status, matched, expected in asyncio.run(_served(_echo_app(), calls)):
        assert (status, matched) == (200, expected), path


def test_the_paths_are_plain_ascii_and_keep_the_at_sign_readable():
    assert address_path("email", "x{y}@example.com") == "/addresses/email/x%7By%7D@example.com"
    assert address_path("email", "a/b@example.com") == "/addresses/email/a%2Fb@example.com"
    assert address_path("sms", "+46701234567") == "/addresses/sms/%2B46701234567"
    assert unblock_path("email", "x@bücher.de") == "/addresses/email/x@b%C3%BCcher.de/unblock"
    assert contact_path("c/2") == "/contacts/c%2F2"
    assert all(address_path("email", a).isascii() for a in ODD_EMAILS)


def _guarded_app() -> web.Application:
    async def page(request):
        return web.Response(text="<!doctype html><title>x</title>", content_type="text/html")

    async def data(request):
        return web.json_response({"ok": True})

    app = web.Application()
    web_guard.install(app)
    app.router.add_get("/page", page)
    app.router.add_get("/data", data)
    return app


@pytest.mark.parametrize("path, status", [("/page", 200), ("/data", 200), ("/nowhere", 404)])
def test_every_answer_carries_the_security_headers(path, status):
    async def calls(client):
        response = await client.get(path)
        return response.status, response.headers

    got, headers = asyncio.run(_served(_guarded_app(), calls))
    assert got == status
    for name, value in web_guard.SECURITY_HEADERS.items():
        assert headers[name] == value
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"


def test_a_request_line_over_the_limit_is_refused_with_a_warning_not_an_error(caplog):
    async def calls(client):
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(b"GET /contacts/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        status_line = await reader.readline()
        writer.close()
        # and the server still answers the next request
        response = await client.get("/page")
        return status_line, response.status

    with caplog.at_level(logging.DEBUG):
        status_line, after = asyncio.run(_served(_guarded_app(), calls))
    assert status_line.split()[1] in (b"400", b"414") and after == 200
    server = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelname for r in server] == ["WARNING"], [(r.levelname, r.getMessage()) for r in server]
    assert server[0].exc_info is None and "could not parse" in server[0].getMessage()
    assert "LineTooLong" in server[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_other_server_errors_stay_errors():
    record = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "Error handling request from %s",
                               ("127.0.0.1",), (RuntimeError, RuntimeError("boom"), None))
    assert web_guard.ParseErrorsAsWarnings().filter(record)
    assert record.levelno == logging.ERROR and record.exc_info is not None
