"""What every HTTP answer of a worker carries, and how requests that HTTP cannot parse are logged.

- Security headers, added when any response is prepared (so also to an answer forwarded
  from the worker that owns a key, which faust's router rebuilds without the owner's
  headers): a Content-Security-Policy that allows scripts, styles and images from the
  worker itself only (the pages have no inline script or style: streams/assets/), no
  framing (`frame-ancestors 'none'` and `X-Frame-Options: DENY`), `nosniff`, no referrer
  and, for the pages and the JSON (personal data), no caching.
- A request aiohttp cannot parse (a request line over its 8190-byte limit, a malformed
  header) is the client's error: aiohttp answers 400 and logs it as an ERROR with a
  traceback; it is logged here as one WARNING line instead.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def add_security_headers(request, response) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")


class ParseErrorsAsWarnings(logging.Filter):
    """Turns aiohttp's "Error handling request" record for a request it could not parse
    into one WARNING line without the traceback; every other record passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and str(record.msg).startswith("Error handling request"):
            detail = " ".join(str(exc.message).split())
            record.msg = "refused a request that HTTP could not parse (answered %d): %s: %s"
            record.args = (exc.code, type(exc).__name__, detail[:300])
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
            record.exc_info, record.exc_text = None, None
        return True


def install(web_app) -> None:
    """On the aiohttp application of a faust app (`app.web.web_app`), before it starts."""
    web_app.on_response_prepare.append(add_security_headers)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ParseErrorsAsWarnings) for f in server_log.filters):
        server_log.addFilter(ParseErrorsAsWarnings())
