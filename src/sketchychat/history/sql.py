"""Persistent rooms in a SQL database: one schema, a batched writer, two drivers.

The schema is versioned (``sketchychat_schema``) and migrated at start. Every
table is prefixed, so SketchyChat can share an application's PostgreSQL.

* ``sketchychat_rooms``: one row per persistent room — its history choice, its
  epoch, ``top`` (the last position given out), when it was last active, and
  ``expired_at`` once it expired (the row then stays as a tombstone so its code
  answers ``not_found``; its messages are gone).
* ``sketchychat_messages``: ``(room, seq)`` → the message as JSON.
* ``sketchychat_first_joins``: ``(room, user_id)`` → the position of a person's
  first join, for rooms whose newcomers see only what came after.

Positions are allocated by the database (``UPDATE … SET top = top + n RETURNING``
inside the transaction that inserts the messages), so several nodes, or several
processes on one SQLite file, never hand out one position twice. The room actor
never waits on the database per message: :meth:`SqlStream.submit` queues, and one
writer task commits whatever is queued (every room's) in one transaction, then
reports each message stored — or the error, so a publish is never silently
dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from sketchychat.history.base import Done, Message, Status, StoreUnavailable
from sketchychat.history.batcher import Batcher, Pending
from sketchychat.history.position import new_epoch
from sketchychat.history.retention import Retention, RetentionPolicy

__all__ = ["MIGRATIONS", "Batch", "RoomRow", "SqlDriver", "SqlStore", "SqlStream", "StoreBusy"]

log = logging.getLogger("sketchychat.sql")

#: The schema, one script per version; ``MIGRATIONS[n]`` takes a database from n to n+1.
#: Both dialects read the same statements (types SQLite and PostgreSQL share).
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE sketchychat_rooms (
            code TEXT PRIMARY KEY,
            history TEXT NOT NULL,
            epoch TEXT NOT NULL,
            top BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL,
            active_at BIGINT NOT NULL,
            expired_at BIGINT
        )""",
        """CREATE TABLE sketchychat_messages (
            room TEXT NOT NULL,
            seq BIGINT NOT NULL,
            at BIGINT NOT NULL,
            payload TEXT NOT NULL,
            PRIMARY KEY (room, seq)
        )""",
        "CREATE INDEX sketchychat_messages_at ON sketchychat_messages (at)",
        """CREATE TABLE sketchychat_first_joins (
            room TEXT NOT NULL,
            user_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            PRIMARY KEY (room, user_id)
        )""",
    ],
]

#: How long an expired room's tombstone answers ``not_found``.
_TOMBSTONE_MS = 30 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class RoomRow:
    history: str
    epoch: str
    top: int
    active_at: int
    expired_at: int | None


#: One room's share of a transaction: its messages as ``(at ms, JSON)``.
Batch = dict[str, list[tuple[int, bytes]]]

#: How long a batch keeps trying while another writer holds the database.
_BUSY_PATIENCE = 5.0


class StoreBusy(Exception):
    """Another writer holds the database right now: the batch is tried again soon."""


class SqlDriver(Protocol):
    """The database operations the store needs, in one dialect (SQLite, PostgreSQL)."""

    name: str
    #: Group commit: at most one batch per this many seconds.
    linger: float

    async def exists(self) -> bool:
        """Whether the database is there already (SQLite: the file; a server: yes)."""
        ...

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def migrate(self, migrations: list[list[str]]) -> int:
        """Apply what is missing; the schema version reached."""
        ...

    async def store(self, batch: Batch, now_ms: int) -> dict[str, tuple[str, int] | None]:
        """One transaction: per room, ``(epoch, first seq)`` given out, or None (gone).

        Raises :class:`StoreBusy` (nothing written) when another writer holds the database.
        """
        ...

    async def create_room(self, code: str, history: str, epoch: str, now_ms: int) -> bool:
        """Insert the room's row; False when the code exists (live or tombstone)."""
        ...

    async def room(self, code: str) -> RoomRow | None: ...

    async def after(self, code: str, seq: int, limit: int) -> list[tuple[int, str | bytes]]:
        """``(seq, JSON)`` after ``seq``: the newest ``limit`` of them, oldest first."""
        ...

    async def before(
        self, code: str, seq: int, limit: int, floor: int
    ) -> list[tuple[int, str | bytes]]:
        """``(seq, JSON)`` before ``seq`` and after ``floor``: the newest ``limit``."""
        ...

    async def first_join(self, code: str, user_id: str, seq: int) -> int: ...

    async def touch(self, code: str, now_ms: int) -> None: ...

    async def trim(self, max_count: int, older_than_ms: int) -> None:
        """Drop messages past the retention: older than the cutoff, or beyond the count."""
        ...

    async def expire(self, idle_before_ms: int, now_ms: int) -> list[str]:
        """Rooms idle since before the cutoff: delete their messages, keep a tombstone."""
        ...

    async def expire_one(self, code: str, now_ms: int) -> None:
        """Delete one room's messages now and keep its tombstone."""
        ...

    async def purge(self, tombstones_before_ms: int) -> None: ...


