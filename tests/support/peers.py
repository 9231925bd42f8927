"""A stand-in for the Phoenix socket, as a room sees it (rooms.peer.Peer)."""

from __future__ import annotations

from typing import Any

import orjson

from sketchychat.auth.tokens import Identity
from sketchychat.protocol.broadcast import Broadcast
from sketchychat.protocol.message import Frame
from sketchychat.protocol.serializer import Serializer
from sketchychat.protocol.v2_json import V2_JSON

__all__ = ["RecordingPeer", "who"]


def who(user_id: str, nickname: str) -> Identity:
    """An identity as a verified token gives it."""
    return Identity(user_id, nickname, 2**40)


class RecordingPeer:
    """Stands in for a connection: records decoded frames and channel outcomes."""

    def __init__(self, serializer: Serializer = V2_JSON) -> None:
        self.serializer = serializer
        self.frames: list[Any] = []
        self.shared: list[Broadcast] = []
        self.resolved: list[tuple[str, str | None, bool]] = []
        self.ended: list[tuple[str, str | None, bool]] = []

    @property
    def outlet(self) -> RecordingPeer:
        """Broadcasts come back here (the socket's outlet is its transport)."""
        return self

    def deliver(self, out: Broadcast) -> None:
        self.shared.append(out)
        self.frames.append(orjson.loads(out.frame.data))

    def send(self, frame: Frame) -> None:
        self.frames.append(orjson.loads(frame.data))

    def join_resolved(self, topic: str, join_ref: str | None, ok: bool) -> None:
        self.resolved.append((topic, join_ref, ok))

    def channel_ended(self, topic: str, join_ref: str | None, crashed: bool) -> None:
        self.ended.append((topic, join_ref, crashed))

    def events(self, event: str) -> list[Any]:
        return [f for f in self.frames if isinstance(f, list) and f[3] == event]
