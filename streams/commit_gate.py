"""Keeps faust's commits out of the middle of a batch.

Faust commits on a timer, in a task of its own: the offsets the agents finished so far
and, under exactly-once, the transaction holding everything sent so far. The agents
record a batch's offsets as finished only after its outputs are sent and its state is
written, so a commit in between would make the outputs permanent without the offsets: a
worker killed then would process the batch again and send them twice. The gate makes a
commit wait until no batch is in flight, and a new batch wait while a commit is waiting,
so commits are not starved by a busy stream. (streams/fence.py routes faust's commits
through it.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class CommitGate:
    def __init__(self) -> None:
        self._batches = 0
        self._commits_waiting = 0
        self._no_batches = asyncio.Event()
        self._no_batches.set()
        self._no_commits = asyncio.Event()
        self._no_commits.set()

    async def enter(self) -> None:
        """Before a batch sends anything."""
        while self._commits_waiting:
            await self._no_commits.wait()
        self._batches += 1
        self._no_batches.clear()

    def leave(self) -> None:
        """Once the batch's state is written; its events are acknowledged right after."""
        self._batches -= 1
        if not self._batches:
            self._no_batches.set()

    async def commit(self, commit: Callable[[], Awaitable[T]]) -> T:
        self._commits_waiting += 1
        self._no_commits.clear()
        try:
            while self._batches:
                await self._no_batches.wait()
            return await commit()
        finally:
            self._commits_waiting -= 1
            if not self._commits_waiting:
                self._no_commits.set()
