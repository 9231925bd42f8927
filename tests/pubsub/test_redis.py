"""The Redis adapter passes the adapter contract, and survives Redis going away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.envelope import Envelope
from sketchychat.pubsub.redis import RedisAdapter
from tests.cluster.redis_support import RedisServer, namespace, require_redis
from tests.pubsub.contract import Inbox, MakeNodes, PubSubContract, settle

pytestmark = pytest.mark.redis


@pytest.fixture
async def make_nodes() -> AsyncIterator[MakeNodes]:
    url = require_redis()
    ns = namespace()
    started: list[PubSub] = []

    async def make(n: int) -> list[PubSub]:
        for i in range(n):
            node = PubSub(f"node{len(started)}-{i}", RedisAdapter(url, namespace=ns))
            await node.start()
            started.append(node)
        return started[-n:]

    yield make
    for node in started:
        await node.stop()


class TestRedisAdapter(PubSubContract):
    pass


async def eventually(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if cond():
                return
            await asyncio.sleep(0.02)


def adapter_of(node: PubSub) -> RedisAdapter:
    adapter = node.adapter
    assert isinstance(adapter, RedisAdapter)
    return adapter


def answerer(node: PubSub, to: str, topic: str) -> Callable[[Envelope], None]:
    return lambda env: node.direct(to, topic, "presence", {})


async def test_a_sync_request_is_sent_only_once_its_topic_is_subscribed(
    make_nodes: MakeNodes,
) -> None:
    """The subscription barrier: an answer to what we publish right after subscribing
    can never arrive before we listen (a room's sync_req depends on it)."""
    a, b = await make_nodes(2)
    answers = Inbox()
    for i in range(20):  # a fresh topic each time: the barrier must hold every time
        topic = f"room:fresh{i}"
        b.subscribe(topic, answerer(b, a.node_id, topic))
        await settle(0.05)
        a.subscribe(topic, answers)
        a.broadcast(topic, "sync_req", {})
    await answers.wait_for(20)


async def test_publishing_while_redis_is_down_drops_and_the_adapter_heals() -> None:
    with RedisServer() as server:
        a = PubSub("a", RedisAdapter(server.url, namespace="t", backoff=(0.05, 0.3)))
        b = PubSub("b", RedisAdapter(server.url, namespace="t", backoff=(0.05, 0.3)))
        await a.start()
        await b.start()
        inbox = Inbox()
        b.subscribe("room:x", inbox)
        await settle()
        a.broadcast("room:x", "msg", {"n": 0})
        await inbox.wait_for(1)
        generation = adapter_of(a).generation

        server.stop()
        await eventually(lambda: not a.healthy and not b.healthy)
        a.broadcast("room:x", "msg", {"n": 1})  # lost: at most once, documented
        assert adapter_of(a).dropped >= 1 and adapter_of(a).down_for is not None

        server.start()  # same port, empty Redis
        await eventually(lambda: a.healthy and b.healthy)
        assert adapter_of(a).generation > generation  # the cluster layer will resync
        a.broadcast("room:x", "msg", {"n": 2})
        await inbox.wait_for(2)
        assert [e.data["n"] for e in inbox.items] == [0, 2]
        await a.stop()
        await b.stop()


async def test_an_unreachable_redis_does_not_stop_a_node_from_starting() -> None:
    with RedisServer() as server:
        url = server.url
    node = PubSub("lonely", RedisAdapter(url, namespace="t", backoff=(0.05, 0.2)))
    await node.start()  # returns after a bounded wait
    assert not node.healthy
    node.broadcast("room:x", "msg", {})  # dropped, never raises
    await node.stop()
