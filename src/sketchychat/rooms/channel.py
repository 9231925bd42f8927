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

from sketchychat.history.retention import Retention
from sketchychat.protocol.message import Payload
from sketchychat.rooms.history import BACKLOG, MAX_PAGE
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
        """To every member on every node (but ``skip``); not positioned, not kept."""
        ...

    def publish(self, push: Push, message: dict[str, Any]) -> None:
        """A chat message: the room positions it, stores it when it stores, acknowledges
        ``push`` with ``{"id", "seq"}`` (or an error reply) and delivers it to everyone."""
        ...

    @property
    def retention(self) -> Retention: ...

    def scroll_back(self, push: Push, member: Member, before: int | None, limit: int) -> None:
        """Answer ``push`` with the page of messages before ``before`` that ``member`` may see."""
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
    message = {
        "id": room.next_message_id(),
        "user_id": member.user_id,
        "nickname": member.nickname,
        "body": body,
        "at": room.now_ms(),
    }
    room.publish(push, message)


def typing(room: ChannelRoom, member: Member, push: Push) -> None:
    room.reply(push, {})
    room.broadcast("typing", {"user_id": member.user_id, "nickname": member.nickname}, skip=member)


def history(room: ChannelRoom, member: Member, push: Push) -> None:
    """contract.md §5: ``{"before": seq, "limit": n}`` → ``{"messages", "more"}``."""
    if not room.retention.keeps_history:
        raise Refused("no_history", "This room keeps nothing: there is no history to show.")
    payload = push.payload if isinstance(push.payload, dict) else {}
    before, limit = payload.get("before"), payload.get("limit", BACKLOG)
    if before is not None and (type(before) is not int or before < 1):
        raise Refused("invalid_history_request", "before must be a position (1 or more).")
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise Refused(
            "invalid_history_request", f"limit must be a whole number from 1 to {MAX_PAGE}."
        )
    room.scroll_back(push, member, before, limit)


#: contract.md §4, §5: the events of a chat room.
CHAT_EVENTS: Mapping[str, Handler] = {"new_msg": new_msg, "typing": typing, "history": history}
