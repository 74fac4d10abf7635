"""Keeps faust's commits out of the middle of a batch.

Faust commits on a timer, in a task of its own: the offsets of the events acknowledged so
far and, under exactly-once, the transaction holding everything sent so far. The agents
acknowledge a batch's events only after its outputs are sent and its state is written, so
a commit in between would make the outputs permanent without the offsets: a worker killed
then would process the batch again and send them twice. The gate makes a commit wait until
no batch is in flight, and a new batch wait while a commit is waiting, so commits are not
starved by a busy stream.

A batch leaves the gate without awaiting anything (`leave` is plain), so the events are
acknowledged (faust's take_events does that as the loop comes round) before a waiting
commit can run.
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

    def guard(self, consumer, flush: Callable[[], Awaitable[None]]) -> None:
        """Route the consumer's commits through the gate (once). `flush` hands what the
        batches buffered (faust sends changelog records later, from a buffer) to the
        producer before the commit: faust flushes it before an at-least-once commit, but not
        before committing a transaction, which would then commit the batch's offsets
        without its state."""
        force_commit = consumer.force_commit
        if getattr(force_commit, "_through_gate", False):
            return

        async def flushed_commit(*args, **kwargs):
            await flush()
            return await force_commit(*args, **kwargs)

        async def gated(*args, **kwargs):
            return await self.commit(lambda: flushed_commit(*args, **kwargs))

        gated._through_gate = True
        consumer.force_commit = gated
