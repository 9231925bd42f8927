"""The WebSocket transport: outbox policy, frames and closing, over an in-memory TCP transport.

The receiver is the real Phoenix socket, so these also show the two working together.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from sketchychat.auth.tokens import Identity
from sketchychat.protocol.broadcast import Broadcast
from sketchychat.protocol.message import Frame
from sketchychat.protocol.v2_json import V2_JSON
from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.memory import MemoryAdapter
from sketchychat.rooms.codes import RoomCodes
from sketchychat.rooms.registry import RoomRegistry
from sketchychat.sockets.phoenix import PhoenixSocket, SocketContext
from sketchychat.transport.flusher import Flusher
from sketchychat.transport.websocket import WebSocketOptions, WebSocketTransport


class MemoryTransport(asyncio.Transport):
    """Records writes; ``buffered`` plays the socket's unsent bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.buffered = 0
        self.closed = False
        self.eof = False
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.eof, "write after our FIN"
        self.writes.append(bytes(data))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    @property
    def ended(self) -> bool:
        """The server has ended its side: closed, or FIN sent while the client finishes."""
        return self.closed or self.eof

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed


def masked(text: bytes, opcode: int = 1) -> bytes:
    assert len(text) < 126
    return bytes([0x80 | opcode, 0x80 | len(text)]) + b"\0\0\0\0" + text


def server_frames(transport: MemoryTransport) -> list[tuple[int, bytes]]:
    """Parse what the server wrote (unmasked) by masking it for our client-side parser."""
    out: list[tuple[int, bytes]] = []
    data = b"".join(transport.writes)
    i = 0
    while i < len(data):
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n = int.from_bytes(data[i : i + 2], "big")
            i += 2
        out.append((op, data[i : i + n]))
        i += n
    return out


def texts(transport: MemoryTransport) -> list[Any]:
    return [orjson.loads(p) for op, p in server_frames(transport) if op == 1]


@pytest.fixture
async def ctx() -> AsyncIterator[SocketContext]:
    pubsub = PubSub("n1", MemoryAdapter())
    await pubsub.start()
    registry = RoomRegistry(RoomCodes("k" * 32), pubsub, idle_timeout=60)
    yield SocketContext(registry=registry)
    await registry.stop()


def connect(ctx: SocketContext) -> tuple[WebSocketTransport, MemoryTransport]:
    transport = MemoryTransport()
    opts = WebSocketOptions(Flusher(asyncio.get_running_loop()), outbox_limit=10_000)
    conn = WebSocketTransport(opts, transport)
    conn.receiver = PhoenixSocket(ctx, conn, V2_JSON, Identity("u1", "alice", 2**40), now=0.0)
    return conn, transport


async def test_frames_queued_in_one_turn_go_out_in_one_write(ctx: SocketContext) -> None:
    conn, transport = connect(ctx)
    shared = Broadcast(Frame(False, b'[null,null,"room:x","new_msg",{}]'))
    for _ in range(5):
        conn.deliver(shared)
    conn.send(Frame(False, b"[1]"))
    assert transport.writes == []
    await asyncio.sleep(0)
    assert len(transport.writes) == 1
    assert len(server_frames(transport)) == 6


async def test_a_heartbeat_is_answered_on_the_next_turn(ctx: SocketContext) -> None:
    conn, transport = connect(ctx)
    conn.data_received(masked(b'[null,"12","phoenix","heartbeat",{}]'))
    await asyncio.sleep(0)
    assert texts(transport) == [
        [None, "12", "phoenix", "phx_reply", {"status": "ok", "response": {}}]
    ]


async def test_pings_get_pongs_and_garbage_gets_a_notice(ctx: SocketContext) -> None:
    conn, transport = connect(ctx)
    conn.data_received(masked(b"hello", opcode=9) + masked(b"{nope"))
    await asyncio.sleep(0)
    frames = server_frames(transport)
    assert frames[0] == (10, b"hello")
    notice = orjson.loads(frames[1][1])
    assert notice[:4] == [None, None, "phoenix", "error"]
    assert notice[4]["reason"] == "malformed_json"
    assert not transport.ended


