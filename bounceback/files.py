"""The files commands read: checked before any work, standard input as `-`."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import click


@contextmanager
def readable_log(events: str) -> Iterator[str]:
    """The log as a file that can be read more than once: standard input is copied to a
    temporary file first."""
    if events != "-":
        try:
            with open(events, "rb"):
                pass
        except OSError as exc:
            raise click.ClickException(f"cannot read {events}: {exc.strerror or exc}") from None
        yield events
        return
    with tempfile.NamedTemporaryFile(prefix="bounceback-stdin-", suffix=".jsonl") as copy:
        shutil.copyfileobj(sys.stdin.buffer, copy)
        copy.flush()
        yield copy.name


def count_lines(path: str) -> int:
    """For a progress bar's total."""
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def read_input(name: str) -> bytes:
    """The bytes of a FILE argument, `-` for standard input."""
    try:
        if name == "-":
            return sys.stdin.buffer.read()
        with open(name, "rb") as f:
            return f.read()
    except OSError as exc:
        raise click.ClickException(f"cannot read {name}: {exc.strerror or exc}") from None
