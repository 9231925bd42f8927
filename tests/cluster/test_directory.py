"""The Redis room directory against a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aredis

from sketchychat.cluster.directory import RedisDirectory
from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.memory import MemoryAdapter
from sketchychat.rooms.room import Room
from tests.cluster.redis_support import namespace as fresh_namespace
from tests.cluster.redis_support import purge, require_redis
from tests.support.peers import RecordingPeer, who

pytestmark = pytest.mark.redis


@pytest.fixture
async def client() -> AsyncIterator[aredis.Redis]:
    url = require_redis()
    c = aredis.Redis.from_url(url)
    yield c
    await c.aclose()
    for ns in _used:
        purge(url, ns)
    _used.clear()


_used: list[str] = []


def namespace() -> str:
    _used.append(fresh_namespace())
    return _used[-1]


def directory(
    client: aredis.Redis,
    ns: str,
    node: str,
    idle: float = 60.0,
    alive: frozenset[str] = frozenset({"n1", "n2"}),
) -> RedisDirectory:
    return RedisDirectory(
        client, namespace=ns, node_id=node, idle_timeout=idle, alive=lambda n: n in alive
    )


async def test_codes_are_claimed_once(client: aredis.Redis) -> None:
    d = directory(client, namespace(), "n1")
    assert await d.create("abcdefghjkmn", 60.0)
    assert not await d.create("abcdefghjkmn", 60.0)
    assert await d.status("abcdefghjkmn") == "live"
    assert await d.status("bcdefghjkmnp") == "unknown"


async def test_a_room_expires_then_stays_a_tombstone(client: aredis.Redis) -> None:
    d = directory(client, namespace(), "n1", idle=0.2)
    assert await d.create("abcdefghjkmn", 0.2)
    await asyncio.sleep(0.3)
    assert await d.status("abcdefghjkmn") == "expired"
    assert not await d.create("abcdefghjkmn", 0.2)  # an expired code is not handed out again
    await d.revive("abcdefghjkmn", 0.2)
    assert await d.status("abcdefghjkmn") == "live"


async def test_occupied_rooms_are_kept_alive_and_counted_once_per_person(
    client: aredis.Redis,
) -> None:
    ns = namespace()
    d1, d2 = directory(client, ns, "n1", idle=0.5), directory(client, ns, "n2", idle=0.5)
    pubsubs = [PubSub(n, MemoryAdapter()) for n in ("n1", "n2")]
    rooms = [Room("abcdefghjkmn", p) for p in pubsubs]
    for room in rooms:
        room.start()
    assert await d1.create("abcdefghjkmn", 0.5)
    rooms[0].join(RecordingPeer(), "1", "1", who("alice", "alice"), {})
    rooms[1].join(RecordingPeer(), "1", "1", who("alice", "alice"), {})  # a second tab elsewhere
    rooms[1].join(RecordingPeer(), "2", "2", who("bob", "bob"), {})
    await asyncio.sleep(0.02)
    for _ in range(6):  # well past the idle timeout, refreshed as a tick would
        await d1.refresh([rooms[0]])
        await d2.refresh([rooms[1]])
        await asyncio.sleep(0.15)
    assert await d1.status("abcdefghjkmn") == "live"
    assert await d1.online("abcdefghjkmn") == 2
    lone = directory(client, ns, "n3", alive=frozenset({"n1"}))  # n2 is dead to this node
    assert await lone.online("abcdefghjkmn") == 1
    await d2.refresh([])  # n2 dropped the room: its people go
    assert await d1.online("abcdefghjkmn") == 1
    for room in rooms:
        await room.stop()
