"""SQLite, the embedded default for persistent rooms: a file under ``--data-dir``.

WAL journal with ``synchronous=NORMAL``: a committed transaction survives the
process being killed (not necessarily the machine losing power; FULL would).

Two connections, so that the event loop never waits on the disk:

* **the writer**, used on the event loop for one thing: a batch of messages (every
  room's, at most one batch per millisecond: group commit) in one short
  transaction. In WAL mode a commit appends to the log in the page cache — no
  fsync — so a batch costs the loop its CPU time (about 10 µs a message), which
  is less than handing it to a thread on a busy core would. It never waits for a
  lock: when another writer holds the database (a ``--workers`` sibling on the same
  file, or our own thread), the batch is tried again a moment later.
* **a worker thread's**, for everything else: reads (replays, scroll-back),
  rooms and first joins, sweeps, and the checkpoints that copy the log into the
  database and fsync it (the writer never checkpoints).

The file is created the first time a persistent room is — a server that never
hosts one never touches the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sketchychat.history.sql import Batch, RoomRow, StoreBusy

__all__ = ["SqliteDriver"]

T = TypeVar("T")

#: How often the log is copied into the database (by the worker thread).
_CHECKPOINT_EVERY = 1.0


class SqliteDriver:
    name = "sqlite"
    #: Group commit: at most one batch per this many seconds.
    linger = 0.001

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._checkpoints: asyncio.Task[None] | None = None
        self._written = False

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._thread is None or self._db is None:
            raise RuntimeError("the SQLite store is not connected")
        db = self._db
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, db)

    async def exists(self) -> bool:
        return self.path.exists()

    async def connect(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

        def open_db() -> sqlite3.Connection:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=10000")
            return db

        loop = asyncio.get_running_loop()
        self._db = await loop.run_in_executor(self._thread, open_db)
        # The loop's writer: never waits for a lock, never checkpoints.
        writer = sqlite3.connect(self.path, isolation_level=None, timeout=0.0)
        writer.execute("PRAGMA synchronous=NORMAL")
        writer.execute("PRAGMA busy_timeout=0")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        self._writer = writer
        self._checkpoints = loop.create_task(self._checkpoint_forever())

    async def _checkpoint_forever(self) -> None:
        while True:
            await asyncio.sleep(_CHECKPOINT_EVERY)
            if self._written:
                self._written = False
                with contextlib.suppress(sqlite3.Error):
                    await self._run(lambda db: db.execute("PRAGMA wal_checkpoint(PASSIVE)"))

    async def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoints
            self._checkpoints = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._db is not None and self._thread is not None:
            db = self._db

            def finish() -> None:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                db.close()

            await asyncio.get_running_loop().run_in_executor(self._thread, finish)
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        self._db = None
        self._thread = None

    async def migrate(self, migrations: list[list[str]]) -> int:
        def run(db: sqlite3.Connection) -> int:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("CREATE TABLE IF NOT EXISTS sketchychat_schema (version INTEGER)")
                row = db.execute("SELECT version FROM sketchychat_schema").fetchone()
                version = row[0] if row else 0
                if row is None:
                    db.execute("INSERT INTO sketchychat_schema VALUES (0)")
                for script in migrations[version:]:
                    for statement in script:
                        db.execute(statement)
                    version += 1
                db.execute("UPDATE sketchychat_schema SET version = ?", (version,))
                db.execute("COMMIT")
                return version
            except BaseException:
                db.execute("ROLLBACK")
                raise

        return await self._run(run)

    async def store(self, batch: Batch, now_ms: int) -> dict[str, tuple[str, int] | None]:
        """On the loop, at once (see the module's docstring); :class:`StoreBusy` when
        another writer holds the database."""
        if self._writer is None:
            raise RuntimeError("the SQLite store is not connected")
        db = self._writer
        given: dict[str, tuple[str, int] | None] = {}
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise StoreBusy(str(exc)) from exc
            raise
        try:
            # Two statements for the rooms, one for the messages, however many rooms.
            db.executemany(
                "UPDATE sketchychat_rooms SET top = top + ?, active_at = ? "
                "WHERE code = ? AND expired_at IS NULL",
                [(len(messages), now_ms, code) for code, messages in batch.items()],
            )
            marks = ",".join("?" * len(batch))
            rows = db.execute(
                f"SELECT code, top, epoch FROM sketchychat_rooms WHERE code IN ({marks}) "
                "AND expired_at IS NULL",
                list(batch),
            ).fetchall()
            records: list[tuple[str, int, int, bytes]] = []
            for code, top, epoch in rows:
                messages = batch[code]
                first = top - len(messages) + 1
                # The JSON goes in as it is (a BLOB in a TEXT column: SQLite keeps it
                # byte for byte and gives back bytes, which orjson reads as they are).
                records.extend(
                    (code, first + i, at, payload) for i, (at, payload) in enumerate(messages)
                )
                given[code] = (epoch, first)
            db.executemany(
                "INSERT INTO sketchychat_messages (room, seq, at, payload) VALUES (?, ?, ?, ?)",
                records,
            )
            for code in batch:
                given.setdefault(code, None)  # expired (or never created): refused
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        self._written = True
        return given

    async def create_room(self, code: str, history: str, epoch: str, now_ms: int) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT INTO sketchychat_rooms (code, history, epoch, top, created_at, "
                "active_at) VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT (code) DO NOTHING",
                (code, history, epoch, now_ms, now_ms),
            )
            return cursor.rowcount == 1

        return await self._run(run)

    async def room(self, code: str) -> RoomRow | None:
        def run(db: sqlite3.Connection) -> RoomRow | None:
            row = db.execute(
                "SELECT history, epoch, top, active_at, expired_at FROM sketchychat_rooms "
                "WHERE code = ?",
                (code,),
            ).fetchone()
            return None if row is None else RoomRow(*row)

        return await self._run(run)

    async def after(self, code: str, seq: int, limit: int) -> list[tuple[int, str | bytes]]:
        def run(db: sqlite3.Connection) -> list[tuple[int, str | bytes]]:
            rows = db.execute(
                "SELECT seq, payload FROM sketchychat_messages WHERE room = ? AND seq > ? "
                "ORDER BY seq DESC LIMIT ?",
                (code, seq, limit),
            ).fetchall()
            return [(s, p) for s, p in reversed(rows)]

        return await self._run(run)

    async def before(
        self, code: str, seq: int, limit: int, floor: int
    ) -> list[tuple[int, str | bytes]]:
        def run(db: sqlite3.Connection) -> list[tuple[int, str | bytes]]:
            rows = db.execute(
                "SELECT seq, payload FROM sketchychat_messages WHERE room = ? AND seq < ? "
                "AND seq > ? ORDER BY seq DESC LIMIT ?",
                (code, seq, floor, limit),
            ).fetchall()
            return [(s, p) for s, p in reversed(rows)]

        return await self._run(run)

    async def first_join(self, code: str, user_id: str, seq: int) -> int:
        def run(db: sqlite3.Connection) -> int:
            db.execute(
                "INSERT INTO sketchychat_first_joins (room, user_id, seq) VALUES (?, ?, ?) "
                "ON CONFLICT (room, user_id) DO NOTHING",
                (code, user_id, seq),
            )
            row = db.execute(
                "SELECT seq FROM sketchychat_first_joins WHERE room = ? AND user_id = ?",
                (code, user_id),
            ).fetchone()
            return int(row[0])

        return await self._run(run)

    async def touch(self, code: str, now_ms: int) -> None:
        await self._run(
            lambda db: db.execute(
                "UPDATE sketchychat_rooms SET active_at = ? WHERE code = ? AND expired_at IS NULL",
                (now_ms, code),
            )
        )

    async def trim(self, max_count: int, older_than_ms: int) -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM sketchychat_messages WHERE at < ?", (older_than_ms,))
            # Per room, by primary-key range: no scan of every message of every room.
            long_rooms = db.execute(
                "SELECT code, top FROM sketchychat_rooms WHERE expired_at IS NULL AND top > ?",
                (max_count,),
            ).fetchall()
            for code, top in long_rooms:
                db.execute(
                    "DELETE FROM sketchychat_messages WHERE room = ? AND seq <= ?",
                    (code, top - max_count),
                )

        await self._run(run)

    async def expire(self, idle_before_ms: int, now_ms: int) -> list[str]:
        def run(db: sqlite3.Connection) -> list[str]:
            db.execute("BEGIN IMMEDIATE")
            try:
                codes = [
                    r[0]
                    for r in db.execute(
                        "SELECT code FROM sketchychat_rooms WHERE expired_at IS NULL "
                        "AND active_at < ?",
                        (idle_before_ms,),
                    )
                ]
                for code in codes:
                    _forget(db, code, now_ms)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return codes

        return await self._run(run)

    async def expire_one(self, code: str, now_ms: int) -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                _forget(db, code, now_ms)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        await self._run(run)

    async def purge(self, tombstones_before_ms: int) -> None:
        await self._run(
            lambda db: db.execute(
                "DELETE FROM sketchychat_rooms WHERE expired_at < ?", (tombstones_before_ms,)
            )
        )


def _forget(db: sqlite3.Connection, code: str, now_ms: int) -> Any:
    db.execute("DELETE FROM sketchychat_messages WHERE room = ?", (code,))
    db.execute("DELETE FROM sketchychat_first_joins WHERE room = ?", (code,))
    return db.execute("UPDATE sketchychat_rooms SET expired_at = ? WHERE code = ?", (now_ms, code))


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the write lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)
