"""Rooms that remember, when asked (issue #8), over real sockets against real servers.

Retention chosen at creation; positions on every message; exact recovery on rejoin;
history for newcomers; scroll-back over the socket and HTTP; persistent rooms on
SQLite surviving a restart and a kill -9; and an ephemeral or memory room that
writes nothing to disk.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.http import get_json, post_json
from tests.support.phx import PhxClient, new_session
from tests.support.postgres import drop_database, fresh_database
from tests.support.server import ServerProcess


async def create_room(srv: ServerProcess, body: dict[str, Any]) -> dict[str, Any]:
    status, room = await post_json(srv.url + "/api/rooms", body)
    assert status == 201, room
    assert isinstance(room, dict)
    return room


async def client(srv: ServerProcess, nickname: str = "alice") -> tuple[PhxClient, dict[str, Any]]:
    session = await new_session(srv.url, nickname)
    return await PhxClient.connect(srv.ws_url, session["token"]), session


async def joined(
    c: PhxClient, topic: str, payload: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    join_ref, reply = await c.join(topic, payload or {})
    assert reply[4]["status"] == "ok", reply
    return join_ref, reply[4]["response"]


async def say(c: PhxClient, topic: str, join_ref: str, body: str) -> dict[str, Any]:
    ref = await c.push(topic, "new_msg", {"body": body}, join_ref=join_ref)
    reply = await c.reply(ref)
    assert reply[4]["status"] == "ok", reply
    response: dict[str, Any] = reply[4]["response"]
    return response


def bodies(c: PhxClient, topic: str, join_ref: str | None = None) -> list[str]:
    """new_msg bodies received, broadcasts and (when join_ref is given) replayed pushes."""
    return [
        f[4]["body"]
        for f in c.frames
        if f[2] == topic and f[3] == "new_msg" and (f[0] is None or f[0] == join_ref)
    ]


async def wait_for(c: PhxClient, topic: str, body: str) -> None:
    await c.wait(lambda f: f[2] == topic and f[3] == "new_msg" and f[4]["body"] == body, 10)


# -- choosing a retention ------------------------------------------------------------------


async def test_a_room_is_ephemeral_unless_asked_and_says_so(shared_server: ServerProcess) -> None:
    room = await create_room(shared_server, {})
    assert room["retention"]["kind"] == "ephemeral"
    assert room["retention"]["summary"] == "Nothing is kept"
    status, shown = await get_json(f"{shared_server.url}/api/rooms/{room['code']}")
    assert status == 200 and shown["retention"]["kind"] == "ephemeral"


@pytest.mark.parametrize(
    ("body", "summary", "history"),
    [
        ({"retention": "memory"}, "Kept while this room lives", "shared"),
        ({"retention": "memory", "history": "joined"}, "Kept while this room lives", "joined"),
        ({"retention": "persistent"}, "Saved for 30 days", "shared"),
    ],
)
async def test_memory_and_persistent_rooms_say_what_they_keep(
    shared_server: ServerProcess,
    body: dict[str, Any],
    summary: str,
    history: str,
) -> None:
    room = await create_room(shared_server, body)
    assert room["retention"]["summary"] == summary and room["retention"]["history"] == history
    c, _ = await client(shared_server)
    _, response = await joined(c, room["topic"])
    assert response["retention"]["summary"] == summary
    await c.close()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"retention": "forever"}, "invalid_retention"),
        ({"retention": "memory", "history": "all"}, "invalid_history"),
        ({"retention": "ephemeral", "history": "shared"}, "invalid_history"),
    ],
)
async def test_an_unknown_retention_is_a_422(
    shared_server: ServerProcess, body: dict[str, Any], error: str
) -> None:
    status, answer = await post_json(shared_server.url + "/api/rooms", body)
    assert status == 422 and answer["error"] == error and answer["message"]


async def test_an_operator_can_refuse_kinds_of_rooms() -> None:
    with ServerProcess(env={"SKETCHYCHAT_RETENTIONS": "ephemeral"}) as srv:
        status, answer = await post_json(srv.url + "/api/rooms", {"retention": "persistent"})
        assert status == 422 and answer["error"] == "retention_unavailable"
        assert _untouched(Path(srv.data_dir))


# -- positions and recovery ------------------------------------------------------------------


async def test_every_message_carries_its_position(shared_server: ServerProcess) -> None:
    room = await create_room(shared_server, {})
    c, _ = await client(shared_server)
    jr, response = await joined(c, room["topic"])
    epoch = response["position"]["epoch"]
    assert response["position"] == {"epoch": epoch, "seq": 0}
    assert response["replay"] == {"after": 0, "count": 0}
    acks = [await say(c, room["topic"], jr, f"m{i}") for i in range(3)]
    assert [a["seq"] for a in acks] == [1, 2, 3]
    await wait_for(c, room["topic"], "m2")
    broadcasts = [f[4] for f in c.frames if f[3] == "new_msg"]
    assert [(b["seq"], b["epoch"]) for b in broadcasts] == [(1, epoch), (2, epoch), (3, epoch)]
    await c.close()


async def test_a_client_that_drops_gets_exactly_what_it_missed(
    shared_server: ServerProcess,
) -> None:
    """Drop a socket while 100 messages flow; the replay is exact, before any live one."""
    room = await create_room(shared_server, {})
    topic = room["topic"]
    alice, alice_session = await client(shared_server, "alice")
    bob, _ = await client(shared_server, "bob")
    ajr, _ = await joined(alice, topic)
    bjr, _ = await joined(bob, topic)
    await say(bob, topic, bjr, "seen by both")
    await wait_for(alice, topic, "seen by both")
    last = [f[4] for f in alice.frames if f[3] == "new_msg"][-1]
    await alice.close()  # the train enters a tunnel
    for i in range(100):
        await say(bob, topic, bjr, f"missed {i}")
    alice = await PhxClient.connect(shared_server.ws_url, alice_session["token"])
    position = {"epoch": last["epoch"], "seq": last["seq"]}
    ajr, response = await joined(alice, topic, {"position": position})
    assert response["replay"] == {"after": last["seq"], "count": 100, "recovered": True}
    await say(bob, topic, bjr, "live again")
    await wait_for(alice, topic, "live again")
    got = bodies(alice, topic, ajr)
    assert got == [f"missed {i}" for i in range(100)] + ["live again"]  # in order, no dup
    await alice.close()
    await bob.close()


async def test_beyond_the_window_the_client_is_told(tmp_path: Path) -> None:
    env = {"SKETCHYCHAT_RECOVERY_MESSAGES": "10"}
    with ServerProcess(env=env) as srv:
        room = await create_room(srv, {})
        bob, _ = await client(srv, "bob")
        bjr, _ = await joined(bob, room["topic"])
        alice, alice_session = await client(srv, "alice")
        _, response = await joined(alice, room["topic"])
        epoch = response["position"]["epoch"]
        await alice.close()  # gone for longer than the window holds
        for i in range(30):
            await say(bob, room["topic"], bjr, f"m{i}")
        alice = await PhxClient.connect(srv.ws_url, alice_session["token"])
        ajr, answer = await joined(alice, room["topic"], {"position": {"epoch": epoch, "seq": 0}})
        assert answer["replay"] == {"after": 0, "count": 10, "recovered": False}
        await alice.wait(lambda f: f[3] == "new_msg" and f[4]["body"] == "m29")
        assert bodies(alice, room["topic"], ajr) == [f"m{i}" for i in range(20, 30)]
        await alice.close()
        await bob.close()


async def test_an_old_position_shows_a_newcomer_nothing_from_before_it_came(
    shared_server: ServerProcess,
) -> None:
    """In a room whose newcomers see only what follows, no position reaches further back."""
    room = await create_room(shared_server, {})
    bob, _ = await client(shared_server, "bob")
    bjr, response = await joined(bob, room["topic"])
    epoch = response["position"]["epoch"]
    await say(bob, room["topic"], bjr, "before mallory")
    mallory, _ = await client(shared_server, "mallory")
    mjr, answer = await joined(mallory, room["topic"], {"position": {"epoch": epoch, "seq": 0}})
    assert answer["replay"] == {"after": 1, "count": 0, "recovered": True}
    await say(bob, room["topic"], bjr, "after mallory")
    await wait_for(mallory, room["topic"], "after mallory")
    assert bodies(mallory, room["topic"], mjr) == ["after mallory"]
    await mallory.close()
    await bob.close()


@pytest.mark.parametrize(
    ("position", "why"),
    [({"epoch": "x", "seq": -4}, "malformed"), ("3", "malformed"), (None, "ahead")],
)
async def test_a_bad_position_gets_an_error_reply(
    shared_server: ServerProcess, position: Any, why: str
) -> None:
    room = await create_room(shared_server, {})
    c, _ = await client(shared_server)
    jr, response = await joined(c, room["topic"])
    if why == "ahead":
        position = {"epoch": response["position"]["epoch"], "seq": 99}
    await c.push(room["topic"], "phx_leave", {}, join_ref=jr)
    _, reply = await c.join(room["topic"], {"position": position})
    assert reply[4]["status"] == "error" and reply[4]["response"]["reason"] == "invalid_position"
    ref = await c.push("phoenix", "heartbeat", {})
    assert (await c.reply(ref))[4]["status"] == "ok"  # the socket goes on
    await c.close()


# -- history for newcomers, and scroll-back ------------------------------------------------


async def test_a_memory_room_shows_newcomers_the_recent_conversation(
    shared_server: ServerProcess,
) -> None:
    room = await create_room(shared_server, {"retention": "memory"})
    bob, _ = await client(shared_server, "bob")
    bjr, _ = await joined(bob, room["topic"])
    for i in range(60):
        await say(bob, room["topic"], bjr, f"m{i}")
    carol, _ = await client(shared_server, "carol")
    cjr, response = await joined(carol, room["topic"])
    assert response["replay"] == {"after": 10, "count": 50}
    await carol.wait(lambda f: f[3] == "new_msg" and f[4]["body"] == "m59")
    assert bodies(carol, room["topic"], cjr) == [f"m{i}" for i in range(10, 60)]
    # Scroll back over the socket: the ten before, and no more.
    ref = await carol.push(room["topic"], "history", {"before": 11, "limit": 50}, join_ref=cjr)
    page = (await carol.reply(ref))[4]
    assert page["status"] == "ok"
    assert [m["body"] for m in page["response"]["messages"]] == [f"m{i}" for i in range(10)]
    assert page["response"]["more"] is False
    await carol.close()
    await bob.close()


async def test_a_joined_only_room_shows_newcomers_nothing_from_before(
    shared_server: ServerProcess,
) -> None:
    room = await create_room(shared_server, {"retention": "memory", "history": "joined"})
    bob, _ = await client(shared_server, "bob")
    bjr, _ = await joined(bob, room["topic"])
    await say(bob, room["topic"], bjr, "before carol")
    carol, carol_session = await client(shared_server, "carol")
    cjr, response = await joined(carol, room["topic"])
    assert response["replay"]["count"] == 0
    await say(bob, room["topic"], bjr, "after carol")
    await wait_for(carol, room["topic"], "after carol")
    ref = await carol.push(room["topic"], "history", {"limit": 10}, join_ref=cjr)
    page = (await carol.reply(ref))[4]["response"]
    assert [m["body"] for m in page["messages"]] == ["after carol"]
    # A reload (a new socket, no position) shows her what followed her first join only.
    await carol.close()
    carol = await PhxClient.connect(shared_server.ws_url, carol_session["token"])
    cjr, response = await joined(carol, room["topic"])
    await carol.wait(lambda f: f[3] == "new_msg" and f[4]["body"] == "after carol")
    assert bodies(carol, room["topic"], cjr) == ["after carol"]
    await carol.close()
    await bob.close()


async def test_scroll_back_over_http_needs_a_token_and_sane_bounds(
    shared_server: ServerProcess,
) -> None:
    room = await create_room(shared_server, {"retention": "memory"})
    bob, session = await client(shared_server, "bob")
    bjr, _ = await joined(bob, room["topic"])
    for i in range(5):
        await say(bob, room["topic"], bjr, f"m{i}")
    url = f"{shared_server.url}/api/rooms/{room['code']}/messages"
    auth = {"Authorization": f"Bearer {session['token']}"}
    status, page = await get_json(url + "?before=5&limit=2", auth)
    assert status == 200 and [m["body"] for m in page["messages"]] == ["m2", "m3"]
    assert page["more"] is True and page["position"]["seq"] == 5
    assert (await get_json(url))[0] == 401
    for bad in ("?limit=0", "?limit=101", "?limit=-1", "?before=abc", "?before=0"):
        status, answer = await get_json(url + bad, auth)
        assert status == 400 and answer["error"] == "invalid_request", bad
    ephemeral = await create_room(shared_server, {})
    status, answer = await get_json(
        f"{shared_server.url}/api/rooms/{ephemeral['code']}/messages", auth
    )
    assert status == 404 and answer["error"] == "no_history"
    status, answer = await get_json(f"{shared_server.url}/api/rooms/zzzzzzzzzzzz/messages", auth)
    assert status == 404 and answer["error"] == "not_found"
    await bob.close()


async def test_history_in_an_ephemeral_room_is_refused(shared_server: ServerProcess) -> None:
    room = await create_room(shared_server, {})
    c, _ = await client(shared_server)
    jr, _ = await joined(c, room["topic"])
    ref = await c.push(room["topic"], "history", {"limit": 5}, join_ref=jr)
    reply = (await c.reply(ref))[4]
    assert reply["status"] == "error" and reply["response"]["reason"] == "no_history"
    for bad in ({"limit": 0}, {"limit": 1000}, {"before": -2}, {"before": "x"}):
        memory = await create_room(shared_server, {"retention": "memory"})
        mjr, _ = await joined(c, memory["topic"])
        ref = await c.push(memory["topic"], "history", bad, join_ref=mjr)
        reply = (await c.reply(ref))[4]
        assert reply["response"]["reason"] == "invalid_history_request", bad
    await c.close()


# -- persistent rooms: SQLite across restarts -------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def persistent_env(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[dict[str, str]]:
    """Where a server keeps persistent rooms: a SQLite file, or a fresh PostgreSQL database."""
    env = {"SKETCHYCHAT_DATA_DIR": str(tmp_path / "data")}
    if request.param == "sqlite":
        yield env
        return
    name, url = await fresh_database()
    yield {**env, "SKETCHYCHAT_DATABASE_URL": url}
    await drop_database(name)


async def test_a_persistent_room_survives_a_restart_and_a_kill(
    persistent_env: dict[str, str], tmp_path: Path
) -> None:
    env = persistent_env
    srv = ServerProcess(env=env).start()
    try:
        room = await create_room(srv, {"retention": "persistent"})
        bob, session = await client(srv, "bob")
        bjr, response = await joined(bob, room["topic"])
        epoch = response["position"]["epoch"]
        for i in range(10):
            await say(bob, room["topic"], bjr, f"m{i}")
        await bob.close()
        srv.stop()
        sqlite_file = tmp_path / "data" / "sketchychat.sqlite3"
        assert _exists(sqlite_file) == ("SKETCHYCHAT_DATABASE_URL" not in env)

        srv = ServerProcess(env=env, port=srv.port).start()
        bob = await PhxClient.connect(srv.ws_url, session["token"])
        bjr, response = await joined(bob, room["topic"], {"position": {"epoch": epoch, "seq": 4}})
        assert response["position"] == {"epoch": epoch, "seq": 10}
        assert response["replay"] == {"after": 4, "count": 6, "recovered": True}
        await wait_for(bob, room["topic"], "m9")
        assert bodies(bob, room["topic"], bjr) == [f"m{i}" for i in range(4, 10)]
        acked = await say(bob, room["topic"], bjr, "acked before the kill")
        os.kill(srv.pid, signal.SIGKILL)  # no goodbye, no flush
        srv.stop()

        srv = ServerProcess(env=env, port=srv.port).start()
        carol, _ = await client(srv, "carol")
        _, response = await joined(carol, room["topic"])
        assert response["position"]["seq"] == acked["seq"] == 11
        await wait_for(carol, room["topic"], "acked before the kill")
        await carol.close()
        await bob.close()
    finally:
        srv.stop()


# -- privacy: nothing reaches the disk -------------------------------------------------------


def _exists(path: Path) -> bool:
    return path.exists()


def _untouched(data_dir: Path) -> bool:
    return not data_dir.exists() or not any(data_dir.iterdir())


def _open_files(pid: int) -> set[str]:
    """Regular files the process holds open (sockets, pipes and devices left out)."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:
            continue  # closed meanwhile
        if target.startswith("/") and not target.startswith("/dev/"):
            found.add(target)
    return found


