"""What the pure socket session asks the runtime to do.

:class:`~sketchychat.protocol.session.Session` turns each decoded client
message into a list of these; the runtime executes them in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from sketchychat.protocol.message import Payload

__all__ = ["Command", "Join", "Leave", "Reply", "Route", "Send"]


@dataclass(frozen=True, slots=True)
class Reply:
    """Send ``phx_reply`` ``{"status", "response"}`` now, refs echoed as given."""

    join_ref: str | None
    ref: str | None
    topic: str
    status: str
    response: Payload


@dataclass(frozen=True, slots=True)
class Send:
    """Send one channel message now (``phx_close``, ``phx_error``)."""

    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class Join:
    """Ask the channel behind ``topic`` to admit this connection.

    The runtime answers the join (the reply comes from the channel) and then
    reports the outcome with ``Session.join_succeeded`` / ``join_failed``.
    """

    topic: str
    join_ref: str | None
    ref: str | None
    payload: Payload


@dataclass(frozen=True, slots=True)
class Leave:
    """Remove this connection's membership ``join_ref`` from ``topic``'s channel.

    Emitted for a client ``phx_leave``, a duplicate join (old join_ref) and
    when the socket closes. Sends nothing by itself.
    """

    topic: str
    join_ref: str | None


@dataclass(frozen=True, slots=True)
class Route:
    """Deliver a client event to the joined channel ``topic`` (membership ``join_ref``)."""

    topic: str
    join_ref: str | None
    ref: str | None
    event: str
    payload: Payload


Command = Reply | Send | Join | Leave | Route
