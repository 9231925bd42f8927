"""The room, driven through what sockets call (join, push, leave) with recording peers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sketchychat.protocol.v1_json import V1_JSON
from sketchychat.protocol.v2_json import V2_JSON
from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.memory import Hub, MemoryAdapter
from sketchychat.rooms.channel import CHAT_EVENTS
from sketchychat.rooms.room import Room
from tests.support.peers import RecordingPeer, who


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
async def room() -> AsyncIterator[Room]:
    pubsub = PubSub("node-a", MemoryAdapter())
    await pubsub.start()
    r = Room("abcdefghjkmn", pubsub)
    r.start()
    yield r
    await r.stop()


async def test_a_broadcast_is_encoded_once_per_serializer(room: Room) -> None:
    peers = [RecordingPeer(V2_JSON) for _ in range(3)] + [RecordingPeer(V1_JSON)]
    for i, p in enumerate(peers):
        room.join(p, str(i), str(i), who(f"u{i}", f"n{i}"), {})
    room.push(peers[0], "0", "9", "new_msg", {"body": "hi"})
    await settle()
    msgs = [p.shared[-1] for p in peers]
    assert msgs[0] is msgs[1] is msgs[2]  # the very same object, bytes built once
    assert msgs[3] is not msgs[0] and b'"event":"new_msg"' in msgs[3].frame.data


async def test_join_order_is_reply_then_state_then_diff(room: Room) -> None:
    peer = RecordingPeer()
    room.join(peer, "5", "5", who("u1", "alice"), {})
    await settle()
    assert [f[3] for f in peer.frames] == ["phx_reply", "presence_state", "presence_diff"]
    assert peer.resolved == [("room:abcdefghjkmn", "5", True)]
    assert room.online == 1 and room.empty_since is None


async def test_leaving_empties_the_room_and_starts_its_idle_clock(room: Room) -> None:
    peer, other = RecordingPeer(), RecordingPeer()
    room.join(peer, "1", "1", who("u1", "alice"), {})
    room.join(other, "1", "1", who("u2", "bob"), {})
    room.leave(peer, "1")
    await settle()
    assert other.events("presence_diff")[-1][4]["leaves"].keys() == {"u1"}
    room.leave(other, "1")
    await settle()
    assert room.member_count == 0 and room.online == 0 and room.empty_since is not None


async def test_a_crash_errors_this_rooms_channels_and_it_goes_on(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = RecordingPeer(), RecordingPeer()
    room.join(a, "1", "1", who("u1", "alice"), {})
    room.join(b, "2", "2", who("u2", "bob"), {})
    await settle()

    def boom(*_: object) -> None:
        raise RuntimeError("bug in typing")

    monkeypatch.setitem(CHAT_EVENTS, "typing", boom)
    room.push(a, "1", "3", "typing", {})
    await settle()
    assert a.ended == [(room.topic, "1", True)] and b.ended == [(room.topic, "2", True)]
    assert room.member_count == 0 and room.online == 0
    monkeypatch.undo()
    # Clients rejoin (phoenix.js does so after phx_error) and the room works again.
    room.join(a, "4", "4", who("u1", "alice"), {})
    room.push(a, "4", "5", "new_msg", {"body": "back"})
    await settle()
    assert a.events("new_msg")[-1][4]["body"] == "back"


async def test_a_crash_in_one_room_leaves_other_rooms_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pubsub = PubSub("node-a", MemoryAdapter())
    await pubsub.start()
    r1, r2 = Room("aaaaaaaaaaaa", pubsub), Room("bbbbbbbbbbbb", pubsub)
    r1.start()
    r2.start()
    p1, p2 = RecordingPeer(), RecordingPeer()
    r1.join(p1, "1", "1", who("u1", "a"), {})
    r2.join(p2, "1", "1", who("u2", "b"), {})
    await settle()
    monkeypatch.setitem(CHAT_EVENTS, "new_msg", lambda *_: 1 / 0)
    r1.push(p1, "1", "2", "new_msg", {"body": "x"})
    await settle()
    monkeypatch.undo()
    r2.push(p2, "1", "3", "new_msg", {"body": "fine"})
    await settle()
    assert p1.ended and not p2.ended
    assert p2.events("new_msg")[-1][4]["body"] == "fine"
    await r1.stop()
    await r2.stop()


async def test_two_nodes_share_messages_and_presence_through_pubsub() -> None:
    hub = Hub()
    node_a, node_b = PubSub("node-a", MemoryAdapter(hub)), PubSub("node-b", MemoryAdapter(hub))
    await node_a.start()
    await node_b.start()
    ra, rb = Room("cccccccccccc", node_a), Room("cccccccccccc", node_b)
    ra.start()
    alice = RecordingPeer()
    ra.join(alice, "1", "1", who("u1", "alice"), {})
    await asyncio.sleep(0.05)
    rb.start()  # the room opens on node b later: it asks a for its members
    bob = RecordingPeer()
    await asyncio.sleep(0.05)
    rb.join(bob, "1", "1", who("u2", "bob"), {})
    await asyncio.sleep(0.05)
    assert set(bob.events("presence_state")[-1][4]) == {"u1", "u2"}
    assert "u2" in alice.events("presence_diff")[-1][4]["joins"]
    ra.push(alice, "1", "2", "new_msg", {"body": "across"})
    await asyncio.sleep(0.05)
    assert bob.events("new_msg")[-1][4]["body"] == "across"
    assert len(alice.events("new_msg")) == 1  # no echo from b
    rb.node_down("node-a")
    await asyncio.sleep(0.05)
    assert "u1" in bob.events("presence_diff")[-1][4]["leaves"]
    assert rb.online == 1
    await ra.stop()
    await rb.stop()
