"""The persistent store, one contract for SQLite and PostgreSQL, against the real things.

PostgreSQL is the machine's (127.0.0.1:5432, database ``test``); every test gets a
schema of its own, dropped afterwards. SQLite is a file in the test's tmp dir.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sketchychat.history.base import Message, StoreUnavailable
from sketchychat.history.retention import Retention, RetentionPolicy, Window
from sketchychat.history.sql import SqlStore
from sketchychat.history.sqlite import SqliteDriver
from tests.support.postgres import drop_schema, fresh_schema

SHARED = Retention("persistent", "shared")
POLICY = RetentionPolicy(persistent=Window(5, 3600.0), persistent_idle=60.0)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    if request.param == "sqlite":
        s = SqlStore(SqliteDriver(tmp_path / "data" / "rooms.sqlite3"), POLICY)
        yield s
        await s.stop()
        return
    request.applymarker(pytest.mark.postgres)
    from sketchychat.history.postgres import PostgresDriver

    schema, url = await fresh_schema()
    s = SqlStore(PostgresDriver(url), POLICY)
    try:
        yield s
    finally:
        await s.stop()
        await drop_schema(schema)


async def stored(stream: Any, body: str, at: int = 10**12) -> Message:
    done: asyncio.Future[tuple[Message | None, str | None]] = (
        asyncio.get_running_loop().create_future()
    )
    stream.submit(
        {"id": body, "user_id": "u", "nickname": "n", "body": body, "at": at},
        lambda m, r: done.set_result((m, r)),
    )
    message, reason = await done
    assert reason is None and message is not None
    return message


async def test_positions_are_given_in_order_and_survive_a_reopen(store: SqlStore) -> None:
    await store.create("room1", SHARED)
    stream = await store.open("room1", SHARED)
    first = [await stored(stream, f"m{i}") for i in range(3)]
    assert [m["seq"] for m in first] == [1, 2, 3]
    assert {m["epoch"] for m in first} == {stream.epoch}
    again = await store.open("room1", SHARED)
    assert again.top == 3 and again.epoch == stream.epoch
    assert [m["body"] for m in await again.after(1, 10)] == ["m1", "m2"]


async def test_a_batch_from_many_rooms_is_one_write(store: SqlStore) -> None:
    for code in ("a", "b"):
        await store.create(code, SHARED)
    a, b = await store.open("a", SHARED), await store.open("b", SHARED)
    results: list[tuple[str, int]] = []
    done = asyncio.Event()

    def record(name: str) -> Any:
        def got(message: Message | None, reason: str | None) -> None:
            assert message is not None
            results.append((name, message["seq"]))
            if len(results) == 6:
                done.set()

        return got

    for i in range(3):
        for name, stream in (("a", a), ("b", b)):
            stream.submit({"id": f"{name}{i}", "at": 10**12, "body": "x"}, record(name))
    await asyncio.wait_for(done.wait(), 5)
    assert sorted(results) == [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("b", 3)]


async def test_after_and_before_page_through_the_newest(store: SqlStore) -> None:
    await store.create("r", SHARED)
    stream = await store.open("r", SHARED)
    for i in range(5):
        await stored(stream, f"m{i}")
    assert [m["seq"] for m in await stream.after(0, 2)] == [4, 5]
    assert [m["seq"] for m in await stream.before(5, 2, 0)] == [3, 4]
    assert [m["seq"] for m in await stream.before(5, 10, 2)] == [3, 4]


async def test_first_join_is_recorded_once(store: SqlStore) -> None:
    await store.create("r", SHARED)
    stream = await store.open("r", SHARED)
    assert await stream.first_join("alice", 7) == 7
    assert await stream.first_join("alice", 9) == 7
    assert await stream.first_join("bob", 9) == 9


async def test_retention_trims_by_count_and_age(store: SqlStore) -> None:
    await store.create("r", SHARED)
    stream = await store.open("r", SHARED)
    import time

    now_ms = int(time.time() * 1000)
    await stored(stream, "ancient", at=now_ms - 7200_000)
    for i in range(7):
        await stored(stream, f"m{i}", at=now_ms)
    await store.sweep(time.time())
    kept = await stream.after(0, 100)
    assert [m["body"] for m in kept] == ["m2", "m3", "m4", "m5", "m6"]  # 5 kept, none ancient


async def test_an_idle_room_expires_leaves_a_tombstone_and_refuses_messages(
    store: SqlStore,
) -> None:
    import time

    await store.create("r", SHARED)
    stream = await store.open("r", SHARED)
    await stored(stream, "hello")
    assert await store.status("r") == "live"
    assert await store.sweep(time.time() + 3600) == ["r"]
    assert await store.status("r") == "expired"
    assert await stream.after(0, 10) == []
    done: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
    stream.submit({"id": "late", "at": 1, "body": "x"}, lambda m, r: done.set_result(r))
    assert await done == "room_gone"
    with pytest.raises(StoreUnavailable):
        await store.create("r", SHARED)  # the tombstone keeps the code taken


async def test_an_unknown_code_opens_as_a_fresh_room(store: SqlStore) -> None:
    assert await store.status("never") == "unknown"
    stream = await store.open("never", SHARED)
    assert stream.top == 0 and await store.status("never") == "live"


async def test_nothing_is_created_until_a_room_is(tmp_path: Path) -> None:
    path = tmp_path / "lazy" / "rooms.sqlite3"
    s = SqlStore(SqliteDriver(path), POLICY)
    assert not await s.has_data()
    assert await s.status("anything") == "unknown"
    assert not path.exists() and not path.parent.exists()
    await s.create("r", SHARED)
    assert path.exists() and await s.has_data()
    await s.stop()


async def test_a_database_that_cannot_be_reached_is_store_unavailable() -> None:
    from sketchychat.history.postgres import PostgresDriver

    s = SqlStore(PostgresDriver("postgresql://nobody@127.0.0.1:1/none"), POLICY)
    with pytest.raises(StoreUnavailable):
        await s.create("r", SHARED)
    await s.stop()


@pytest.mark.postgres
async def test_a_database_outage_is_an_error_for_each_message_then_passes() -> None:
    """PostgreSQL goes away under a running store: every publish hears "not_stored"."""
    from sketchychat.history.postgres import PostgresDriver
    from tests.support.postgres import (
        cut_database,
        drop_database,
        fresh_database,
        restore_database,
    )

    name, url = await fresh_database()
    s = SqlStore(PostgresDriver(url), POLICY)
    try:
        await s.create("r", SHARED)
        stream = await s.open("r", SHARED)
        await stored(stream, "before")
        await cut_database(name)
        try:
            done: asyncio.Future[tuple[Message | None, str | None]] = (
                asyncio.get_running_loop().create_future()
            )
            stream.submit(
                {"id": "x", "body": "during", "at": 10**12},
                lambda m, r: done.set_result((m, r)),
            )
            assert await asyncio.wait_for(done, 30) == (None, "not_stored")
            with pytest.raises(StoreUnavailable):
                await stream.after(0, 10)
        finally:
            await restore_database(name)
        assert (await stored(stream, "after"))["seq"] == 2
        assert [m["body"] for m in await stream.after(0, 10)] == ["before", "after"]
    finally:
        await s.stop()
        await drop_database(name)


async def test_sqlite_waits_its_turn_when_another_writer_holds_the_file(tmp_path: Path) -> None:
    """A --workers sibling (here: another connection) holds the write lock: the batch is
    tried again, never blocking the event loop, and stored once the lock is free."""
    import sqlite3

    path = tmp_path / "shared.sqlite3"
    s = SqlStore(SqliteDriver(path), POLICY)
    try:
        await s.create("r", SHARED)
        stream = await s.open("r", SHARED)
        sibling = sqlite3.connect(path, isolation_level=None)
        sibling.execute("BEGIN IMMEDIATE")  # the sibling's write transaction
        done: asyncio.Future[Message | None] = asyncio.get_running_loop().create_future()
        stream.submit({"id": "x", "body": "waits", "at": 10**12}, lambda m, r: done.set_result(m))
        ticks = 0
        while not done.done() and ticks < 20:  # the loop keeps running meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not done.done()
        sibling.execute("COMMIT")
        sibling.close()
        stored = await asyncio.wait_for(done, 5)
        assert stored is not None and stored["seq"] == 1
    finally:
        await s.stop()