async def test_a_client_that_cannot_keep_up_is_closed_with_1013(ctx: SocketContext) -> None:
    conn, transport = connect(ctx)
    transport.buffered = 20_000  # the socket already holds more than the limit
    conn.send(Frame(False, b"[1]"))
    await asyncio.sleep(0)
    close = [p for op, p in server_frames(transport) if op == 8]
    assert close and int.from_bytes(close[0][:2], "big") == 1013
    assert transport.ended


async def test_while_paused_frames_wait_and_overflow_disconnects(ctx: SocketContext) -> None:
    conn, transport = connect(ctx)
    conn.pause_writing()
    conn.send(Frame(False, b"[1]"))
    await asyncio.sleep(0)
    assert transport.writes == []
    conn.resume_writing()
    await asyncio.sleep(0)
    assert texts(transport) == [[1]]
    conn.pause_writing()
    big = Broadcast(Frame(False, b"[" + b"0," * 3000 + b"0]"))
    for _ in range(3):
        conn.deliver(big)
    assert transport.ended  # past the limit while paused: disconnected, room never waits


async def test_server_closes_are_never_1000_and_happen_once(ctx: SocketContext) -> None:
    conn, transport = connect(ctx)
    conn.close(1012, "server restart")
    conn.close(1001, "again")
    close = [p for op, p in server_frames(transport) if op == 8]
    assert len(close) == 1 and int.from_bytes(close[0][:2], "big") == 1012
    conn.send(Frame(False, b"[2]"))  # nothing is queued once closing
    await asyncio.sleep(0)
    assert len(server_frames(transport)) == 1


async def test_a_protocol_violation_closes_with_its_code(ctx: SocketContext) -> None:
    conn, transport = connect(ctx)
    conn.data_received(b"\x81\x05hello")  # unmasked client frame: RFC 6455 §5.1
    close = [p for op, p in server_frames(transport) if op == 8]
    assert int.from_bytes(close[0][:2], "big") == 1002


async def test_losing_the_socket_leaves_every_room(ctx: SocketContext) -> None:
    room = ctx.registry.create()
    conn, _ = connect(ctx)
    join = f'["3","3","room:{room.code}","phx_join",{{}}]'.encode()
    conn.data_received(masked(join))
    await asyncio.sleep(0.01)
    assert room.online == 1
    conn.connection_lost(None)
    await asyncio.sleep(0.01)
    assert room.online == 0 and conn.receiver not in ctx.sockets


async def test_a_broadcast_is_framed_once_for_every_websocket(ctx: SocketContext) -> None:
    (a, ta), (b, tb) = connect(ctx), connect(ctx)
    shared = Broadcast(Frame(False, b'[null,null,"room:x","new_msg",{"n":1}]'))
    assert shared.ws_frame is None
    a.deliver(shared)
    framed = shared.ws_frame
    assert framed is not None
    b.deliver(shared)
    assert shared.ws_frame is framed  # built by the first transport, reused by the second
    await asyncio.sleep(0)
    assert ta.writes == tb.writes == [framed]


async def test_the_receiver_hears_when_the_socket_ends_and_when_it_is_gone(
    ctx: SocketContext,
) -> None:
    conn, transport = connect(ctx)
    heard: list[str] = []

    class Listener:
        last_seen = 0.0

        def receive(self, data: bytes, *, binary: bool) -> None:
            heard.append(f"{'binary' if binary else 'text'}:{data.decode()}")

        def ended(self) -> None:
            heard.append("ended")

        def lost(self) -> None:
            heard.append("lost")

    conn.receiver = Listener()
    conn.data_received(masked(b"hi") + masked(b"yo", opcode=2))
    assert conn.receiver.last_seen > 0
    conn.close(1001, "bye")
    conn.data_received(masked(b"ignored"))  # nothing is read once closing
    conn.connection_lost(None)
    assert heard == ["text:hi", "binary:yo", "ended", "lost"]
    assert transport.eof and conn.settled
