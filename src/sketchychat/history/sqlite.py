"""SQLite, the embedded default for persistent rooms: a file under ``--data-dir``.

The standard library's ``sqlite3`` runs in one worker thread with one connection,
so the event loop never waits on the disk and SQLite sees one writer per process.
WAL journal with ``synchronous=NORMAL``: a committed transaction survives the
process being killed (it may not survive the machine losing power; FULL would).
Write transactions begin ``IMMEDIATE``, so several processes on one file (the
``--workers`` of one machine) take turns instead of failing, waiting up to 10 s.

The file is created the first time a persistent room is — a server that never
hosts one never touches the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sketchychat.history.sql import Batch, RoomRow

__all__ = ["SqliteDriver"]

T = TypeVar("T")


class SqliteDriver:
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None

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

        self._db = await asyncio.get_running_loop().run_in_executor(self._thread, open_db)

    async def close(self) -> None:
        if self._db is not None and self._thread is not None:
            db = self._db
            await asyncio.get_running_loop().run_in_executor(self._thread, db.close)
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
        def run(db: sqlite3.Connection) -> dict[str, tuple[str, int] | None]:
            given: dict[str, tuple[str, int] | None] = {}
            db.execute("BEGIN IMMEDIATE")
            try:
                for code, messages in batch.items():
                    row = db.execute(
                        "UPDATE sketchychat_rooms SET top = top + ?, active_at = ? "
                        "WHERE code = ? AND expired_at IS NULL RETURNING top, epoch",
                        (len(messages), now_ms, code),
                    ).fetchone()
                    if row is None:
                        given[code] = None
                        continue
                    top, epoch = row
                    first = top - len(messages) + 1
                    db.executemany(
                        "INSERT INTO sketchychat_messages (room, seq, at, payload) "
                        "VALUES (?, ?, ?, ?)",
                        [
                            (code, first + i, at, payload.decode())
                            for i, (at, payload) in enumerate(messages)
                        ],
                    )
                    given[code] = (epoch, first)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return given

        return await self._run(run)

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

    async def after(self, code: str, seq: int, limit: int) -> list[tuple[int, str]]:
        def run(db: sqlite3.Connection) -> list[tuple[int, str]]:
            rows = db.execute(
                "SELECT seq, payload FROM sketchychat_messages WHERE room = ? AND seq > ? "
                "ORDER BY seq DESC LIMIT ?",
                (code, seq, limit),
            ).fetchall()
            return [(s, p) for s, p in reversed(rows)]

        return await self._run(run)

    async def before(self, code: str, seq: int, limit: int, floor: int) -> list[tuple[int, str]]:
        def run(db: sqlite3.Connection) -> list[tuple[int, str]]:
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
