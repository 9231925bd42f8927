"""The room ↔ peer contract of the fan-out: one broadcast, encoded once, shared."""

from __future__ import annotations

from sketchychat.protocol.message import Frame

__all__ = ["Broadcast"]


class Broadcast:
    """A broadcast frame built once per serializer and handed to every member.

    ``frame`` is the serializer's output, the same object for every member
    speaking that serializer. ``ws_frame`` is that frame in WebSocket framing:
    the first WebSocket transport to send it fills it in, and every other one
    reuses it — server frames are unmasked, so the bytes are identical
    (``docs/design.md``: the decisive trick with write coalescing). A transport
    that does not frame bytes (long-poll) never pays for it.
    """

    __slots__ = ("frame", "ws_frame")

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.ws_frame: bytes | None = None
