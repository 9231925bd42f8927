"""The registry of a lone node with a persistent store: real SQLite files, real rooms."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sketchychat.history.retention import Retention, RetentionError, RetentionPolicy
from sketchychat.history.sql import SqlStore
from sketchychat.history.sqlite import SqliteDriver
from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.memory import MemoryAdapter
from sketchychat.rooms.codes import RoomCodes
from sketchychat.rooms.registry import RoomRegistry, Stores
from sketchychat.rooms.room import RoomLimits
from tests.support.peers import RecordingPeer, who

SECRET = "registry-test-secret-" + "x" * 16
PERSISTENT = Retention("persistent", "shared")


async def _registry(path: Path | None) -> tuple[RoomRegistry, SqlStore | None]:
    pubsub = PubSub("n1", MemoryAdapter())
    await pubsub.start()
    store = None if path is None else SqlStore(SqliteDriver(path), RetentionPolicy())
    registry = RoomRegistry(
        RoomCodes(SECRET),
        pubsub,
        idle_timeout=0.0,
        limits=RoomLimits(),
        stores=Stores(persistent=store),
    )
    return registry, store


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[tuple[RoomRegistry, SqlStore]]:
    registry, store = await _registry(tmp_path / "rooms.sqlite3")
    assert store is not None
    yield registry, store
    await registry.stop()
    await store.stop()


async def join(registry: RoomRegistry, code: str, user: str = "u1") -> RecordingPeer:
    peer = RecordingPeer()
    room = registry.find_for_join(code)
    assert room is not None
    room.join(peer, "1", "1", who(user, user), {})
    for _ in range(100):
        if peer.resolved:
            break
        await asyncio.sleep(0.01)
    return peer


async def say(registry: RoomRegistry, code: str, peer: RecordingPeer, body: str) -> None:
    room = registry.get(code)
    assert room is not None
    room.push(peer, "1", body, "new_msg", {"body": body})
    for _ in range(200):
        if any(f[1] == body for f in peer.events("phx_reply")):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no reply to {body!r}")


async def test_persistent_rooms_need_a_store() -> None:
    registry, _ = await _registry(None)
    with pytest.raises(RetentionError) as refused:
        await registry.create_room(PERSISTENT)
    assert refused.value.code == "retention_unavailable"
    room = await registry.create_room(Retention("memory", "shared"))  # memory needs none
    assert registry.retention_of(room.code) == Retention("memory", "shared")
    await registry.stop()


async def test_an_unloaded_persistent_room_comes_back_where_it_was(
    sqlite: tuple[RoomRegistry, SqlStore],
) -> None:
    registry, _ = sqlite
    room = await registry.create_room(PERSISTENT)
    code = room.code
    peer = await join(registry, code)
    for body in ("one", "two"):
        await say(registry, code, peer, body)
    registry.get(code).leave(peer, "1")  # type: ignore[union-attr]
    await asyncio.sleep(0.02)
    await registry.sweep(10**9)  # empty past its idle timeout: unloaded, not expired
    assert registry.get(code) is None
    assert await registry.exists(code)
    again = await join(registry, code, "u2")
    reply = again.events("phx_reply")[0][4]
    assert reply["status"] == "ok" and reply["response"]["position"]["seq"] == 2
    assert [m[4]["body"] for m in again.events("new_msg")] == ["one", "two"]


async def test_a_store_that_cannot_open_says_try_again_not_gone(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    registry, store = await _registry(blocker / "rooms.sqlite3")  # cannot be created
    code = RoomCodes(SECRET).mint(PERSISTENT)
    peer = await join(registry, code)
    reply = peer.events("phx_reply")[0][4]
    assert reply["status"] == "error" and reply["response"]["reason"] == "store_unavailable"
    assert peer.resolved == [(f"room:{code}", "1", False)]
    assert registry.get(code) is None  # the next join tries again
    await registry.stop()
    assert store is not None
    await store.stop()
