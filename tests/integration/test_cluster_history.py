"""Issue #8 across nodes: one stream per room, whichever node a client is on.

Real Redis (the machine's, or a throwaway one we restart), real PostgreSQL for
persistent rooms, real ``sketchychat serve`` processes killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.cluster.redis_support import RedisServer, namespace, purge, require_redis
from tests.support.phx import PhxClient, new_session
from tests.support.postgres import drop_database, fresh_database
from tests.support.server import ServerProcess

pytestmark = pytest.mark.redis


def cluster_env(url: str, ns: str, **extra: str) -> dict[str, str]:
    return {
        "SKETCHYCHAT_REDIS_URL": url,
        "SKETCHYCHAT_REDIS_NAMESPACE": ns,
        "SKETCHYCHAT_HEARTBEAT_INTERVAL": "0.25",
        "SKETCHYCHAT_NODE_DOWN_TIMEOUT": "2",
        **extra,
    }


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def ns(redis_url: str) -> Iterator[str]:
    name = namespace()
    yield name
    purge(redis_url, name)


@pytest.fixture
async def database() -> AsyncIterator[str]:
    name, url = await fresh_database()
    yield url
    await drop_database(name)


async def create_room(srv: ServerProcess, body: dict[str, Any]) -> dict[str, Any]:
    from tests.support.http import post_json

    status, room = await post_json(srv.url + "/api/rooms", body)
    assert status == 201, room
    assert isinstance(room, dict)
    return room


async def connect(srv: ServerProcess, token: str) -> PhxClient:
    return await PhxClient.connect(srv.ws_url, token)


async def join(c: PhxClient, topic: str, payload: dict[str, Any] | None = None) -> tuple[str, Any]:
    join_ref, reply = await c.join(topic, payload or {})
    assert reply[4]["status"] == "ok", reply
    return join_ref, reply[4]["response"]


async def say(c: PhxClient, topic: str, join_ref: str, body: str) -> dict[str, Any]:
    ref = await c.push(topic, "new_msg", {"body": body}, join_ref=join_ref)
    reply = await c.reply(ref, timeout=10)
    assert reply[4]["status"] == "ok", reply
    response: dict[str, Any] = reply[4]["response"]
    return response


def messages(c: PhxClient, topic: str, join_ref: str | None = None) -> list[dict[str, Any]]:
    return [
        f[4]
        for f in c.frames
        if f[2] == topic and f[3] == "new_msg" and (f[0] is None or f[0] == join_ref)
    ]


async def until(c: PhxClient, topic: str, body: str) -> None:
    await c.wait(lambda f: f[2] == topic and f[3] == "new_msg" and f[4]["body"] == body, 15)


async def test_nodes_agree_on_positions_and_a_client_recovers_on_another_node(
    redis_url: str, ns: str
) -> None:
    with ExitStack() as stack:
        n1, n2 = (
            stack.enter_context(ServerProcess(env=cluster_env(redis_url, ns))) for _ in range(2)
        )
        room = await create_room(n1, {"retention": "memory"})
        topic = room["topic"]
        alice_s = await new_session(n1.url, "alice")
        bob_s = await new_session(n2.url, "bob")
        alice = await connect(n1, alice_s["token"])
        bob = await connect(n2, bob_s["token"])
        ajr, _ = await join(alice, topic)
        bjr, _ = await join(bob, topic)
        # Both nodes publish at once: every member sees one order, the positions' order.
        acks = await asyncio.gather(
            *(say(alice, topic, ajr, f"a{i}") for i in range(30)),
            *(say(bob, topic, bjr, f"b{i}") for i in range(30)),
        )
        assert sorted(a["seq"] for a in acks) == list(range(1, 61))
        last_body = {a["seq"]: a for a in acks}[60]["id"]
        for c in (alice, bob):
            await c.wait(lambda f: f[3] == "new_msg" and f[4].get("id") == last_body, 15)
        seen_a = [(m["seq"], m["body"]) for m in messages(alice, topic)]
        seen_b = [(m["seq"], m["body"]) for m in messages(bob, topic)]
        assert [s for s, _ in seen_a] == list(range(1, 61))
        assert seen_a == seen_b

        # Alice's train enters a tunnel; she comes out on the other node.
        last = messages(alice, topic)[-1]
        await alice.close()
        for i in range(20):
            await say(bob, topic, bjr, f"missed {i}")
        alice = await connect(n2, alice_s["token"])
        position = {"epoch": last["epoch"], "seq": last["seq"]}
        ajr, answer = await join(alice, topic, {"position": position})
        assert answer["replay"] == {"after": 60, "count": 20, "recovered": True}
        await say(bob, topic, bjr, "live")
        await until(alice, topic, "live")
        assert [m["body"] for m in messages(alice, topic, ajr)] == [
            *(f"missed {i}" for i in range(20)),
            "live",
        ]
        # A newcomer on the first node sees the recent conversation, from Redis.
        carol = await connect(n1, (await new_session(n1.url, "carol"))["token"])
        cjr, answer = await join(carol, topic)
        assert answer["replay"] == {"after": 31, "count": 50}
        await until(carol, topic, "live")
        assert [m["seq"] for m in messages(carol, topic, cjr)] == list(range(32, 82))
        for c in (alice, bob, carol):
            await c.close()


async def test_a_killed_node_loses_no_acknowledged_message_of_a_persistent_room(
    redis_url: str, ns: str, database: str
) -> None:
    env = cluster_env(redis_url, ns, SKETCHYCHAT_DATABASE_URL=database)
    with ExitStack() as stack:
        n1, n2 = (stack.enter_context(ServerProcess(env=env)) for _ in range(2))
        room = await create_room(n1, {"retention": "persistent"})
        topic = room["topic"]
        bob_s = await new_session(n2.url, "bob")
        bob = await connect(n2, bob_s["token"])
        bjr, answer = await join(bob, topic)
        epoch = answer["position"]["epoch"]
        alice = await connect(n1, (await new_session(n1.url, "alice"))["token"])
        ajr, _ = await join(alice, topic)
        await say(alice, topic, ajr, "first")
        await until(bob, topic, "first")
        await bob.close()  # bob saw seq 1 and drops
        # Alice fires 50 messages; the node is killed as soon as the last is acknowledged.
        refs = [
            await alice.push(topic, "new_msg", {"body": f"m{i}"}, join_ref=ajr) for i in range(50)
        ]
        replies = [await alice.reply(ref, timeout=10) for ref in refs]
        acked = [r[4]["response"]["seq"] for r in replies if r[4]["status"] == "ok"]
        os.kill(n1.pid, signal.SIGKILL)
        assert acked == list(range(2, 52))
        bob = await connect(n2, bob_s["token"])
        bjr, answer = await join(bob, topic, {"position": {"epoch": epoch, "seq": 1}})
        assert answer["replay"] == {"after": 1, "count": 50, "recovered": True}
        await until(bob, topic, "m49")
        assert [m["body"] for m in messages(bob, topic, bjr)] == [f"m{i}" for i in range(50)]
        await bob.close()
        await alice.close()


async def test_while_redis_is_down_a_publish_is_an_error_and_after_a_restart_a_gap_is_said(
    ns: str,
) -> None:
    with RedisServer() as redis_server:
        srv = ServerProcess(env=cluster_env(redis_server.url, ns)).start()
        try:
            room = await create_room(srv, {"retention": "memory"})
            topic = room["topic"]
            session = await new_session(srv.url, "alice")
            alice = await connect(srv, session["token"])
            ajr, answer = await join(alice, topic)
            first = await say(alice, topic, ajr, "before")
            epoch = answer["position"]["epoch"]
            redis_server.stop()
            ref = await alice.push(topic, "new_msg", {"body": "while down"}, join_ref=ajr)
            reply = (await alice.reply(ref, timeout=15))[4]
            assert reply["status"] == "error" and reply["response"]["reason"] == "not_stored"
            assert not any(m["body"] == "while down" for m in messages(alice, topic))
            redis_server.start()

            async def stored_again() -> dict[str, Any]:
                for _ in range(100):
                    ref = await alice.push(topic, "new_msg", {"body": "after"}, join_ref=ajr)
                    reply = (await alice.reply(ref, timeout=15))[4]
                    if reply["status"] == "ok":
                        response: dict[str, Any] = reply["response"]
                        return response
                    await asyncio.sleep(0.2)
                raise AssertionError("no message was stored after Redis came back")

            after = await stored_again()
            await until(alice, topic, "after")
            fresh = [m for m in messages(alice, topic) if m["body"] == "after"][-1]
            assert fresh["epoch"] != epoch and after["seq"] == fresh["seq"]
            await alice.close()
            # Someone back with a position in the lost stream is told messages may be missing.
            bob = await connect(srv, (await new_session(srv.url, "bob"))["token"])
            _, answer = await join(bob, topic, {"position": {"epoch": epoch, "seq": first["seq"]}})
            assert answer["replay"]["recovered"] is False
            await bob.close()
        finally:
            srv.stop()
