"""A frame encoded once and shared by every member it goes to."""

from __future__ import annotations

from sketchychat.protocol.message import Frame
from sketchychat.websocket.frames import binary_frame, text_frame

__all__ = ["Outgoing"]


class Outgoing:
    """The serializer's frame plus its WebSocket bytes, built once per broadcast.

    Server→client WebSocket frames are unmasked, so the same bytes can be
    written to every connection (perf-spike: the decisive trick with coalescing).
    """

    __slots__ = ("frame", "ws")

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.ws = binary_frame(frame.data) if frame.binary else text_frame(frame.data)
