"""The real node with one change, the application step, for the Autobahn TestSuite.

``python -m tests.conformance.echo_node PORT MAX_FRAME_SIZE`` serves
``/socket/websocket`` exactly as ``sketchychat serve`` does (uvloop) — the HTTP
edge, the connect step, the WebSocket transport with its frame parser, limits,
outbox and closing handshake — except for the application the transport feeds:
:class:`Echo` instead of the Phoenix socket, so a complete message goes straight
back to its sender (text as text, binary as binary). It prints the URL to
fuzz, token included, once it listens.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from sketchychat.app import build_node
from sketchychat.auth.tokens import Identity, TokenSigner
from sketchychat.config import Settings
from sketchychat.protocol.message import Frame
from sketchychat.protocol.serializer import Serializer
from sketchychat.sockets.connect import Connector
from sketchychat.sockets.transport import Receiver, Transport
from sketchychat.transport.flusher import Flusher
from sketchychat.transport.websocket import WebSocketEndpoint, WebSocketOptions

SECRET = "autobahn-conformance-" + "x" * 32


class Echo:
    """What replaces the Phoenix socket on each WebSocket: every message straight back."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.last_seen = time.monotonic()

    def receive(self, data: bytes, *, binary: bool) -> None:
        self._transport.send(Frame(binary, data))

    def ended(self) -> None:
        pass

    def lost(self) -> None:
        pass


def echo(transport: Transport, _serializer: Serializer, _identity: Identity) -> Receiver:
    return Echo(transport)


async def serve(port: int, max_frame_size: int) -> None:
    # An echo queues whole messages back: the slow-reader bound (outbox_limit, 4 MiB by
    # default) must hold the largest one, or category 9's 16 MiB echoes would be cut
    # off with 1013 as a too-slow reader.
    outbox = max(Settings().socket.outbox_limit, 2 * max_frame_size)
    settings = Settings.of(
        port=port, secret=SECRET, max_frame_size=max_frame_size, outbox_limit=outbox
    ).validate()
    node = build_node(settings)
    signer = TokenSigner(SECRET, settings.auth.token_ttl)
    options = WebSocketOptions(
        Flusher(asyncio.get_running_loop()),
        settings.socket.max_frame_size,
        settings.socket.outbox_limit,
    )
    node.http.upgrade = WebSocketEndpoint(options, Connector(signer), echo)
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    token = signer.issue("u_autobahn", "autobahn", now=time.time())
    print(f"ws://127.0.0.1:{port}/socket/websocket?vsn=2.0.0&token={token}", flush=True)
    try:
        await stop.wait()
    finally:
        await node.stop()


if __name__ == "__main__":
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(int(sys.argv[1]), int(sys.argv[2])))
