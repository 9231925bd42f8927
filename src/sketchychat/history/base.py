"""The store seam: where a room's messages live when the room itself cannot hold them.

A room on a lone node keeps its ephemeral or memory stream in its own
:class:`~sketchychat.history.window.RecentWindow` and needs no store. A
``persistent`` room keeps its messages in a SQL database (SQLite or PostgreSQL),
and a clustered ephemeral or memory room keeps them in Redis, so that every node
agrees on positions and can replay: those rooms open a :class:`Stream` from a
:class:`Store`, and use it without knowing which one it is.

A store never makes a room wait on disk per message: :meth:`Stream.submit` queues
a message for the store's batched writer and reports back once it is stored, with
its position; a publish is acknowledged only then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

from sketchychat.history.retention import Retention

__all__ = ["Done", "Message", "Status", "Store", "StoreUnavailable", "Stream"]

Message = dict[str, Any]
Status = Literal["live", "expired", "unknown"]

#: Called once per submitted message, on the event loop: the stored message (with
#: ``seq`` and ``epoch``) or None, and the reason it could not be stored.
Done = Callable[[Message | None, str | None], None]


class StoreUnavailable(Exception):
    """The store cannot be reached right now (database or Redis down)."""


class Stream(Protocol):
    """One room's messages in a store."""

    @property
    def epoch(self) -> str:
        """The stream's current name; it changes when a store lost the stream."""
        ...

    @property
    def top(self) -> int:
        """The last position stored, as far as this node knows."""
        ...

    def submit(self, message: Message, done: Done) -> None:
        """Queue ``message`` for storing; ``done`` says how it went. Never blocks."""
        ...

    async def after(self, seq: int, limit: int) -> list[Message]:
        """Up to ``limit`` messages after ``seq``, oldest first (the newest ones if more)."""
        ...

    async def before(self, seq: int, limit: int, floor: int) -> list[Message]:
        """Up to ``limit`` messages before ``seq`` and after ``floor``, oldest first."""
        ...

    async def first_join(self, user_id: str, seq: int) -> int:
        """The position at ``user_id``'s first join; records ``seq`` if there is none."""
        ...


class Store(Protocol):
    """The messages of many rooms (the node's SQL database, or the cluster's Redis)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def has_data(self) -> bool:
        """Whether it can be opened without creating anything (SQLite: the file exists)."""
        ...

    async def create(self, code: str, retention: Retention) -> None:
        """A new room is born (SQL: its row). Raises :class:`StoreUnavailable`."""
        ...

    async def open(self, code: str, retention: Retention) -> Stream:
        """The stream of a live room, for this node. Raises :class:`StoreUnavailable`."""
        ...

    async def status(self, code: str) -> Status:
        """Whether the store knows ``code`` as live, expired, or not at all."""
        ...

    async def touch(self, code: str) -> None:
        """The room is in use: its lifetime counts from now."""
        ...

    async def sweep(self, now: float) -> list[str]:
        """Trim to the retention; expire idle rooms. The codes that expired."""
        ...

    async def delete(self, code: str) -> None:
        """Forget everything of a room (it expired or was deleted)."""
        ...
