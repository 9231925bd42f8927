"""Plain values that cross the Phoenix wire, and the reserved names.

Mirrors ``Phoenix.Socket.Message`` / ``Reply`` / ``Broadcast``: refs and
join_refs are opaque strings echoed byte for byte (protocol.md §3.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, NamedTuple

__all__ = [
    "HEARTBEAT",
    "PHOENIX_TOPIC",
    "PHX_CLOSE",
    "PHX_ERROR",
    "PHX_JOIN",
    "PHX_LEAVE",
    "PHX_REPLY",
    "Frame",
    "Message",
    "Payload",
]

PHX_JOIN: Final = "phx_join"
PHX_LEAVE: Final = "phx_leave"
PHX_REPLY: Final = "phx_reply"
PHX_ERROR: Final = "phx_error"
PHX_CLOSE: Final = "phx_close"
HEARTBEAT: Final = "heartbeat"
PHOENIX_TOPIC: Final = "phoenix"

#: A JSON object payload, or raw bytes for a V2 binary push (protocol.md §2.3).
Payload = dict[str, Any] | bytes


@dataclass(frozen=True, slots=True)
class Message:
    """A client→server message after decoding (V1 or V2, text or binary)."""

    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: Payload


class Frame(NamedTuple):
    """One encoded server→client message: WebSocket text or binary data."""

    binary: bool
    data: bytes
