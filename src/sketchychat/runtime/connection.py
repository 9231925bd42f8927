"""One Phoenix socket over one WebSocket: frames in, commands executed, frames out.

The pure :class:`~sketchychat.protocol.session.Session` decides what each
message means; this class does the I/O: it parses client frames, runs the
session's commands against rooms, and owns the bounded outbox.

Backpressure policy: frames queue in the outbox and in the socket's write
buffer; when the two together exceed ``outbox_limit`` bytes the client is
too slow to keep up, and it is disconnected with close code 1013 ("try again
later"; clients reconnect) rather than ever slowing the room down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from sketchychat.auth.tokens import Identity
from sketchychat.protocol.broadcast import Broadcast
from sketchychat.protocol.commands import Command, Join, Leave, Reply, Route, Send
from sketchychat.protocol.message import Frame
from sketchychat.protocol.serializer import DecodeError, Serializer
from sketchychat.protocol.session import Session
from sketchychat.rooms.codes import ROOM_TOPIC_PREFIX, topic_code
from sketchychat.rooms.registry import RoomRegistry
from sketchychat.rooms.room import Room
from sketchychat.runtime.flusher import Flusher
from sketchychat.websocket.frames import (
    BinaryMessage,
    CloseCode,
    CloseReceived,
    Event,
    FrameParser,
    Ping,
    ProtocolError,
    TextMessage,
    binary_frame,
    close_frame,
    pong_frame,
    text_frame,
)

__all__ = ["Connection", "SocketContext"]

log = logging.getLogger("sketchychat.socket")

_OPEN, _CLOSING, _CLOSED = 0, 1, 2
_ABORT_AFTER = 5.0  # seconds a closing socket may take to drain before it is cut


def _is_room_topic(topic: str) -> bool:
    """Contract §3/§4: every ``room:<anything>`` is a room topic; a code that names no
    live room answers ``not_found`` on join, never ``unmatched topic``."""
    return topic.startswith(ROOM_TOPIC_PREFIX)


@dataclass(slots=True)
class SocketContext:
    """What every connection of a node shares."""

    registry: RoomRegistry
    flusher: Flusher
    max_channels: int = 100
    max_frame_size: int = 1024 * 1024
    outbox_limit: int = 4 * 1024 * 1024
    connections: set[Connection] = field(default_factory=set)


class Connection(asyncio.Protocol):
    __slots__ = (
        "_ctx", "_out", "_out_bytes", "_parser", "_paused", "_session",
        "_state", "_transport", "identity", "last_seen", "serializer",
    )

    def __init__(
        self, ctx: SocketContext, transport: asyncio.Transport, serializer: Serializer,
        identity: Identity,
    ) -> None:
        self._ctx = ctx
        self._transport = transport
        #: A plain attribute, not a property: rooms read it once per member per broadcast.
        self.serializer = serializer
        self.identity = identity
        self._session = Session(topic_allowed=_is_room_topic, max_channels=ctx.max_channels)
        self._parser = FrameParser(ctx.max_frame_size)
        self._out: list[bytes] | None = None
        self._out_bytes = 0
        self._paused = False
        self._state = _OPEN
        self.last_seen = time.monotonic()
        ctx.connections.add(self)

    # -- asyncio.Protocol --------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._state != _OPEN:
            return
        self.last_seen = time.monotonic()
        try:
            events = self._parser.feed(data)
        except ProtocolError as exc:
            # §7.1.7: what arrived whole before the violation is handled, then we fail.
            self._handle(exc.events)
            self.close(int(exc.code), exc.reason)
            return
        self._handle(events)

    def _handle(self, events: list[Event]) -> None:
        for event in events:
            if self._state != _OPEN:
                return
            if isinstance(event, TextMessage):
                self._message(event.data, binary=False)
            elif isinstance(event, BinaryMessage):
                self._message(event.data, binary=True)
            elif isinstance(event, Ping):
                self._queue(pong_frame(event.data))
            elif isinstance(event, CloseReceived):
                # RFC 6455 §5.5.1: answer the close with a close, then drop TCP.
                self._queue(close_frame(event.code or int(CloseCode.NORMAL)))
                self._finish()
                return
            # Pong: nothing to do; it already counted as activity.

    def connection_lost(self, exc: Exception | None) -> None:
        self._state = _CLOSED
        self._out = None
        self._ctx.connections.discard(self)
        self._run(self._session.close())

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._out is not None and self._state != _CLOSED:
            self._ctx.flusher.mark(self)

    # -- incoming messages -------------------------------------------------

    def _message(self, data: bytes, *, binary: bool) -> None:
        try:
            msg = self.serializer.decode(data, binary=binary)
        except DecodeError as err:
            self._bad_frame(err)
            return
        self._run(self._session.handle(msg))

    def _bad_frame(self, err: DecodeError) -> None:
        """Answer what can be answered; the connection goes on either way."""
        text = _DECODE_MESSAGES.get(err.reason, "The server could not read that message.")
        response = {"reason": err.reason, "message": text}
        if err.ref is not None:
            self.send(self.serializer.encode_reply(
                err.join_ref, err.ref, err.topic or "phoenix", "error", response))
        else:
            self.send(self.serializer.encode_push(None, None, "phoenix", "error", response))

    def _run(self, commands: list[Command]) -> None:
        ser = self.serializer
        for cmd in commands:
            if isinstance(cmd, Route):
                self._route(cmd)
            elif isinstance(cmd, Reply):
                self.send(ser.encode_reply(cmd.join_ref, cmd.ref, cmd.topic, cmd.status,
                                           cmd.response))
            elif isinstance(cmd, Send):
                self.send(ser.encode_push(cmd.join_ref, cmd.ref, cmd.topic, cmd.event,
                                          cmd.payload))
            elif isinstance(cmd, Join):
                self._join(cmd)
            elif isinstance(cmd, Leave):
                room = self._room(cmd.topic)
                if room is not None:
                    room.leave(self, cmd.join_ref)

    def _room(self, topic: str) -> Room | None:
        code = topic_code(topic)
        return None if code is None else self._ctx.registry.get(code)

    def _join(self, cmd: Join) -> None:
        code = topic_code(cmd.topic)
        room = None if code is None else self._ctx.registry.find_for_join(code)
        if room is None or not isinstance(cmd.payload, dict):
            reason = "not_found" if room is None else "invalid_payload"
            message = ("This room does not exist or has expired." if room is None
                       else "Join with a JSON object.")
            self.send(self.serializer.encode_reply(
                cmd.join_ref, cmd.ref, cmd.topic, "error", {"reason": reason, "message": message}))
            self._run(self._session.join_failed(cmd.topic, cmd.join_ref))
            return
        room.join(self, cmd.join_ref, cmd.ref, self.identity, cmd.payload)

    def _route(self, cmd: Route) -> None:
        room = self._room(cmd.topic)
        if room is None:
            self.send(self.serializer.encode_reply(
                None, cmd.ref, cmd.topic, "error", {"reason": "unmatched topic"}))
            return
        room.push(self, cmd.join_ref, cmd.ref, cmd.event, cmd.payload)

    # -- rooms call these (rooms.peer.Peer) --------------------------------

    def join_resolved(self, topic: str, join_ref: str | None, ok: bool) -> None:
        if ok:
            self._run(self._session.join_succeeded(topic, join_ref))
        else:
            self._run(self._session.join_failed(topic, join_ref))

    def channel_ended(self, topic: str, join_ref: str | None, crashed: bool) -> None:
        self._run(self._session.channel_ended(topic, join_ref, crashed=crashed))

    def deliver(self, broadcast: Broadcast) -> None:
        """The fan-out hot path: one append per member per broadcast (``_queue`` inlined).

        The WebSocket framing of a broadcast is built by the first member's
        connection and shared by all (:class:`~sketchychat.protocol.broadcast.Broadcast`).
        """
        if self._state != _OPEN:
            return
        data = broadcast.ws_frame
        if data is None:
            frame = broadcast.frame
            data = broadcast.ws_frame = (
                binary_frame(frame.data) if frame.binary else text_frame(frame.data))
        pending = self._out
        if pending is None:
            self._out = [data]
            self._out_bytes = len(data)
            if not self._paused:
                self._ctx.flusher.mark(self)
        else:
            pending.append(data)
            self._out_bytes += len(data)
            if self._paused and self._out_bytes > self._ctx.outbox_limit:
                self._too_slow()

    def send(self, frame: Frame) -> None:
        self._queue(binary_frame(frame.data) if frame.binary else text_frame(frame.data))

    # -- outbox --------------------------------------------------------------

    def _queue(self, data: bytes) -> None:
        if self._state != _OPEN:
            return
        out = self._out
        if out is None:
            self._out = [data]
            self._out_bytes = len(data)
            if not self._paused:
                self._ctx.flusher.mark(self)
        else:
            out.append(data)
            self._out_bytes += len(data)
            if self._paused and self._out_bytes > self._ctx.outbox_limit:
                self._too_slow()

    def flush(self) -> None:
        out = self._out
        if out is None or self._paused or self._state == _CLOSED:
            return
        self._out = None
        self._out_bytes = 0
        transport = self._transport
        transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self._state == _OPEN and transport.get_write_buffer_size() > self._ctx.outbox_limit:
            self._too_slow()

    def _too_slow(self) -> None:
        log.warning("disconnecting a client that cannot keep up (%s bytes queued)",
                    self._out_bytes + self._transport.get_write_buffer_size())
        self._out = None
        self._out_bytes = 0
        self.close(int(CloseCode.TRY_AGAIN_LATER), "too slow")

    # -- closing -------------------------------------------------------------

    def close(self, code: int, reason: str = "") -> None:
        """Server-initiated close. Never 1000: clients ≤ 1.8.15 would not reconnect."""
        if self._state != _OPEN:
            return
        self._queue(close_frame(code, reason))
        self._finish()

    def _finish(self) -> None:
        """Our Close frame is queued: send it, end our side, and let the client finish.

        Closing TCP outright while the client is still sending would answer its
        bytes with a reset, which can destroy the Close frame before it is read
        (RFC 6455 §7.1.1 wants the peer to see it). So the outbox goes out with a
        FIN after it, what still arrives is dropped, and the socket closes once
        the client closes too, or after ``_ABORT_AFTER`` at most. Channels are
        left now: presence does not wait for the client.
        """
        self._state = _CLOSING
        out = self._out
        self._out = None
        transport = self._transport
        if out:
            transport.write(b"".join(out))
        self._run(self._session.close())
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()
        asyncio.get_running_loop().call_later(_ABORT_AFTER, transport.abort)

    def eof_received(self) -> bool | None:
        return None  # the client is done too (or gave up): close the transport

    @property
    def settled(self) -> bool:
        """Nothing left to say: our Close is on the wire (or the socket is gone)."""
        return self._state == _CLOSED or (
            self._state == _CLOSING and self._transport.get_write_buffer_size() == 0)


_DECODE_MESSAGES = {
    "malformed_json": "That frame is not valid JSON text.",
    "invalid_message": "Messages are [join_ref, ref, topic, event, payload] with a JSON object "
                       "payload.",
}