class SqlStream:
    """One persistent room's messages, on this node."""

    __slots__ = ("_code", "_store", "epoch", "top")

    def __init__(self, store: SqlStore, code: str, epoch: str, top: int) -> None:
        self._store = store
        self._code = code
        self.epoch = epoch
        self.top = top

    def submit(self, message: Message, done: Done) -> None:
        self._store.submit(self, message, done)

    async def after(self, seq: int, limit: int) -> list[Message]:
        rows = await self._store.call(self._store.driver.after(self._code, seq, limit))
        return [self._message(s, p) for s, p in rows]

    async def before(self, seq: int, limit: int, floor: int) -> list[Message]:
        rows = await self._store.call(self._store.driver.before(self._code, seq, limit, floor))
        return [self._message(s, p) for s, p in rows]

    async def first_join(self, user_id: str, seq: int) -> int:
        return int(await self._store.call(self._store.driver.first_join(self._code, user_id, seq)))

    def _message(self, seq: int, payload: str | bytes) -> Message:
        message: Message = orjson.loads(payload)
        message["seq"] = seq
        message["epoch"] = self.epoch
        return message


class SqlStore:
    """Implements :class:`~sketchychat.history.base.Store` for persistent rooms."""

    def __init__(self, driver: SqlDriver, policy: RetentionPolicy) -> None:
        self.driver = driver
        self._policy = policy
        self._batcher = Batcher(driver.name, self._write, linger=driver.linger)
        self._started = False
        self._lock = asyncio.Lock()

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Connect and migrate (raises :class:`StoreUnavailable` when it cannot)."""
        async with self._lock:
            if self._started:
                return
            try:
                await self.driver.connect()
                version = await self.driver.migrate(MIGRATIONS)
            except Exception as exc:
                raise StoreUnavailable(f"{self.driver.name}: {type(exc).__name__}") from exc
            log.info("%s ready (schema version %d)", self.driver.name, version)
            self._started = True

    async def has_data(self) -> bool:
        """Whether there is a database to open without creating one."""
        return await self.driver.exists()

    async def stop(self) -> None:
        await self._batcher.stop(drain=2.0)  # what is queued is stored first
        if self._started:
            await self.driver.close()
            self._started = False

    async def call(self, operation: Awaitable[Any]) -> Any:
        """Run a driver call, its failures as :class:`StoreUnavailable`."""
        try:
            return await operation
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"{self.driver.name}: {type(exc).__name__}") from exc

    # -- rooms ----------------------------------------------------------------

    async def create(self, code: str, retention: Retention) -> None:
        await self.start()
        now = _now_ms()
        if not await self.call(self.driver.create_room(code, retention.history, new_epoch(), now)):
            raise StoreUnavailable("room code already taken")

    async def open(self, code: str, retention: Retention) -> SqlStream:
        await self.start()
        row = await self.call(self.driver.room(code))
        if row is None:
            # A code we issued whose row is gone (purged tombstone, a new database):
            # it lives again, empty, under a new epoch.
            await self.call(
                self.driver.create_room(code, retention.history, new_epoch(), _now_ms())
            )
            row = await self.call(self.driver.room(code))
            if row is None:
                raise StoreUnavailable("room row vanished")
        return SqlStream(self, code, row.epoch, row.top)

    async def status(self, code: str) -> Status:
        if not self._started and not await self.driver.exists():
            return "unknown"  # no database yet: asking must not create one
        await self.start()
        row = await self.call(self.driver.room(code))
        if row is None:
            return "unknown"
        return "live" if row.expired_at is None else "expired"

    async def touch(self, code: str) -> None:
        """Someone joined or left: the room's lifetime counts from now."""
        await self.call(self.driver.touch(code, _now_ms()))

    async def sweep(self, now: float) -> list[str]:
        if not self._started:
            return []
        now_ms = int(now * 1000)
        window = self._policy.persistent
        await self.call(self.driver.trim(window.messages, now_ms - int(window.seconds * 1000)))
        idle_ms = int(self._policy.persistent_idle * 1000)
        expired: list[str] = await self.call(self.driver.expire(now_ms - idle_ms, now_ms))
        await self.call(self.driver.purge(now_ms - _TOMBSTONE_MS))
        return expired

    async def delete(self, code: str) -> None:
        await self.call(self.driver.expire_one(code, _now_ms()))

    # -- the writer -----------------------------------------------------------

    def submit(self, stream: SqlStream, message: Message, done: Done) -> None:
        # Not positioned yet: the position is the database's to give, and not stored with it.
        self._batcher.submit(Pending(stream._code, message, orjson.dumps(message), done))

    async def _write(self, taken: list[Pending]) -> None:
        batch: Batch = {}
        for pending in taken:
            batch.setdefault(pending.to, []).append((pending.message["at"], pending.payload))
        loop = asyncio.get_running_loop()
        patience = loop.time() + _BUSY_PATIENCE
        pause = 0.001
        try:
            while True:
                try:
                    given = await self.driver.store(batch, _now_ms())
                    break
                except StoreBusy:
                    if loop.time() > patience:
                        raise
                    await asyncio.sleep(pause)  # another writer's turn: ours comes soon
                    pause = min(pause * 2, 0.05)
        except Exception as exc:
            log.warning(
                "%s could not store %d message(s): %s",
                self.driver.name,
                len(taken),
                type(exc).__name__,
            )
            for pending in taken:
                pending.report(None, "not_stored")
            return
        offsets: dict[str, int] = {}
        for pending in taken:
            result = given.get(pending.to)
            if result is None:
                pending.report(None, "room_gone")
                continue
            epoch, first = result
            index = offsets.get(pending.to, 0)
            offsets[pending.to] = index + 1
            message = pending.message  # the room's own, not shared yet: positioned in place
            message["seq"] = first + index
            message["epoch"] = epoch
            pending.report(message, None)


def _now_ms() -> int:
    return int(time.time() * 1000)
