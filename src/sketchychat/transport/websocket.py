"""The WebSocket transport: ``GET /socket/websocket``, the handshake, then frames.

:class:`WebSocketEndpoint` runs the shared connect step before upgrading
(contract.md §3: a bad token is a 403 and no WebSocket is ever opened), then
hands the TCP transport to a :class:`WebSocketTransport`. That object keeps
only WebSocket concerns — the RFC 6455 frame parser and its limits, ping/pong,
the closing handshake, the outbox and the slow-reader policy — and feeds each
complete message to its :class:`~sketchychat.sockets.transport.Receiver`, the
Phoenix socket.

Outbox policy: frames queue in the outbox and in the socket's write buffer;
when the two together exceed ``outbox_limit`` bytes the client is too slow to
keep up, and it is disconnected with close code 1013 ("try again later";
clients reconnect) rather than ever slowing the room down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sketchychat.auth.tokens import Identity
from sketchychat.protocol.broadcast import Broadcast
from sketchychat.protocol.message import Frame
from sketchychat.protocol.serializer import Serializer
from sketchychat.sockets.connect import Connector, ConnectRequest, Refused
from sketchychat.sockets.phoenix import PhoenixSocket, SocketContext
from sketchychat.sockets.transport import Receiver, Transport
from sketchychat.transport.flusher import Flusher
from sketchychat.transport.http import Request, Response, error
from sketchychat.transport.server import Upgrade
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
from sketchychat.websocket.handshake import (
    PHOENIX_TOKEN_PREFIX,
    accept_key,
    auth_token_from_subprotocols,
    split_subprotocols,
    switching_protocols_response,
    validate_upgrade,
)

__all__ = [
    "SOCKET_PATH",
    "Application",
    "WebSocketEndpoint",
    "WebSocketOptions",
    "WebSocketTransport",
    "phoenix_application",
]

log = logging.getLogger("sketchychat.socket")

SOCKET_PATH = "/socket/websocket"

_OPEN, _CLOSING, _CLOSED = 0, 1, 2
_ABORT_AFTER = 5.0  # seconds a closing socket may take to drain before it is cut

#: Builds what a new WebSocket feeds: the Phoenix socket (or the conformance echo).
Application = Callable[[Transport, Serializer, Identity], Receiver]


@dataclass(frozen=True, slots=True)
class WebSocketOptions:
    """What every WebSocket of a node shares."""

    flusher: Flusher
    #: Largest message, bytes (fragments included); bigger → 1009.
    max_frame_size: int = 1024 * 1024
    #: Bytes queued for one client (outbox + socket buffer) before it is dropped (1013).
    outbox_limit: int = 4 * 1024 * 1024


class WebSocketTransport(asyncio.Protocol):
    """One WebSocket connection after the handshake (RFC 6455 §5-§7)."""

    __slots__ = (
        "_opts",
        "_out",
        "_out_bytes",
        "_parser",
        "_paused",
        "_state",
        "_transport",
        "receiver",
    )

    receiver: Receiver

    def __init__(self, opts: WebSocketOptions, transport: asyncio.Transport) -> None:
        self._opts = opts
        self._transport = transport
        self._parser = FrameParser(opts.max_frame_size)
        self._out: list[bytes] | None = None
        self._out_bytes = 0
        self._paused = False
        self._state = _OPEN

    # -- asyncio.Protocol --------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._state != _OPEN:
            return
        self.receiver.last_seen = time.monotonic()
        try:
            events = self._parser.feed(data)
        except ProtocolError as exc:
            # §7.1.7: what arrived whole before the violation is handled, then we fail.
            self._handle(exc.events)
            self.close(int(exc.code), exc.reason)
            return
        self._handle(events)

    def _handle(self, events: list[Event]) -> None:
        receiver = self.receiver
        for event in events:
            if self._state != _OPEN:
                return
            if isinstance(event, TextMessage):
                receiver.receive(event.data, binary=False)
            elif isinstance(event, BinaryMessage):
                receiver.receive(event.data, binary=True)
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
        # Give a message in progress back now: the socket and this transport refer to
        # each other, so the pair itself waits for the cycle collector.
        self._parser.close()
        self.receiver.lost()

    def eof_received(self) -> bool | None:
        return None  # the client is done (or gave up): close the transport

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._out is not None and self._state != _CLOSED:
            self._opts.flusher.mark(self)

    # -- the socket's side (sockets.transport.Transport) ----------------------

    def deliver(self, broadcast: Broadcast) -> None:
        """The fan-out hot path: one append per member per broadcast (``_queue`` inlined).

        The WebSocket framing of a broadcast is built by the first member's
        transport and shared by all (:class:`~sketchychat.protocol.broadcast.Broadcast`).
        """
        if self._state != _OPEN:
            return
        data = broadcast.ws_frame
        if data is None:
            frame = broadcast.frame
            data = broadcast.ws_frame = (
                binary_frame(frame.data) if frame.binary else text_frame(frame.data)
            )
        pending = self._out
        if pending is None:
            self._out = [data]
            self._out_bytes = len(data)
            if not self._paused:
                self._opts.flusher.mark(self)
        else:
            pending.append(data)
            self._out_bytes += len(data)
            if self._paused and self._out_bytes > self._opts.outbox_limit:
                self._too_slow()

    def send(self, frame: Frame) -> None:
        self._queue(binary_frame(frame.data) if frame.binary else text_frame(frame.data))

    def close(self, code: int, reason: str = "") -> None:
        """Server-initiated close. Never 1000: clients ≤ 1.8.15 would not reconnect."""
        if self._state != _OPEN:
            return
        self._queue(close_frame(code, reason))
        self._finish()

    @property
    def settled(self) -> bool:
        """Nothing left to say: our Close is on the wire (or the socket is gone)."""
        return self._state == _CLOSED or (
            self._state == _CLOSING and self._transport.get_write_buffer_size() == 0
        )

    # -- outbox --------------------------------------------------------------

    def _queue(self, data: bytes) -> None:
        if self._state != _OPEN:
            return
        out = self._out
        if out is None:
            self._out = [data]
            self._out_bytes = len(data)
            if not self._paused:
                self._opts.flusher.mark(self)
        else:
            out.append(data)
            self._out_bytes += len(data)
            if self._paused and self._out_bytes > self._opts.outbox_limit:
                self._too_slow()

    def flush(self) -> None:
        out = self._out
        if out is None or self._paused or self._state == _CLOSED:
            return
        self._out = None
        self._out_bytes = 0
        transport = self._transport
        transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self._state == _OPEN and transport.get_write_buffer_size() > self._opts.outbox_limit:
            self._too_slow()

    def _too_slow(self) -> None:
        log.warning(
            "disconnecting a client that cannot keep up (%s bytes queued)",
            self._out_bytes + self._transport.get_write_buffer_size(),
        )
        self._out = None
        self._out_bytes = 0
        self.close(int(CloseCode.TRY_AGAIN_LATER), "too slow")

    # -- closing -------------------------------------------------------------

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
        self.receiver.ended()
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()
        asyncio.get_running_loop().call_later(_ABORT_AFTER, transport.abort)


class WebSocketEndpoint:
    """Answers the upgrade request: the connect step, then 101 and a transport."""

    def __init__(
        self,
        opts: WebSocketOptions,
        connector: Connector,
        application: Application,
    ) -> None:
        """``application`` builds what each new socket feeds: the Phoenix socket in
        the product, an echo in the conformance harness."""
        self._opts = opts
        self._connector = connector
        self._application = application

    def __call__(self, request: Request) -> Upgrade | Response:
        if request.path != SOCKET_PATH:
            return error(400, "bad_request", "WebSocket upgrades are served at /socket/websocket.")
        problem = validate_upgrade(request.method, request.headers)
        if problem is not None:
            resp = error(problem.status, "bad_handshake", problem.reason)
            resp.headers.extend((name.lower(), value) for name, value in problem.headers)
            return resp
        offered = split_subprotocols(request.headers.get("sec-websocket-protocol"))
        result = self._connector.connect(
            ConnectRequest(
                request.query, auth_token_from_subprotocols(offered), request.headers.get("origin")
            ),
            now=time.time(),
        )
        if isinstance(result, Refused):
            return error(result.status, result.error, result.message)
        plain = [p for p in offered if not p.startswith(PHOENIX_TOKEN_PREFIX)]
        if plain and "phoenix" not in plain:
            # Browsers fail a handshake whose offered subprotocols were all refused.
            return error(403, "forbidden", "Offer the 'phoenix' subprotocol.")
        subprotocol = "phoenix" if "phoenix" in plain else None
        response = switching_protocols_response(
            accept_key(request.headers["sec-websocket-key"]), subprotocol
        )
        opts, application = self._opts, self._application
        serializer, identity = result.serializer, result.identity

        def take_over(transport: asyncio.Transport) -> asyncio.Protocol:
            ws = WebSocketTransport(opts, transport)
            ws.receiver = application(ws, serializer, identity)
            return ws

        return Upgrade(response, take_over)


def phoenix_application(ctx: SocketContext) -> Application:
    """The product's application: every WebSocket carries one Phoenix socket."""

    def open_socket(transport: Transport, serializer: Serializer, identity: Identity) -> Receiver:
        return PhoenixSocket(ctx, transport, serializer, identity, now=time.monotonic())

    return open_socket
