from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.envelope import Envelope, EnvelopeError
from sketchychat.pubsub.memory import Hub, MemoryAdapter
from tests.pubsub.contract import MakeNodes, PubSubContract


@pytest.fixture
async def make_nodes() -> AsyncIterator[MakeNodes]:
    hub = Hub()
    started: list[PubSub] = []

    async def make(n: int) -> list[PubSub]:
        for i in range(n):
            node = PubSub(f"node{len(started)}-{i}", MemoryAdapter(hub))
            await node.start()
            started.append(node)
        return started[-n:]

    yield make
    for node in started:
        await node.stop()


class TestMemoryAdapter(PubSubContract):
    pass


async def test_a_lone_node_publishes_to_nobody() -> None:
    node = PubSub("solo", MemoryAdapter())
    await node.start()
    node.broadcast("room:x", "msg", {"a": 1})  # must not raise
    assert node.healthy
    await node.stop()


def test_envelopes_round_trip_and_reject_junk() -> None:
    env = Envelope("n1", "room:a", "msg", {"x": [1, "b"]}, target="n2")
    assert Envelope.decode(env.encode()) == env
    for junk in (b"nope", b"[]", b'{"v":2}', b'{"v":1,"n":1,"t":"a","k":"b","d":{}}'):
        with pytest.raises(EnvelopeError):
            Envelope.decode(junk)
