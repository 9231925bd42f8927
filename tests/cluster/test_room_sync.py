"""Room presence across nodes: full snapshots, resync after lost envelopes, the join gate."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.envelope import Envelope
from sketchychat.pubsub.memory import Hub, MemoryAdapter
from sketchychat.rooms.room import Room
from tests.support.peers import RecordingPeer, who

CODE = "cccccccccccc"


async def two_nodes() -> tuple[PubSub, PubSub]:
    hub = Hub()
    a, b = PubSub("node-a", MemoryAdapter(hub)), PubSub("node-b", MemoryAdapter(hub))
    await a.start()
    await b.start()
    return a, b


async def settle() -> None:
    await asyncio.sleep(0.02)


async def test_a_snapshot_replaces_what_we_held_for_that_node() -> None:
    a, _ = await two_nodes()
    room = Room(CODE, a)
    room.start()
    alice = RecordingPeer()
    room.join(alice, "1", "1", who("u1", "alice"), {})
    meta = {"phx_ref": "R1", "nickname": "bob", "online_at": 1}
    room.receive_envelope(
        Envelope("node-b", room.topic, "presence", {"joins": [["u2", meta]], "leaves": []})
    )
    await settle()
    assert room.online == 2
    # node-b's snapshot no longer has bob (his leave was lost in an outage): he leaves.
    room.receive_envelope(
        Envelope("node-b", room.topic, "presence", {"joins": [], "leaves": [], "full": True})
    )
    await settle()
    assert room.online == 1
    assert "u2" in alice.events("presence_diff")[-1][4]["leaves"]
    await room.stop()


async def test_resync_exchanges_full_snapshots_after_lost_envelopes() -> None:
    a, b = await two_nodes()
    ra, rb = Room(CODE, a), Room(CODE, b)
    ra.start()
    rb.start()
    alice, bob = RecordingPeer(), RecordingPeer()
    ra.join(alice, "1", "1", who("u1", "alice"), {})
    rb.join(bob, "1", "1", who("u2", "bob"), {})
    await settle()
    # Simulate an outage on b: it forgot alice, and a never heard that bob left.
    rb.presence.untrack_node("node-a")
    rb.leave(bob, "1")
    carol = RecordingPeer()
    await settle()
    ra.presence.track("u2", {"phx_ref": "stale", "nickname": "bob", "online_at": 1}, "node-b")
    rb.join(carol, "2", "2", who("u3", "carol"), {})
    await settle()
    rb.resync()  # b's bus came back
    await settle()
    assert set(ra.presence.list()) == {"u1", "u3"}
    assert set(rb.presence.list()) == {"u1", "u3"}
    await ra.stop()
    await rb.stop()


async def test_a_node_with_nobody_in_the_room_still_answers_a_sync() -> None:
    a, b = await two_nodes()
    ra, rb = Room(CODE, a), Room(CODE, b)
    ra.start()
    rb.start()
    rb.presence.track("u9", {"phx_ref": "ghost", "nickname": "x", "online_at": 1}, "node-a")
    rb.resync("node-a")
    await settle()
    assert rb.online == 0  # a's (empty) snapshot cleared the ghost
    await ra.stop()
    await rb.stop()


def gate(answer: bool) -> Callable[[], Awaitable[bool]]:
    async def ask() -> bool:
        await asyncio.sleep(0.01)
        return answer

    return ask


async def test_joins_wait_at_the_gate_and_pass_when_the_room_is_live() -> None:
    a, _ = await two_nodes()
    room = Room(CODE, a, gate=gate(True))
    room.start()
    peer = RecordingPeer()
    room.join(peer, "1", "1", who("u1", "alice"), {})
    assert not room.admitted
    await settle()
    assert room.admitted and peer.resolved == [(room.topic, "1", True)]
    await room.stop()


async def test_a_refused_gate_answers_not_found_and_never_subscribes() -> None:
    a, _ = await two_nodes()
    room = Room(CODE, a, gate=gate(False))
    room.start()
    peer = RecordingPeer()
    room.join(peer, "1", "1", who("u1", "alice"), {})
    room.push(peer, "1", "2", "new_msg", {"body": "x"})
    await settle()
    assert peer.resolved == [(room.topic, "1", False)]
    replies = peer.events("phx_reply")
    assert replies[0][4] == {
        "status": "error",
        "response": {"reason": "not_found", "message": "This room does not exist or has expired."},
    }
    assert replies[1][4]["response"]["reason"] == "unmatched topic"
    assert not room.admitted and room.topic not in a._handlers
    await room.stop()


async def test_local_version_moves_with_local_members_only() -> None:
    a, _ = await two_nodes()
    room = Room(CODE, a)
    room.start()
    before = room.local_version
    room.join(RecordingPeer(), "1", "1", who("u1", "alice"), {})
    room.receive_envelope(
        Envelope(
            "node-b",
            room.topic,
            "presence",
            {"joins": [["u2", {"phx_ref": "R", "nickname": "b", "online_at": 1}]], "leaves": []},
        )
    )
    await settle()
    assert room.local_version == before + 1 and room.local_keys() == {"u1"}
    await room.stop()
