"""The connect step every transport runs before it opens a socket (Phoenix ``connect/3``).

Pure: the transport extracts what its carrier offers (query params, the token
from wherever it travels, the ``Origin`` header) and gets back either the
identity and serializer to open the socket with, or the HTTP answer to refuse
it with (protocol.md §1). Origin checks and JWT verification plug in here, for
every transport at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sketchychat.auth.tokens import Identity, TokenError, TokenSigner
from sketchychat.protocol.serializer import Serializer
from sketchychat.protocol.versions import negotiate

__all__ = ["Accepted", "ConnectRequest", "Connector", "Refused"]


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    """What a client offers when it connects, whatever the transport."""

    #: Query parameters, Plug semantics (the last of a repeated key wins).
    params: Mapping[str, str]
    #: A token carried outside the query (the WebSocket ``authToken`` subprotocol,
    #: long-poll's ``X-Phoenix-AuthToken`` header); the ``token`` param otherwise.
    token: str | None = None
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    identity: Identity
    serializer: Serializer


@dataclass(frozen=True, slots=True)
class Refused:
    """The HTTP answer to refuse the connection with (contract.md §3: 403)."""

    status: int
    error: str
    message: str


class Connector:
    """Decides whether a connection may open a socket, and as whom."""

    __slots__ = ("_signer",)

    def __init__(self, signer: TokenSigner) -> None:
        self._signer = signer

    def connect(self, request: ConnectRequest, *, now: float) -> Accepted | Refused:
        serializer = negotiate(request.params.get("vsn"))
        if serializer is None:
            # Phoenix answers an unsupported vsn like a refused connect (protocol.md §1.1).
            return Refused(403, "unsupported_vsn", "Use vsn=2.0.0 (or 1.0.0).")
        token = request.token or request.params.get("token")
        if not token:
            return Refused(403, "forbidden", "Connect with a token from POST /api/session.")
        try:
            identity = self._signer.verify(token, now=now)
        except TokenError:
            return Refused(403, "forbidden", "That token is invalid or has expired.")
        return Accepted(identity, serializer)
