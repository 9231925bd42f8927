"""Issue #4: several ``sketchychat serve`` processes behave as one server over real Redis."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.cluster.redis_support import RedisServer, namespace, purge, require_redis
from tests.support.http import get_json
from tests.support.phx import PhxClient, new_room, new_session
from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.redis

DOWN_TIMEOUT = 2.0


def cluster_env(url: str, ns: str, **extra: str) -> dict[str, str]:
    return {
        "SKETCHYCHAT_REDIS_URL": url,
        "SKETCHYCHAT_REDIS_NAMESPACE": ns,
        "SKETCHYCHAT_HEARTBEAT_INTERVAL": "0.25",
        "SKETCHYCHAT_NODE_DOWN_TIMEOUT": str(DOWN_TIMEOUT),
        **extra,
    }


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def nodes(redis_url: str) -> Iterator[Callable[..., list[ServerProcess]]]:
    """Start N nodes of one fresh cluster (its own namespace); all stopped afterwards."""
    ns = namespace()
    with ExitStack() as stack:

        def start(count: int, url: str = redis_url, **extra: str) -> list[ServerProcess]:
            return [
                stack.enter_context(ServerProcess(env=cluster_env(url, ns, **extra)))
                for _ in range(count)
            ]

        yield start
    purge(redis_url, ns)


Member = tuple[PhxClient, str, str]


async def member(srv: ServerProcess, code: str, nickname: str) -> Member:
    """A client joined to ``room:<code>`` on ``srv``: (client, join_ref, user_id)."""
    session = await new_session(srv.url, nickname)
    client = await PhxClient.connect(srv.ws_url, session["token"])
    join_ref, reply = await client.join(f"room:{code}")
    assert reply[4]["status"] == "ok", reply
    return client, join_ref, session["user_id"]


async def pair(n1: ServerProcess, n2: ServerProcess) -> tuple[str, Member, Member]:
    """A room created on n1, alice joined on n1 and bob on n2, alice seeing both."""
    code = await new_room(n1.url)
    alice = await member(n1, code, "alice")
    bob = await member(n2, code, "bob")
    await eventually(sees(alice[0], f"room:{code}", {alice[2], bob[2]}))
    return code, alice, bob


def present(client: PhxClient, topic: str) -> set[str]:
    """The keys a phoenix.js Presence would show, from state + diffs received so far."""
    keys: dict[str, set[str]] = {}
    for frame in client.frames:
        if frame[0] == "binary" or frame[2] != topic:
            continue
        if frame[3] == "presence_state":
            keys = {k: {m["phx_ref"] for m in v["metas"]} for k, v in frame[4].items()}
        elif frame[3] == "presence_diff":
            for k, v in frame[4]["joins"].items():
                keys.setdefault(k, set()).update(m["phx_ref"] for m in v["metas"])
            for k, v in frame[4]["leaves"].items():
                keys.get(k, set()).difference_update(m["phx_ref"] for m in v["metas"])
                if not keys.get(k):
                    keys.pop(k, None)
    return set(keys)


async def eventually(cond: Callable[[], Any], timeout: float = 10.0) -> None:
    """Poll ``cond`` (plain or async) until it holds."""
    async with asyncio.timeout(timeout):
        while True:
            result = cond()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)


def healthz_is(srv: ServerProcess, expected: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        status, _ = await get_json(srv.url + "/healthz")
        return bool(status == expected)

    return check


def sees(client: PhxClient, topic: str, keys: set[str]) -> Callable[[], bool]:
    return lambda: present(client, topic) == keys


async def online(srv: ServerProcess, code: str) -> int | None:
    status, body = await get_json(f"{srv.url}/api/rooms/{code}")
    return body["online"] if status == 200 else None


async def test_three_nodes_share_messages_and_presence_exactly_once(
    nodes: Callable[..., list[ServerProcess]],
) -> None:
    n1, n2, n3 = nodes(3)
    code = await new_room(n1.url)
    topic = f"room:{code}"
    alice, a_ref, alice_id = await member(n1, code, "alice")
    bob, b_ref, bob_id = await member(n2, code, "bob")  # created on n1, joined on n2
    carol, _, carol_id = await member(n3, code, "carol")
    everyone = {alice_id, bob_id, carol_id}
    for client in (alice, bob, carol):
        await eventually(sees(client, topic, everyone))

    await alice.push(topic, "new_msg", {"body": "from n1"}, join_ref=a_ref)
    await bob.push(topic, "new_msg", {"body": "from n2"}, join_ref=b_ref)
    for client in (alice, bob, carol):
        await client.wait(lambda f: f[3] == "new_msg" and f[4]["body"] == "from n1")
        await client.wait(lambda f: f[3] == "new_msg" and f[4]["body"] == "from n2")
    await asyncio.sleep(0.3)
    for client in (alice, bob, carol):  # nothing arrives twice
        assert sorted(f[4]["body"] for f in client.events(topic, "new_msg")) == [
            "from n1",
            "from n2",
        ]
        joins = [k for f in client.events(topic, "presence_diff") for k in f[4]["joins"]]
        assert len(joins) == len(set(joins)), joins

    for srv in (n1, n2, n3):  # counted on every node
        assert await online(srv, code) == 3
    await bob.close()
    await eventually(lambda: present(alice, topic) == {alice_id, carol_id})
    for client in (alice, carol):
        await client.close()


async def test_online_counts_on_a_node_that_does_not_host_the_room(
    nodes: Callable[..., list[ServerProcess]],
) -> None:
    n1, n2 = nodes(2)
    code = await new_room(n1.url)
    assert await online(n2, code) == 0  # exists everywhere once created
    alice, _, _ = await member(n1, code, "alice")

    async def counted_on_n2() -> bool:
        return await online(n2, code) == 1

    await eventually(counted_on_n2)
    status, _ = await get_json(f"{n2.url}/api/rooms/aaaaaaaaaaaa")
    assert status == 404
    await alice.close()


async def test_a_killed_node_has_its_members_leave_elsewhere(
    nodes: Callable[..., list[ServerProcess]],
) -> None:
    n1, n2 = nodes(2)
    code, (alice, _, alice_id), _ = await pair(n1, n2)
    topic = f"room:{code}"
    killed_at = time.monotonic()
    n2.kill()  # SIGKILL: no goodbye
    await eventually(lambda: present(alice, topic) == {alice_id}, timeout=DOWN_TIMEOUT + 5)
    assert time.monotonic() - killed_at >= DOWN_TIMEOUT * 0.5  # by timeout, not by a goodbye
    assert await online(n1, code) == 1
    await alice.close()


async def test_a_restarted_node_comes_back_with_a_fresh_identity(
    nodes: Callable[..., list[ServerProcess]],
    redis_url: str,
) -> None:
    n1, n2 = nodes(2)
    code, (alice, _, alice_id), (bob, _, _) = await pair(n1, n2)
    topic = f"room:{code}"
    first_id = node_id(n2)
    stopped_at = time.monotonic()
    n2.stop()  # graceful: it says goodbye, its members leave at once
    await eventually(lambda: present(alice, topic) == {alice_id}, timeout=DOWN_TIMEOUT)
    assert time.monotonic() - stopped_at < DOWN_TIMEOUT + 1
    await bob.close()

    n2 = ServerProcess(port=n2.port, env=n1.env).start()  # same cluster, same port
    try:
        assert node_id(n2) != first_id
        bob, b_ref, bob_id = await member(n2, code, "bob")
        await eventually(lambda: present(alice, topic) == {alice_id, bob_id})
        await bob.push(topic, "new_msg", {"body": "back"}, join_ref=b_ref)
        await alice.wait(lambda f: f[3] == "new_msg" and f[4]["body"] == "back")
        await bob.close()
    finally:
        n2.stop()
    await alice.close()


def node_id(srv: ServerProcess) -> str:
    for line in srv.lines:
        match = re.search(r"node (n[0-9a-f]+) joining cluster", line)
        if match:
            return match.group(1)
    raise AssertionError("no node id in the log:\n" + "\n".join(srv.lines))


async def test_rooms_expire_cluster_wide(nodes: Callable[..., list[ServerProcess]]) -> None:
    n1, n2 = nodes(2, SKETCHYCHAT_ROOM_IDLE_TIMEOUT="1.5")
    code = await new_room(n1.url)
    alice, _, _ = await member(n2, code, "alice")
    await asyncio.sleep(2.0)  # occupied on n2: alive everywhere past the idle timeout
    assert await online(n1, code) == 1
    await alice.close()

    async def gone_everywhere() -> bool:
        return await online(n1, code) is None and await online(n2, code) is None

    await eventually(gone_everywhere)
    session = await new_session(n1.url)
    client = await PhxClient.connect(n1.ws_url, session["token"])
    _, reply = await client.join(f"room:{code}")
    assert reply[4]["response"]["reason"] == "not_found"
    await client.close()


async def test_the_cluster_heals_after_redis_restarts(
    nodes: Callable[..., list[ServerProcess]],
) -> None:
    with RedisServer() as own_redis:
        n1, n2 = nodes(2, url=own_redis.url)
        code, (alice, a_ref, alice_id), (bob, _, bob_id) = await pair(n1, n2)
        topic = f"room:{code}"

        own_redis.stop()
        for srv in (n1, n2):
            await eventually(healthz_is(srv, 503))
        _, body = await get_json(n1.url + "/healthz")
        assert body["status"] == "degraded" and "redis" in body["problems"]
        # Local members are still served (joins, presence, typing), but a chat message needs a
        # position from Redis: it is refused, never acknowledged and then lost (docs/cluster.md).
        ref = await alice.push(topic, "new_msg", {"body": "during the outage"}, join_ref=a_ref)
        reply = (await alice.reply(ref, timeout=15))[4]
        assert reply["status"] == "error" and reply["response"]["reason"] == "not_stored"
        ref = await alice.push(topic, "typing", {}, join_ref=a_ref)
        assert (await alice.reply(ref))[4]["status"] == "ok"
        carol, _, carol_id = await member(n2, code, "carol")  # joins while the bus is down

        own_redis.start()
        for srv in (n1, n2):
            await eventually(healthz_is(srv, 200), timeout=15)
        # Presence resynced: alice sees carol, who joined during the outage.
        await eventually(lambda: present(alice, topic) == {alice_id, bob_id, carol_id})
        await alice.push(topic, "new_msg", {"body": "after"}, join_ref=a_ref)
        await bob.wait(lambda f: f[3] == "new_msg" and f[4]["body"] == "after")
        assert not [
            f for f in alice.events(topic, "new_msg") if f[4]["body"] == "during the outage"
        ]
        assert any("Redis reachable again" in line for line in n1.lines)
        for client in (alice, bob, carol):
            await client.close()


def test_clustering_without_a_shared_secret_is_refused(redis_url: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sketchychat",
            "serve",
            "--port",
            str(free_port()),
            "--redis-url",
            redis_url,
        ],
        env={"PATH": "/usr/bin:/bin", "SKETCHYCHAT_SECRET": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "shared secret" in proc.stderr


def test_workers_without_redis_are_refused() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sketchychat",
            "serve",
            "--port",
            str(free_port()),
            "--workers",
            "2",
        ],
        env={"PATH": "/usr/bin:/bin", "SKETCHYCHAT_SECRET": "s" * 32},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "--workers needs --redis-url" in proc.stderr


async def test_workers_share_one_port_and_one_room(redis_url: str) -> None:
    ns = namespace()
    env = cluster_env(redis_url, ns)
    with ServerProcess(env=env, args=["--workers", "3"]) as srv:
        ready = [line for line in srv.lines if "listening on" in line.lower()]
        assert len(ready) == 1 and "3 workers" in ready[0]
        code = await new_room(srv.url)
        topic = f"room:{code}"
        clients = [await member(srv, code, f"user{i}") for i in range(6)]
        ids = {user_id for _, _, user_id in clients}
        for client, _, _ in clients:  # whichever worker each landed on
            await eventually(sees(client, topic, ids))
        first, ref, _ = clients[0]
        await first.push(topic, "new_msg", {"body": "to all workers"}, join_ref=ref)
        for client, _, _ in clients:
            await client.wait(lambda f: f[3] == "new_msg" and f[4]["body"] == "to all workers")
        for client, _, _ in clients:
            await client.close()
        assert srv.stop() == 0
    purge(redis_url, ns)


def children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(p) for p in f.read().split()}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


async def test_a_crashed_worker_is_restarted_and_workers_die_with_their_supervisor(
    redis_url: str,
) -> None:
    env = cluster_env(redis_url, namespace())
    with ServerProcess(env=env, args=["--workers", "2"]) as srv:
        first = children(srv.pid)
        assert len(first) == 2
        victim = min(first)
        os.kill(victim, signal.SIGKILL)  # a worker we started (through the supervisor)
        await eventually(lambda: len(children(srv.pid) - first) == 1, timeout=15)
        await eventually(healthz_is(srv, 200))
        workers = children(srv.pid)
        srv.kill()  # kill -9 the supervisor: the orphans notice and stop by themselves
        await eventually(lambda: not any(alive(p) for p in workers), timeout=15)
