"""One writer per store: messages queue without waiting and are stored in batches.

A room never waits on a store per message: :meth:`Batcher.submit` only queues.
One task takes whatever is queued — every room's — and hands it to the store in
one write (a SQL transaction, a Redis pipeline). Each message is reported once,
stored or not: a write that fails, or a store that stops with messages still
queued, reports them ``not_stored``, so no publish ever waits for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sketchychat.history.base import Done, Message

__all__ = ["Batcher", "Pending"]

log = logging.getLogger("sketchychat.history")

#: Messages one write takes at most (the rest wait for the next).
BATCH = 2048


@dataclass(slots=True)
class Pending:
    """A message on its way to a store, and who to tell how it went (once)."""

    #: Where it goes (a room code, a stream): the store groups a batch by it.
    to: Any
    message: Message
    #: The message as the store keeps it (JSON, without its position).
    payload: bytes
    done: Done | None

    def report(self, stored: Message | None, reason: str | None) -> None:
        done, self.done = self.done, None
        if done is not None:
            done(stored, reason)


class Batcher:
    def __init__(
        self,
        name: str,
        write: Callable[[list[Pending]], Awaitable[None]],
        *,
        linger: float = 0.0,
    ) -> None:
        self._name = name
        self._write = write
        #: After the first message of a batch, wait this long for others to join it.
        self._linger = linger
        self._queue: list[Pending] = []
        self._wake = asyncio.Event()
        #: Set while nothing is queued or being written.
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        #: When the last write began (loop time).
        self._last = float("-inf")

    def submit(self, pending: Pending) -> None:
        self._queue.append(pending)
        self._idle.clear()
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, drain: float) -> None:
        """Give what is queued ``drain`` seconds to be stored; report the rest not stored."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), drain)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        queued, self._queue = self._queue, []
        for pending in queued:
            pending.report(None, "not_stored")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                # Group commit: at most one write per ``linger`` seconds, so a busy room's
                # messages share a transaction; a quiet one's first message waits for none.
                wait = self._last + self._linger - loop.time()
                if wait > 0 and len(self._queue) < BATCH:
                    await asyncio.sleep(wait)
                continue
            self._last = loop.time()
            taken, self._queue = self._queue[:BATCH], self._queue[BATCH:]
            try:
                await self._write(taken)
            except Exception as exc:
                # A store reports its own failures; anything else must not stop the writer.
                # Only the type: an exception's text may quote what it was given.
                log.error(
                    "%s: a batch of %d message(s) failed with %s",
                    self._name,
                    len(taken),
                    type(exc).__name__,
                )
            finally:
                # Also when the store stops mid-write: a no-op for every one reported already.
                for pending in taken:
                    pending.report(None, "not_stored")
