"""The serializer interface (Phoenix ``Socket.Serializer``) and its decode error."""

from __future__ import annotations

from typing import Protocol

from sketchychat.protocol.message import Frame, Message, Payload

__all__ = ["DecodeError", "Serializer"]


class DecodeError(ValueError):
    """A client frame that is not a valid Phoenix message.

    ``ref`` (and ``topic``) are filled in when they could be read from the
    frame, so the server can still answer with an error reply the client
    will route; otherwise the server sends a socket-level error notice.
    """

    def __init__(
        self,
        reason: str,
        *,
        ref: str | None = None,
        join_ref: str | None = None,
        topic: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.ref = ref
        self.join_ref = join_ref
        self.topic = topic


class Serializer(Protocol):
    """Encodes server frames and decodes client frames for one protocol version."""

    vsn: str

    def decode(self, data: bytes, *, binary: bool) -> Message:
        """Decode one client frame; raise :class:`DecodeError` when malformed."""
        ...

    def encode_reply(
        self,
        join_ref: str | None,
        ref: str | None,
        topic: str,
        status: str,
        response: Payload,
    ) -> Frame:
        """``phx_reply`` with ``{"status", "response"}``."""
        ...

    def encode_push(
        self,
        join_ref: str | None,
        ref: str | None,
        topic: str,
        event: str,
        payload: Payload,
    ) -> Frame:
        """A message to one channel (``ref`` is null except for phx_close/phx_error)."""
        ...

    def encode_broadcast(self, topic: str, event: str, payload: Payload) -> Frame:
        """A broadcast: both refs null; encoded once and shared by every member."""
        ...
