"""The real node with one change, the application step, for the Autobahn TestSuite.

``python -m tests.conformance.echo_node PORT MAX_FRAME_SIZE`` serves
``/socket/websocket`` exactly as ``sketchychat serve`` does (uvloop) — the HTTP
edge, the token check, the frame parser and its limits, the close handshake —
except that a complete message goes straight back to its sender instead of into
the Phoenix socket (text as text, binary as binary). It prints the URL to
fuzz, token included, once it listens.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from sketchychat.app import build_node
from sketchychat.auth.tokens import TokenSigner
from sketchychat.config import Settings
from sketchychat.protocol.message import Frame
from sketchychat.runtime.connection import Connection
from sketchychat.transport.websocket import WebSocketEndpoint

SECRET = "autobahn-conformance-" + "x" * 32


class EchoConnection(Connection):
    """A Connection whose application step echoes each message."""

    def _message(self, data: bytes, *, binary: bool) -> None:
        self.send(Frame(binary, data))


async def serve(port: int, max_frame_size: int) -> None:
    # An echo queues whole messages back: the slow-reader bound (outbox_limit, 4 MiB by
    # default) must hold the largest one, or category 9's 16 MiB echoes would be cut
    # off with 1013 as a too-slow reader.
    outbox = max(Settings().outbox_limit, 2 * max_frame_size)
    settings = Settings(port=port, secret=SECRET, max_frame_size=max_frame_size,
                        outbox_limit=outbox).validate()
    node = build_node(settings)
    signer = TokenSigner(SECRET, settings.token_ttl)
    node.http.upgrade = WebSocketEndpoint(node.sockets, signer, EchoConnection)
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