def _disk_writes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise AssertionError("no write_bytes")


async def test_ephemeral_and_memory_rooms_write_nothing_to_disk(tmp_path: Path) -> None:
    with ServerProcess(env={"SKETCHYCHAT_DATA_DIR": str(tmp_path / "data")}) as srv:
        await asyncio.sleep(0.5)
        before = _disk_writes(srv.pid)
        files_before = _open_files(srv.pid)
        files_during: set[str] = set()
        for body in ({}, {"retention": "memory"}, {"retention": "memory", "history": "joined"}):
            room = await create_room(srv, body)
            alice, _ = await client(srv, "alice")
            bob, _ = await client(srv, "bob")
            ajr, _ = await joined(alice, room["topic"])
            await joined(bob, room["topic"])
            for i in range(200):
                await alice.push(room["topic"], "new_msg", {"body": f"secret {i}"}, join_ref=ajr)
            files_during |= _open_files(srv.pid)
            await wait_for(bob, room["topic"], "secret 199")
            files_during |= _open_files(srv.pid)
            await alice.close()
            await bob.close()
        await asyncio.sleep(0.5)
        assert _disk_writes(srv.pid) == before, "the server wrote to the disk"
        assert files_during <= files_before, f"files opened: {files_during - files_before}"
        assert _untouched(tmp_path / "data")
        assert not any("secret" in line for line in srv.lines)


