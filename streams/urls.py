"""How an address or a contact id becomes a URL path, and the routes that read it back.

A path segment is built with `quote`, which percent-encodes everything but letters,
digits, `_.-~` (and `@` in addresses, for readable links): so `/`, `%`, `?`, `#`, `{`,
`}`, `|`, `'`, `+` and every non-ASCII character are encoded. aiohttp matches a route
against the path decoded except for `%2F` and `%25`, and decodes those two in the values
it hands over, so the route variable must accept every decoded character but `/`:
aiohttp's default `[^{}/]+` refuses `{` and `}`, which a valid email may contain
(`x{y}@example.com`). Forwarding to the worker that owns a key (faust's router) sends the
path on as it came, still encoded.
"""

from __future__ import annotations

from urllib.parse import quote

SEGMENT = "[^/]+"
ADDRESS_ROUTE = "/addresses/{channel}/{address:" + SEGMENT + "}"
UNBLOCK_ROUTE = ADDRESS_ROUTE + "/unblock"
CONTACT_ROUTE = "/contacts/{contact_id:" + SEGMENT + "}"
BOUNCE_LISTS_ROUTE = "/bounce-lists"


def address_path(channel: str, address: str) -> str:
    return f"/addresses/{quote(channel, safe='')}/{quote(address, safe='@')}"


def unblock_path(channel: str, address: str) -> str:
    return address_path(channel, address) + "/unblock"


def contact_path(contact_id: str) -> str:
    return f"/contacts/{quote(contact_id, safe='')}"
