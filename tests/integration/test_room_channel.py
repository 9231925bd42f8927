"""Contract §4: the room channel and presence over real sockets."""

from __future__ import annotations

import time
from typing import Any

from tests.support.http import get_json
from tests.support.phx import PhxClient, new_room, new_session
from tests.support.server import ServerProcess


async def joined(
    srv: ServerProcess, code: str, nickname: str, token: str | None = None
) -> tuple[PhxClient, str, dict[str, Any]]:
    session = await new_session(srv.url, nickname)
    if token is not None:
        session["token"] = token
    client = await PhxClient.connect(srv.ws_url, session["token"])
    join_ref, reply = await client.join(f"room:{code}")
    assert reply[4]["status"] == "ok", reply
    return client, join_ref, session


async def test_join_replies_with_identity_then_a_presence_state(
    shared_server: ServerProcess,
) -> None:
    code = await new_room(shared_server.url)
    session = await new_session(shared_server.url, "alice")
    client = await PhxClient.connect(shared_server.ws_url, session["token"])
    join_ref, reply = await client.join(f"room:{code}")
    assert reply[:4] == [join_ref, join_ref, f"room:{code}", "phx_reply"]
    assert reply[4]["status"] == "ok"
    response = reply[4]["response"]
    assert (response["user_id"], response["nickname"]) == (session["user_id"], "alice")
    assert response["retention"]["kind"] == "ephemeral"  # contract.md §5: extra fields
    assert set(response["position"]) == {"epoch", "seq"}
    state = await client.event(f"room:{code}", "presence_state")
    assert state[0] == join_ref and state[1] is None
    (meta,) = state[4][session["user_id"]]["metas"]
    assert meta["nickname"] == "alice" and isinstance(meta["phx_ref"], str)
    assert abs(meta["online_at"] - time.time() * 1000) < 60_000
    await client.close()


async def test_joining_an_unknown_room_is_not_found(shared_server: ServerProcess) -> None:
    session = await new_session(shared_server.url)
    client = await PhxClient.connect(shared_server.ws_url, session["token"])
    _ref, reply = await client.join("room:aaaaaaaaaaaa")
    assert reply[4]["status"] == "error" and reply[4]["response"]["reason"] == "not_found"
    await client.close()


async def test_messages_reach_every_member_including_the_sender(
    shared_server: ServerProcess,
) -> None:
    code = await new_room(shared_server.url)
    topic = f"room:{code}"
    alice, a_ref, a_session = await joined(shared_server, code, "alice")
    bob, _b_ref, _ = await joined(shared_server, code, "bob")
    ref = await alice.push(topic, "new_msg", {"body": "hi <b>bob</b>"}, join_ref=a_ref)
    reply = await alice.reply(ref)
    assert reply[0] == a_ref and reply[4]["status"] == "ok"
    msg_id = reply[4]["response"]["id"]
    for client in (alice, bob):
        frame = await client.event(topic, "new_msg")
        assert frame[:2] == [None, None]
        body = frame[4]
        assert body["id"] == msg_id and body["body"] == "hi <b>bob</b>"
        assert body["user_id"] == a_session["user_id"] and body["nickname"] == "alice"
        assert isinstance(body["at"], int) and abs(body["at"] - time.time() * 1000) < 60_000
    await alice.close()
    await bob.close()


async def test_message_ids_are_unique_and_order_is_kept(shared_server: ServerProcess) -> None:
    code = await new_room(shared_server.url)
    topic = f"room:{code}"
    alice, a_ref, _ = await joined(shared_server, code, "alice")
    bob, _, _ = await joined(shared_server, code, "bob")
    for i in range(50):
        await alice.push(topic, "new_msg", {"body": f"m{i}"}, join_ref=a_ref)
    await bob.wait(lambda f: f[3] == "new_msg" and f[4]["body"] == "m49")
    got = bob.events(topic, "new_msg")
    assert [f[4]["body"] for f in got] == [f"m{i}" for i in range(50)]
    assert len({f[4]["id"] for f in got}) == 50
    await alice.close()
    await bob.close()


async def test_refused_messages_are_errors_and_nothing_is_broadcast(
    shared_server: ServerProcess,
) -> None:
    code = await new_room(shared_server.url)
    topic = f"room:{code}"
    alice, a_ref, _ = await joined(shared_server, code, "alice")
    bob, _, _ = await joined(shared_server, code, "bob")
    cases = [
        ({"body": "   "}, "invalid_body"),
        ({"body": ""}, "invalid_body"),
        ({}, "invalid_body"),
        ({"body": 42}, "invalid_body"),
        ({"body": "x" * 4001}, "body_too_long"),
    ]
    for payload, reason in cases:
        ref = await alice.push(topic, "new_msg", payload, join_ref=a_ref)
        response = (await alice.reply(ref))[4]
        assert response["status"] == "error" and response["response"]["reason"] == reason
    ref = await alice.push(topic, "new_msg", {"body": "x" * 4000}, join_ref=a_ref)
    assert (await alice.reply(ref))[4]["status"] == "ok"
    ref = await alice.push(topic, "dance", {}, join_ref=a_ref)
    assert (await alice.reply(ref))[4]["response"]["reason"] == "unknown_event"
    await bob.event(topic, "new_msg")
    await bob.quiet()
    assert len(bob.events(topic, "new_msg")) == 1
    await alice.close()
    await bob.close()


async def test_typing_reaches_everyone_but_the_sender(shared_server: ServerProcess) -> None:
    code = await new_room(shared_server.url)
    topic = f"room:{code}"
    alice, a_ref, a_session = await joined(shared_server, code, "alice")
    bob, _, _ = await joined(shared_server, code, "bob")
    ref = await alice.push(topic, "typing", {}, join_ref=a_ref)
    assert (await alice.reply(ref))[4] == {"status": "ok", "response": {}}
    frame = await bob.event(topic, "typing")
    assert frame[4] == {"user_id": a_session["user_id"], "nickname": "alice"}
    await alice.quiet()
    assert alice.events(topic, "typing") == []
    await alice.close()
    await bob.close()


