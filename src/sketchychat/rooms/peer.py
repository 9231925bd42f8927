"""What a room needs from whoever joined it: the room ↔ peer contract.

The Phoenix socket satisfies it structurally, whatever transport carries it, so
rooms never import sockets or transports. The fan-out goes to the peer's
:class:`Outlet` — the transport itself — so that a broadcast reaches every
member with one call each and no hop through the socket: the room hands all of
them the same :class:`~sketchychat.protocol.broadcast.Broadcast`.
"""

from __future__ import annotations

from typing import Protocol

from sketchychat.protocol.broadcast import Broadcast
from sketchychat.protocol.message import Frame
from sketchychat.protocol.serializer import Serializer

__all__ = ["Outlet", "Peer"]


class Outlet(Protocol):
    def deliver(self, broadcast: Broadcast) -> None:
        """Queue a shared, pre-encoded broadcast. Must not block or raise."""
        ...


class Peer(Protocol):
    @property
    def serializer(self) -> Serializer: ...

    @property
    def outlet(self) -> Outlet:
        """Where this peer's broadcasts go; the room keeps it for the fan-out."""
        ...

    def send(self, frame: Frame) -> None:
        """Queue a frame meant for this peer only (a reply, a push)."""
        ...

    def join_resolved(self, topic: str, join_ref: str | None, ok: bool) -> None:
        """The room has answered the join ``join_ref``."""
        ...

    def channel_ended(self, topic: str, join_ref: str | None, crashed: bool) -> None:
        """The room ended this membership (crash → phx_error, else phx_close)."""
        ...
