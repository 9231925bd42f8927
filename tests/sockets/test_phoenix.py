"""The transport-neutral Phoenix socket, over a recording transport (no bytes, no framing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from sketchychat.auth.tokens import Identity
from sketchychat.protocol.broadcast import Broadcast
from sketchychat.protocol.message import Frame
from sketchychat.protocol.v1_json import V1_JSON
from sketchychat.protocol.v2_json import V2_JSON
from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.memory import MemoryAdapter
from sketchychat.rooms.codes import RoomCodes
from sketchychat.rooms.registry import RoomRegistry
from sketchychat.sockets.phoenix import PhoenixSocket, SocketContext


class RecordingTransport:
    """A Transport that keeps what the socket asked of it."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.delivered: list[Broadcast] = []
        self.closes: list[tuple[int, str]] = []

    def send(self, frame: Frame) -> None:
        self.frames.append(frame)

    def deliver(self, broadcast: Broadcast) -> None:
        self.delivered.append(broadcast)

    def close(self, code: int, reason: str = "") -> None:
        self.closes.append((code, reason))

    @property
    def settled(self) -> bool:
        return bool(self.closes)

    def json(self) -> list[Any]:
        return [orjson.loads(f.data) for f in self.frames]


@pytest.fixture
async def ctx() -> AsyncIterator[SocketContext]:
    pubsub = PubSub("n1", MemoryAdapter())
    await pubsub.start()
    registry = RoomRegistry(RoomCodes("k" * 32), pubsub, idle_timeout=60)
    yield SocketContext(registry=registry)
    await registry.stop()


def open_socket(
    ctx: SocketContext, serializer: Any = V2_JSON
) -> tuple[PhoenixSocket, RecordingTransport]:
    transport = RecordingTransport()
    sock = PhoenixSocket(ctx, transport, serializer, Identity("u1", "alice", 2**40), now=1.0)
    return sock, transport


async def test_a_socket_is_known_to_the_node_until_it_is_lost(ctx: SocketContext) -> None:
    sock, _ = open_socket(ctx)
    assert sock in ctx.sockets and sock.last_seen == 1.0
    sock.lost()
    assert sock not in ctx.sockets


async def test_broadcasts_go_straight_to_the_transport(ctx: SocketContext) -> None:
    sock, transport = open_socket(ctx)
    # The room's per-member call lands in the transport directly, not in a wrapper.
    assert sock.outlet is transport
    sock.send(Frame(False, b"[1]"))
    assert transport.frames == [Frame(False, b"[1]")]


async def test_a_heartbeat_is_answered_through_the_transport(ctx: SocketContext) -> None:
    sock, transport = open_socket(ctx)
    sock.receive(b'[null,"7","phoenix","heartbeat",{}]', binary=False)
    assert transport.json() == [
        [None, "7", "phoenix", "phx_reply", {"status": "ok", "response": {}}]
    ]


async def test_garbage_gets_a_notice_and_the_socket_goes_on(ctx: SocketContext) -> None:
    sock, transport = open_socket(ctx)
    sock.receive(b"{nope", binary=False)
    sock.receive(b'["1","2","room:x","new_msg"]', binary=False)
    notice, reply = transport.json()
    assert notice[:4] == [None, None, "phoenix", "error"]
    assert notice[4]["reason"] == "malformed_json" and notice[4]["message"]
    assert reply[1] == "2" and reply[4]["response"]["reason"] == "invalid_message"
    assert transport.closes == []


async def test_joining_a_room_and_leaving_it(ctx: SocketContext) -> None:
    room = ctx.registry.create()
    sock, transport = open_socket(ctx)
    sock.receive(f'["3","3","room:{room.code}","phx_join",{{}}]'.encode(), binary=False)
    await asyncio.sleep(0.01)
    reply, state = transport.json()
    assert reply[:4] == ["3", "3", room.topic, "phx_reply"]
    assert reply[4]["status"] == "ok"
    response = reply[4]["response"]
    assert (response["user_id"], response["nickname"]) == ("u1", "alice")
    assert response["retention"]["kind"] == "ephemeral"
    assert response["position"]["seq"] == 0 and response["replay"] == {"after": 0, "count": 0}
    assert state[3] == "presence_state" and "u1" in state[4]
    assert room.online == 1
    sock.ended()
    await asyncio.sleep(0.01)
    assert room.online == 0


async def test_a_join_to_no_room_is_not_found_and_to_no_topic_unmatched(
    ctx: SocketContext,
) -> None:
    sock, transport = open_socket(ctx)
    sock.receive(b'["1","1","room:nothere","phx_join",{}]', binary=False)
    sock.receive(b'["2","2","lobby","phx_join",{}]', binary=False)
    found, unmatched = transport.json()
    assert found[4]["response"]["reason"] == "not_found"
    assert unmatched[:2] == [None, "2"] and unmatched[4]["response"]["reason"] == "unmatched topic"


async def test_a_v1_socket_answers_in_v1(ctx: SocketContext) -> None:
    sock, transport = open_socket(ctx, V1_JSON)
    sock.receive(b'{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"4"}', binary=True)
    assert transport.json() == [
        {
            "topic": "phoenix",
            "event": "phx_reply",
            "ref": "4",
            "payload": {"status": "ok", "response": {}},
        }
    ]


async def test_the_node_closes_a_socket_through_its_transport(ctx: SocketContext) -> None:
    sock, transport = open_socket(ctx)
    assert not sock.settled
    sock.close(1012, "server restart")
    assert transport.closes == [(1012, "server restart")] and sock.settled