async def test_presence_two_tabs_are_one_key_with_two_metas(
    shared_server: ServerProcess,
) -> None:
    code = await new_room(shared_server.url)
    topic = f"room:{code}"
    watcher, _, _ = await joined(shared_server, code, "watcher")
    tab1, _, session = await joined(shared_server, code, "alice")
    tab2, _, _ = await joined(shared_server, code, "alice", token=session["token"])
    state = await tab2.event(topic, "presence_state")
    assert len(state[4][session["user_id"]]["metas"]) == 2
    assert len(state[4]) == 2
    status, room = await get_json(shared_server.url + f"/api/rooms/{code}")
    assert (status, room["online"]) == (200, 2)
    # Closing one tab: a leave of that meta only.
    start = len(watcher.frames)
    await tab1.close()
    diff = await watcher.wait(lambda f: f[3] == "presence_diff" and f[4]["leaves"], start=start)
    assert list(diff[4]["leaves"]) == [session["user_id"]]
    assert len(diff[4]["leaves"][session["user_id"]]["metas"]) == 1
    await tab2.close()
    await watcher.close()


async def test_a_dead_connection_leaves_promptly(shared_server: ServerProcess) -> None:
    code = await new_room(shared_server.url)
    watcher, _, _ = await joined(shared_server, code, "watcher")
    bob, _, bob_session = await joined(shared_server, code, "bob")
    start = len(watcher.frames)
    bob.ws.transport.abort()  # no close frame: the tab just vanished
    diff = await watcher.wait(
        lambda f: f[3] == "presence_diff" and f[4]["leaves"], start=start, timeout=3
    )
    assert bob_session["user_id"] in diff[4]["leaves"]
    await watcher.close()


async def test_leave_replies_ok_then_closes_and_others_see_it(
    shared_server: ServerProcess,
) -> None:
    code = await new_room(shared_server.url)
    topic = f"room:{code}"
    watcher, _, _ = await joined(shared_server, code, "watcher")
    bob, b_ref, bob_session = await joined(shared_server, code, "bob")
    start = len(watcher.frames)
    ref = await bob.push(topic, "phx_leave", {}, join_ref=b_ref)
    assert await bob.reply(ref) == [
        b_ref,
        ref,
        topic,
        "phx_reply",
        {"status": "ok", "response": {}},
    ]
    assert await bob.event(topic, "phx_close") == [b_ref, b_ref, topic, "phx_close", {}]
    diff = await watcher.wait(lambda f: f[3] == "presence_diff" and f[4]["leaves"], start=start)
    assert bob_session["user_id"] in diff[4]["leaves"]
    # After leaving, pushes are unmatched.
    ref = await bob.push(topic, "new_msg", {"body": "x"}, join_ref=b_ref)
    assert (await bob.reply(ref))[4]["response"]["reason"] == "unmatched topic"
    await bob.close()
    await watcher.close()


async def test_duplicate_join_replies_before_closing_the_old_channel(
    shared_server: ServerProcess,
) -> None:
    code = await new_room(shared_server.url)
    topic = f"room:{code}"
    client, old_ref, _ = await joined(shared_server, code, "alice")
    new_ref = client.next_ref()
    start = len(client.frames)
    await client.send(new_ref, new_ref, topic, "phx_join", {})
    await client.event(topic, "presence_state", start=start)
    mine = [f for f in client.frames[start:] if f[3] in ("phx_reply", "phx_close")]
    assert mine[0][:2] == [new_ref, new_ref] and mine[0][4]["status"] == "ok"
    assert mine[1] == [old_ref, old_ref, topic, "phx_close", {}]
    # A push with the stale join_ref is ignored silently; the new one works.
    stale = await client.push(topic, "new_msg", {"body": "old"}, join_ref=old_ref)
    fresh = await client.push(topic, "new_msg", {"body": "new"}, join_ref=new_ref)
    assert (await client.reply(fresh))[4]["status"] == "ok"
    await client.quiet()
    assert not [f for f in client.frames if f[3] == "phx_reply" and f[1] == stale]
    # Exactly one presence entry remains for this user.
    _, room = await get_json(shared_server.url + f"/api/rooms/{code}")
    assert room["online"] == 1
    await client.close()


async def test_a_slow_reader_is_disconnected_and_the_room_goes_on() -> None:
    env = {"SKETCHYCHAT_OUTBOX_LIMIT": "262144"}
    with ServerProcess(env=env) as srv:
        code = await new_room(srv.url)
        topic = f"room:{code}"
        alice, a_ref, _ = await joined(srv, code, "alice")
        slow, _, slow_session = await joined(srv, code, "slow")
        slow.ws.transport.pause_reading()  # stops reading: its socket buffers fill up
        body = "x" * 3900
        left = None
        for _ in range(8000):  # bounded: ~31 MB, far past kernel buffers + the limit
            ref = await alice.push(topic, "new_msg", {"body": body}, join_ref=a_ref)
            await alice.reply(ref)
            left = [f for f in alice.events(topic, "presence_diff") if f[4]["leaves"]]
            if left:
                break
        assert left, "the slow reader was never disconnected"
        assert slow_session["user_id"] in left[0][4]["leaves"]
        ref = await alice.push(topic, "new_msg", {"body": "still here"}, join_ref=a_ref)
        assert (await alice.reply(ref))[4]["status"] == "ok"
        await alice.close()
        slow.ws.transport.abort()
