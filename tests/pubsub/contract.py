"""The contract every PubSub adapter passes (phoenix_pubsub's shared suite idea).

An adapter test module provides a ``make_nodes`` fixture returning an async
factory of N started PubSub instances that can reach each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.envelope import Envelope

MakeNodes = Callable[[int], Awaitable[list[PubSub]]]


class Inbox:
    def __init__(self) -> None:
        self.items: list[Envelope] = []
        self._event = asyncio.Event()

    def __call__(self, env: Envelope) -> None:
        self.items.append(env)
        self._event.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Envelope]:
        async with asyncio.timeout(timeout):
            while len(self.items) < count:
                self._event.clear()
                await self._event.wait()
        return self.items


async def settle(seconds: float = 0.2) -> None:
    await asyncio.sleep(seconds)


class PubSubContract:
    async def test_a_broadcast_reaches_every_other_node_once(self, make_nodes: MakeNodes) -> None:
        a, b, c = await make_nodes(3)
        inbox_b, inbox_c, inbox_a = Inbox(), Inbox(), Inbox()
        b.subscribe("room:x", inbox_b)
        c.subscribe("room:x", inbox_c)
        a.subscribe("room:x", inbox_a)
        await settle()
        a.broadcast("room:x", "msg", {"n": 1})
        assert [e.data for e in await inbox_b.wait_for(1)] == [{"n": 1}]
        assert [e.data for e in await inbox_c.wait_for(1)] == [{"n": 1}]
        await settle()
        assert inbox_a.items == []  # own echo dropped
        assert len(inbox_b.items) == 1

    async def test_envelopes_carry_origin_topic_and_kind(self, make_nodes: MakeNodes) -> None:
        a, b = await make_nodes(2)
        inbox = Inbox()
        b.subscribe("room:y", inbox)
        await settle()
        a.broadcast("room:y", "presence", {"joins": []})
        (env,) = await inbox.wait_for(1)
        assert (env.node, env.topic, env.kind) == (a.node_id, "room:y", "presence")

    async def test_only_subscribers_of_the_topic_receive(self, make_nodes: MakeNodes) -> None:
        a, b = await make_nodes(2)
        inbox = Inbox()
        b.subscribe("room:one", inbox)
        await settle()
        a.broadcast("room:two", "msg", {})
        a.broadcast("room:one", "msg", {"ok": True})
        (env,) = await inbox.wait_for(1)
        assert env.topic == "room:one"

    async def test_direct_reaches_only_its_target(self, make_nodes: MakeNodes) -> None:
        a, b, c = await make_nodes(3)
        inbox_b, inbox_c = Inbox(), Inbox()
        b.subscribe("room:z", inbox_b)
        c.subscribe("room:z", inbox_c)
        await settle()
        a.direct(c.node_id, "room:z", "presence", {"x": 1})
        await inbox_c.wait_for(1)
        await settle()
        assert inbox_b.items == []

    async def test_order_is_kept_between_two_nodes(self, make_nodes: MakeNodes) -> None:
        a, b = await make_nodes(2)
        inbox = Inbox()
        b.subscribe("room:o", inbox)
        await settle()
        for i in range(200):
            a.broadcast("room:o", "msg", {"i": i})
        got = await inbox.wait_for(200)
        assert [e.data["i"] for e in got] == list(range(200))

    async def test_unsubscribed_topics_go_quiet(self, make_nodes: MakeNodes) -> None:
        a, b = await make_nodes(2)
        inbox = Inbox()
        b.subscribe("room:q", inbox)
        await settle()
        b.unsubscribe("room:q")
        await settle()
        a.broadcast("room:q", "msg", {})
        await settle(0.3)
        assert inbox.items == []
