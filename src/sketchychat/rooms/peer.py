"""What a room needs from a connection that joined it.

The runtime's WebSocket connection satisfies this structurally, so rooms
never import transports (and a long-poll session could satisfy it too).
"""

from __future__ import annotations

from typing import Protocol

from sketchychat.protocol.broadcast import Broadcast
from sketchychat.protocol.message import Frame
from sketchychat.protocol.serializer import Serializer

__all__ = ["Peer"]


class Peer(Protocol):
    @property
    def serializer(self) -> Serializer: ...

    def deliver(self, broadcast: Broadcast) -> None:
        """Queue a shared, pre-encoded broadcast. Must not block or raise."""
        ...

    def send(self, frame: Frame) -> None:
        """Queue a frame meant for this connection only (a reply, a push)."""
        ...

    def join_resolved(self, topic: str, join_ref: str | None, ok: bool) -> None:
        """The room has answered the join ``join_ref``."""
        ...

    def channel_ended(self, topic: str, join_ref: str | None, crashed: bool) -> None:
        """The room ended this membership (crash → phx_error, else phx_close)."""
        ...
