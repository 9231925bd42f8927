"""The seam between a Phoenix socket and whatever carries its frames.

A transport (WebSocket today, long-poll next) turns bytes on a connection into
messages for a :class:`Receiver` — the Phoenix socket, or the conformance
echo — and offers the socket the three things it needs back: send a frame,
deliver a shared broadcast, close (Phoenix's ``Socket.Transport`` behaviour).
"""

from __future__ import annotations

from typing import Protocol

from sketchychat.protocol.broadcast import Broadcast
from sketchychat.protocol.message import Frame

__all__ = ["Receiver", "Transport"]


class Transport(Protocol):
    """What a Phoenix socket needs from its carrier."""

    def send(self, frame: Frame) -> None:
        """Queue one frame for this socket (a reply, a push); never blocks."""
        ...

    def deliver(self, broadcast: Broadcast) -> None:
        """Queue a broadcast shared with other sockets: the fan-out hot path.

        Must not block or raise; a client too slow to keep up is the
        transport's to drop (the room never waits).
        """
        ...

    def close(self, code: int, reason: str = "") -> None:
        """End the socket; ``code`` is a WebSocket close code, never 1000."""
        ...

    @property
    def settled(self) -> bool:
        """Nothing left to send: the close is on the wire, or the connection is gone."""
        ...


class Receiver(Protocol):
    """What a transport feeds: every complete message, and the end of the socket."""

    #: ``time.monotonic()`` of the client's last sign of life; the idle sweep reads it.
    last_seen: float

    def receive(self, data: bytes, *, binary: bool) -> None:
        """One complete client message (text or binary frame payload)."""
        ...

    def ended(self) -> None:
        """The socket will carry no more messages (closing, or lost)."""
        ...

    def lost(self) -> None:
        """The connection is gone."""
        ...
