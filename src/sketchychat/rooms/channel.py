"""The room channel: what each client event does (contract.md §4).

A table from event name to handler, like a Phoenix channel's ``handle_in``
clauses. A handler runs inside the room's actor with the member who sent the
event; it answers through the :class:`ChannelRoom` it is given and raises
:class:`Refused` for an error reply. A new event, or a new kind of room
(history, end-to-end encryption), adds handlers here, not branches in the room.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sketchychat.protocol.message import Payload
from sketchychat.rooms.peer import Outlet, Peer

__all__ = ["CHAT_EVENTS", "ChannelRoom", "Handler", "Member", "Push", "Refused"]


class Member:
    """One joined channel of one socket, as the room keeps it."""

    __slots__ = ("join_ref", "nickname", "outlet", "peer", "phx_ref", "user_id")

    def __init__(
        self,
        peer: Peer,
        join_ref: str | None,
        user_id: str,
        nickname: str,
        phx_ref: str,
        outlet: Outlet,
    ) -> None:
        self.peer = peer
        self.join_ref = join_ref
        self.user_id = user_id
        self.nickname = nickname
        self.phx_ref = phx_ref
        #: Where this member's broadcasts go (``peer.outlet``, kept: the fan-out's one call).
        self.outlet = outlet


@dataclass(frozen=True, slots=True)
class Push:
    """A client event for the room: ``[join_ref, ref, topic, event, payload]``."""

    peer: Peer
    join_ref: str | None
    ref: str | None
    event: str
    payload: Payload


class Refused(Exception):
    """A client event the room answers with an error reply."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


class ChannelRoom(Protocol):
    """What a handler may do with the room it runs in."""

    @property
    def max_body_length(self) -> int: ...

    def reply(self, push: Push, response: dict[str, Any]) -> None:
        """An ok reply to ``push``."""
        ...

    def broadcast(self, event: str, payload: dict[str, Any], skip: Member | None = None) -> None:
        """To every member on every node (but ``skip``)."""
        ...

    def next_message_id(self) -> str: ...

    def now_ms(self) -> int: ...


Handler = Callable[[ChannelRoom, Member, Push], None]


def new_msg(room: ChannelRoom, member: Member, push: Push) -> None:
    payload = push.payload
    body = payload.get("body") if isinstance(payload, dict) else None
    if not isinstance(body, str) or not body.strip():
        raise Refused("invalid_body", "A message needs some text.")
    if len(body) > room.max_body_length:
        raise Refused(
            "body_too_long", f"Messages can be at most {room.max_body_length} characters long."
        )
    msg_id = room.next_message_id()
    message = {
        "id": msg_id,
        "user_id": member.user_id,
        "nickname": member.nickname,
        "body": body,
        "at": room.now_ms(),
    }
    room.reply(push, {"id": msg_id})
    room.broadcast("new_msg", message)


def typing(room: ChannelRoom, member: Member, push: Push) -> None:
    room.reply(push, {})
    room.broadcast("typing", {"user_id": member.user_id, "nickname": member.nickname}, skip=member)


#: contract.md §4: the events of a chat room.
CHAT_EVENTS: Mapping[str, Handler] = {"new_msg": new_msg, "typing": typing}
