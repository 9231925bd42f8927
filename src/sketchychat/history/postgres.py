"""PostgreSQL for persistent rooms at scale: ``SKETCHYCHAT_DATABASE_URL=postgresql://…``.

asyncpg (the ``postgres`` extra), a small pool. Positions come from the room's
row (``UPDATE … SET top = top + n RETURNING``) in the transaction that inserts
the messages: the row lock orders writers from every node, so positions are
unique and gap-free cluster-wide. Every table is prefixed ``sketchychat_``, so the
schema can live in an application's own database.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from sketchychat.history.sql import Batch, RoomRow

__all__ = ["PostgresDriver"]

#: Serializes migrations of several nodes starting at once (any constant will do).
_MIGRATION_LOCK = 0x5C4A7C4A7


class PostgresDriver:
    name = "postgresql"
    #: Group commit: at most one batch per this many seconds (one round trip each).
    linger = 0.001

    def __init__(self, url: str) -> None:
        self._url = url
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the PostgreSQL store is not connected")
        return self._pool

    async def exists(self) -> bool:
        return True

    async def connect(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._url, min_size=1, max_size=4, command_timeout=10, timeout=5
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def migrate(self, migrations: list[list[str]]) -> int:
        async with self.pool.acquire() as db, db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await db.execute("CREATE TABLE IF NOT EXISTS sketchychat_schema (version INTEGER)")
            version = await db.fetchval("SELECT version FROM sketchychat_schema")
            if version is None:
                await db.execute("INSERT INTO sketchychat_schema VALUES (0)")
                version = 0
            for script in migrations[version:]:
                for statement in script:
                    await db.execute(statement)
                version += 1
            await db.execute("UPDATE sketchychat_schema SET version = $1", version)
            return int(version)

    async def store(self, batch: Batch, now_ms: int) -> dict[str, tuple[str, int] | None]:
        """Three round trips per batch, however many rooms it holds."""
        codes = sorted(batch)
        given: dict[str, tuple[str, int] | None] = dict.fromkeys(codes)
        async with self.pool.acquire() as db, db.transaction():
            # Lock the rooms' rows in one order in every transaction: nodes never deadlock.
            rows = await db.fetch(
                "SELECT code, top, epoch FROM sketchychat_rooms "
                "WHERE code = ANY($1::text[]) AND expired_at IS NULL ORDER BY code FOR UPDATE",
                codes,
            )
            if not rows:
                return given
            live = [row["code"] for row in rows]
            await db.execute(
                "UPDATE sketchychat_rooms r SET top = r.top + c.n, active_at = $3 "
                "FROM unnest($1::text[], $2::bigint[]) AS c(code, n) WHERE r.code = c.code",
                live,
                [len(batch[code]) for code in live],
                now_ms,
            )
            records: list[tuple[str, int, int, str]] = []
            for row in rows:
                code, first = row["code"], row["top"] + 1
                records.extend(
                    (code, first + i, at, payload.decode())
                    for i, (at, payload) in enumerate(batch[code])
                )
                given[code] = (row["epoch"], first)
            await db.copy_records_to_table(
                "sketchychat_messages", records=records, columns=["room", "seq", "at", "payload"]
            )
        return given

    async def create_room(self, code: str, history: str, epoch: str, now_ms: int) -> bool:
        status = await self.pool.execute(
            "INSERT INTO sketchychat_rooms (code, history, epoch, top, created_at, active_at) "
            "VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT (code) DO NOTHING",
            code,
            history,
            epoch,
            now_ms,
        )
        return bool(status.endswith(" 1"))

    async def room(self, code: str) -> RoomRow | None:
        row = await self.pool.fetchrow(
            "SELECT history, epoch, top, active_at, expired_at FROM sketchychat_rooms "
            "WHERE code = $1",
            code,
        )
        return None if row is None else RoomRow(*row)

    async def after(self, code: str, seq: int, limit: int) -> list[tuple[int, str | bytes]]:
        rows = await self.pool.fetch(
            "SELECT seq, payload FROM sketchychat_messages WHERE room = $1 AND seq > $2 "
            "ORDER BY seq DESC LIMIT $3",
            code,
            seq,
            limit,
        )
        return [(r["seq"], r["payload"]) for r in reversed(rows)]

    async def before(
        self, code: str, seq: int, limit: int, floor: int
    ) -> list[tuple[int, str | bytes]]:
        rows = await self.pool.fetch(
            "SELECT seq, payload FROM sketchychat_messages WHERE room = $1 AND seq < $2 "
            "AND seq > $3 ORDER BY seq DESC LIMIT $4",
            code,
            seq,
            floor,
            limit,
        )
        return [(r["seq"], r["payload"]) for r in reversed(rows)]

    async def first_join(self, code: str, user_id: str, seq: int) -> int:
        async with self.pool.acquire() as db:
            await db.execute(
                "INSERT INTO sketchychat_first_joins (room, user_id, seq) VALUES ($1, $2, $3) "
                "ON CONFLICT (room, user_id) DO NOTHING",
                code,
                user_id,
                seq,
            )
            value: Any = await db.fetchval(
                "SELECT seq FROM sketchychat_first_joins WHERE room = $1 AND user_id = $2",
                code,
                user_id,
            )
            return int(value)

    async def touch(self, code: str, now_ms: int) -> None:
        await self.pool.execute(
            "UPDATE sketchychat_rooms SET active_at = $1 WHERE code = $2 AND expired_at IS NULL",
            now_ms,
            code,
        )

    async def trim(self, max_count: int, older_than_ms: int) -> None:
        async with self.pool.acquire() as db:
            await db.execute("DELETE FROM sketchychat_messages WHERE at < $1", older_than_ms)
            await db.execute(
                "DELETE FROM sketchychat_messages m USING sketchychat_rooms r "
                "WHERE r.code = m.room AND m.seq <= r.top - $1",
                max_count,
            )

    async def expire(self, idle_before_ms: int, now_ms: int) -> list[str]:
        async with self.pool.acquire() as db, db.transaction():
            rows = await db.fetch(
                "UPDATE sketchychat_rooms SET expired_at = $1 WHERE expired_at IS NULL "
                "AND active_at < $2 RETURNING code",
                now_ms,
                idle_before_ms,
            )
            codes = [r["code"] for r in rows]
            if codes:
                await db.execute("DELETE FROM sketchychat_messages WHERE room = ANY($1)", codes)
                await db.execute("DELETE FROM sketchychat_first_joins WHERE room = ANY($1)", codes)
            return codes

    async def expire_one(self, code: str, now_ms: int) -> None:
        async with self.pool.acquire() as db, db.transaction():
            await db.execute("DELETE FROM sketchychat_messages WHERE room = $1", code)
            await db.execute("DELETE FROM sketchychat_first_joins WHERE room = $1", code)
            await db.execute(
                "UPDATE sketchychat_rooms SET expired_at = $1 WHERE code = $2", now_ms, code
            )

    async def purge(self, tombstones_before_ms: int) -> None:
        await self.pool.execute(
            "DELETE FROM sketchychat_rooms WHERE expired_at < $1", tombstones_before_ms
        )
