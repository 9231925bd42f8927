"""``GET /socket/websocket``: authenticate, negotiate, then hand over to a Connection.

Everything is checked *before* the upgrade (contract §3): a missing, forged,
tampered or expired token is a 403 and no WebSocket is ever opened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sketchychat.auth.tokens import Identity, TokenError, TokenSigner
from sketchychat.protocol.serializer import Serializer
from sketchychat.protocol.versions import negotiate
from sketchychat.runtime.connection import Connection, SocketContext
from sketchychat.transport.http import Request, Response, error
from sketchychat.transport.server import Upgrade
from sketchychat.websocket.handshake import (
    accept_key,
    auth_token_from_subprotocols,
    split_subprotocols,
    switching_protocols_response,
    validate_upgrade,
)

__all__ = ["SOCKET_PATH", "WebSocketEndpoint"]

SOCKET_PATH = "/socket/websocket"


ConnectionFactory = Callable[[SocketContext, asyncio.Transport, Serializer, Identity], Connection]


class WebSocketEndpoint:
    def __init__(
        self, ctx: SocketContext, signer: TokenSigner,
        connection: ConnectionFactory = Connection,
    ) -> None:
        """``connection`` builds the protocol that takes the socket over; the
        conformance harness swaps in one whose application step is an echo."""
        self._ctx = ctx
        self._signer = signer
        self._connection = connection

    def __call__(self, request: Request) -> Upgrade | Response:
        if request.path != SOCKET_PATH:
            return error(400, "bad_request", "WebSocket upgrades are served at /socket/websocket.")
        problem = validate_upgrade(request.method, request.headers)
        if problem is not None:
            resp = error(problem.status, "bad_handshake", problem.reason)
            resp.headers.extend((name.lower(), value) for name, value in problem.headers)
            return resp
        serializer = negotiate(request.query.get("vsn"))
        if serializer is None:
            # Phoenix answers an unsupported vsn like a refused connect (reference §1.1).
            return error(403, "unsupported_vsn", "Use vsn=2.0.0 (or 1.0.0).")
        offered = split_subprotocols(request.headers.get("sec-websocket-protocol"))
        token = auth_token_from_subprotocols(offered) or request.query.get("token")
        if not token:
            return error(403, "forbidden", "Connect with a token from POST /api/session.")
        try:
            identity = self._signer.verify(token, now=time.time())
        except TokenError:
            return error(403, "forbidden", "That token is invalid or has expired.")
        plain = [p for p in offered if not p.startswith("base64url.bearer.phx.")]
        if plain and "phoenix" not in plain:
            # Browsers fail a handshake whose offered subprotocols were all refused.
            return error(403, "forbidden", "Offer the 'phoenix' subprotocol.")
        subprotocol = "phoenix" if "phoenix" in plain else None
        response = switching_protocols_response(
            accept_key(request.headers["sec-websocket-key"]), subprotocol)
        ctx = self._ctx
        factory = self._connection

        def connect(transport: asyncio.Transport) -> asyncio.Protocol:
            return factory(ctx, transport, serializer, identity)

        return Upgrade(response, connect)
