"""Option parsing the commands share."""

from __future__ import annotations

from datetime import timezone

import click
import msgspec

from schemas.events import Timestamp


def timestamp(ctx, param, value):
    """A click callback: an RFC 3339 timestamp with an offset, as UTC; None when not given."""
    if value is None:
        return None
    try:
        return msgspec.json.decode(msgspec.json.encode(value), type=Timestamp).astimezone(timezone.utc)
    except msgspec.ValidationError:
        raise click.BadParameter(f"{value!r} is not an RFC 3339 timestamp, e.g. 2026-03-04T10:00:00Z") from None
