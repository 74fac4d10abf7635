"""Option parsing the commands share."""

from __future__ import annotations

import os
from datetime import timedelta, timezone

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


def writable_file(ctx, param, value):
    """A click callback: a file the command can create or overwrite, checked before any work
    (its directory exists and is writable)."""
    if value is None:
        return None
    directory = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(directory):
        raise click.BadParameter(f"cannot write {value}: no directory {directory}")
    if not os.access(directory, os.W_OK) or (os.path.exists(value) and not os.access(value, os.W_OK)):
        raise click.BadParameter(f"cannot write {value}: permission denied")
    return value


class Duration(click.ParamType):
    """A span of time written as a number and a unit: 30d, 72h, 90m."""

    name = "duration"
    _UNITS = {"d": "days", "h": "hours", "m": "minutes"}

    def convert(self, value, param, ctx):
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        unit = self._UNITS.get(text[-1:])
        try:
            amount = float(text[:-1])
        except ValueError:
            amount = None
        if unit is None or amount is None or amount <= 0:
            self.fail(f"{value!r} is not a duration: a number and d, h or m, e.g. 30d or 72h", param, ctx)
        return timedelta(**{unit: amount})


duration = Duration()
