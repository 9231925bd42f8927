"""The actor machinery under every room: one task, one mailbox, one event at a time.

Everything that changes an actor's state arrives through :meth:`Actor.post` and is
handled in order by its own task, so the state needs no locks and has one order.
An actor may start behind a *gate* (an awaitable that says whether it should live
at all, e.g. "is this room code live cluster-wide?"); items wait in the mailbox
until it answers. An exception while handling one item is the actor's to
recover from (:meth:`Actor._crashed`) and never reaches another actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Actor", "GateUnavailable"]

log = logging.getLogger("sketchychat.actor")

Item = TypeVar("Item")


class GateUnavailable(Exception):
    """The gate cannot answer now (its store is down): what waited is told to retry."""


class Actor(Generic[Item]):
    """A mailbox drained by one task; subclasses say what an item does."""

    def __init__(self, name: str, gate: Callable[[], Awaitable[bool]] | None = None) -> None:
        self._name = name
        self._mailbox: deque[Item] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._gate = gate
        #: False while the gate has not answered (or refused).
        self.admitted = gate is None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)
        if self._gate is None:
            self._admitted()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def post(self, item: Item) -> None:
        """Mailbox entry point; safe to call from any callback on the loop."""
        self._mailbox.append(item)
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- what subclasses define -------------------------------------------

    def _handle(self, item: Item) -> None:
        raise NotImplementedError

    def _crashed(self, exc: Exception) -> None:
        """Handling one item raised: recover (the item is dropped)."""
        raise NotImplementedError

    def _admitted(self) -> None:
        """The actor goes live (at start, or once its gate said yes)."""

    def _turned_away(self, item: Item) -> None:
        """The gate said no: answer an item that waited."""

    def _unavailable(self, item: Item) -> None:
        """The gate could not answer: tell an item that waited to try again."""

    # -- the loop --------------------------------------------------------

    async def _run(self) -> None:
        if self._gate is not None and not await self._pass_gate(self._gate):
            return
        loop = asyncio.get_running_loop()
        mailbox = self._mailbox
        while True:
            if not mailbox:
                self._wakeup = loop.create_future()
                await self._wakeup
                self._wakeup = None
            while mailbox:
                item = mailbox.popleft()
                try:
                    self._handle(item)
                except Exception as exc:
                    self._crashed(exc)

    async def _pass_gate(self, gate: Callable[[], Awaitable[bool]]) -> bool:
        """Wait for the gate; when it refuses, answer what waited and end."""
        try:
            admitted = await gate()
        except GateUnavailable:
            while self._mailbox:
                self._unavailable(self._mailbox.popleft())
            return False
        except Exception:
            log.exception("%s: could not tell whether it should live", self._name)
            admitted = False
        if admitted:
            self.admitted = True
            self._admitted()
            return True
        while self._mailbox:
            self._turned_away(self._mailbox.popleft())
        return False
