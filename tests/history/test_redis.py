"""The Redis store of clustered rooms, against real Redis servers.

The machine's Redis for the contract; a throwaway ``redis-server`` of our own
for what a Redis restart or outage does to a stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aredis

from sketchychat.history.base import Message, StoreUnavailable
from sketchychat.history.redis import RedisStore
from sketchychat.history.retention import Retention, RetentionPolicy, Window
from tests.cluster.redis_support import RedisServer, purge, require_redis
from tests.cluster.redis_support import namespace as fresh_namespace

pytestmark = pytest.mark.redis

MEMORY = Retention("memory", "shared")
POLICY = RetentionPolicy(memory=Window(1000, 3600.0), recovery=Window(200, 120.0))


def _store(client: aredis.Redis, ns: str, policy: RetentionPolicy = POLICY) -> RedisStore:
    return RedisStore(client, namespace=ns, policy=policy, room_idle=60.0)


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
async def ns(redis_url: str) -> AsyncIterator[str]:
    name = fresh_namespace()
    yield name
    purge(redis_url, name)


@pytest.fixture
async def store(redis_url: str, ns: str) -> AsyncIterator[RedisStore]:
    client = aredis.Redis.from_url(redis_url)
    s = _store(client, ns)
    yield s
    await s.stop()
    await client.aclose()


async def submit(
    stream: Any, body: str, at: int | None = None
) -> tuple[Message | None, str | None]:
    done: asyncio.Future[tuple[Message | None, str | None]] = (
        asyncio.get_running_loop().create_future()
    )
    at = int(time.time() * 1000) if at is None else at
    stream.submit(
        {"id": body, "user_id": "u", "nickname": "n", "body": body, "at": at},
        lambda m, r: done.set_result((m, r)),
    )
    return await asyncio.wait_for(done, 10)


async def stored(stream: Any, body: str, at: int | None = None) -> Message:
    message, reason = await submit(stream, body, at)
    assert reason is None and message is not None
    return message


async def test_positions_follow_each_other_and_a_reopen_continues(store: RedisStore) -> None:
    stream = await store.open("room1", MEMORY)
    assert stream.top == 0
    first = [await stored(stream, f"m{i}") for i in range(3)]
    assert [m["seq"] for m in first] == [1, 2, 3]
    assert {m["epoch"] for m in first} == {stream.epoch}
    again = await store.open("room1", MEMORY)
    assert (again.epoch, again.top) == (stream.epoch, 3)
    assert [m["body"] for m in await again.after(1, 10)] == ["m1", "m2"]


async def test_two_nodes_never_give_out_one_position_twice(redis_url: str, ns: str) -> None:
    clients = [aredis.Redis.from_url(redis_url) for _ in range(2)]
    stores = [_store(c, ns) for c in clients]
    try:
        streams = [await s.open("shared", MEMORY) for s in stores]
        assert streams[0].epoch == streams[1].epoch
        results = await asyncio.gather(*(stored(streams[i % 2], f"m{i}") for i in range(100)))
        assert sorted(m["seq"] for m in results) == list(range(1, 101))
        back = await streams[0].after(0, 200)
        assert [m["seq"] for m in back] == list(range(1, 101))
        by_seq = {m["seq"]: m["body"] for m in results}
        assert [m["body"] for m in back] == [by_seq[s] for s in range(1, 101)]
    finally:
        for s in stores:
            await s.stop()
        for c in clients:
            await c.aclose()


async def test_after_and_before_page_through_the_newest(store: RedisStore) -> None:
    stream = await store.open("r", MEMORY)
    for i in range(5):
        await stored(stream, f"m{i}")
    assert [m["seq"] for m in await stream.after(0, 2)] == [4, 5]
    assert [m["seq"] for m in await stream.before(5, 2, 0)] == [3, 4]
    assert [m["seq"] for m in await stream.before(5, 10, 2)] == [3, 4]
    assert await stream.after(5, 10) == []


async def test_messages_past_the_age_bound_are_not_served(store: RedisStore) -> None:
    stream = await store.open("r", MEMORY)
    old = int(time.time() * 1000) - 2 * 3600 * 1000
    await stored(stream, "too old", at=old)
    await stored(stream, "recent")
    assert [m["body"] for m in await stream.after(0, 10)] == ["recent"]


async def test_first_join_is_recorded_once(store: RedisStore) -> None:
    stream = await store.open("r", MEMORY)
    assert await stream.first_join("alice", 7) == 7
    assert await stream.first_join("alice", 9) == 7
    assert await stream.first_join("bob", 9) == 9


async def test_the_stream_is_capped_near_its_count(redis_url: str, ns: str) -> None:
    client = aredis.Redis.from_url(redis_url)
    s = _store(client, ns, RetentionPolicy(memory=Window(100, 3600.0)))
    try:
        stream = await s.open("r", MEMORY)
        await asyncio.gather(*(stored(stream, f"m{i}") for i in range(2000)))
        length = await client.xlen(f"{ns}:h:r:log")
        assert 100 <= length < 400  # MAXLEN ~ trims by whole nodes
        newest = await stream.after(0, 100)
        assert [m["seq"] for m in newest] == list(range(1901, 2001))
    finally:
        await s.stop()
        await client.aclose()


async def test_a_redis_restart_starts_a_new_epoch() -> None:
    """What Redis forgot cannot be replayed: the next write names a new stream."""
    with RedisServer() as server:
        client = aredis.Redis.from_url(server.url)
        s = _store(client, "sc")
        try:
            stream = await s.open("r", MEMORY)
            before = [await stored(stream, f"m{i}") for i in range(3)]
            server.stop()
            message, reason = await submit(stream, "while down")
            assert message is None and reason == "not_stored"  # an error, never a silent drop
            with pytest.raises(StoreUnavailable):
                await stream.after(0, 10)
            with pytest.raises(StoreUnavailable):
                await s.open("r", MEMORY)
            server.start()
            await client.connection_pool.disconnect()
            after = await stored(stream, "after the restart")
            assert after["epoch"] != before[0]["epoch"] and after["seq"] == 1
        finally:
            await s.stop()
            await client.aclose()
