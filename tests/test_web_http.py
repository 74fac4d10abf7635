"""The worker's HTTP layer without a broker, on a real aiohttp server: the URL of every
address the normaliser accepts comes back as that address (streams/urls.py). The workers
themselves: tests/integration."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from projections.normalize import AddressNormalizer
from streams.urls import ADDRESS_ROUTE, CONTACT_ROUTE, UNBLOCK_ROUTE, address_path, contact_path, unblock_path
from tests.odd_addresses import ODD_CONTACTS, ODD_EMAILS, ODD_PHONES


def test_the_odd_addresses_are_ones_the_normaliser_accepts_unchanged():
    normalise = AddressNormalizer()
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