@pytest.mark.postgres
async def test_a_database_outage_is_an_error_reply_never_a_silent_drop() -> None:
    from tests.support.postgres import cut_database, restore_database

    name, url = await fresh_database()
    try:
        with ServerProcess(env={"SKETCHYCHAT_DATABASE_URL": url}) as srv:
            room = await create_room(srv, {"retention": "persistent"})
            topic = room["topic"]
            alice, _ = await client(srv, "alice")
            ajr, _ = await joined(alice, topic)
            await say(alice, topic, ajr, "before")
            await cut_database(name)
            ref = await alice.push(topic, "new_msg", {"body": "during"}, join_ref=ajr)
            reply = (await alice.reply(ref, timeout=30))[4]
            assert reply["status"] == "error" and reply["response"]["reason"] == "not_stored"
            assert reply["response"]["message"]
            await restore_database(name)
            for _ in range(50):
                ref = await alice.push(topic, "new_msg", {"body": "after"}, join_ref=ajr)
                if (await alice.reply(ref, timeout=30))[4]["status"] == "ok":
                    break
                await asyncio.sleep(0.2)
            await wait_for(alice, topic, "after")
            assert "during" not in bodies(alice, topic)  # refused, so never broadcast
            bob, _ = await client(srv, "bob")
            bjr, _ = await joined(bob, topic)
            await wait_for(bob, topic, "after")
            assert bodies(bob, topic, bjr) == ["before", "after"]
            await alice.close()
            await bob.close()
    finally:
        await restore_database(name)
        await drop_database(name)
