"""The room channel's handlers (contract.md §4), against a recording room."""

from __future__ import annotations

from typing import Any

import pytest

from sketchychat.history.retention import Retention
from sketchychat.rooms.channel import CHAT_EVENTS, Member, Push, Refused
from tests.support.peers import RecordingPeer


class RecordingRoom:
    """A ChannelRoom that keeps what handlers asked of it."""

    max_body_length = 10

    def __init__(self, retention: Retention | None = None) -> None:
        self.retention = retention or Retention()
        self.replies: list[tuple[Push, dict[str, Any]]] = []
        self.broadcasts: list[tuple[str, dict[str, Any], Member | None]] = []
        self.published: list[tuple[Push, dict[str, Any]]] = []
        self.pages: list[tuple[Member, int | None, int]] = []
        self.ids = 0

    def publish(self, push: Push, message: dict[str, Any]) -> None:
        self.published.append((push, message))

    def scroll_back(self, push: Push, member: Member, before: int | None, limit: int) -> None:
        self.pages.append((member, before, limit))

    def reply(self, push: Push, response: dict[str, Any]) -> None:
        self.replies.append((push, response))

    def broadcast(self, event: str, payload: dict[str, Any], skip: Member | None = None) -> None:
        self.broadcasts.append((event, payload, skip))

    def next_message_id(self) -> str:
        self.ids += 1
        return f"m{self.ids}"

    def now_ms(self) -> int:
        return 1_700_000_000_000


peer = RecordingPeer()
alice = Member(peer, "1", "u1", "alice", "R1", peer)


def push(event: str, payload: Any) -> Push:
    return Push(peer, "1", "7", event, payload)


def test_new_msg_hands_the_room_a_message_to_publish() -> None:
    """Positioning, storing, the reply and the fan-out are the room's (contract.md §5)."""
    room = RecordingRoom()
    p = push("new_msg", {"body": "hi"})
    CHAT_EVENTS["new_msg"](room, alice, p)
    assert room.published == [
        (
            p,
            {
                "id": "m1",
                "user_id": "u1",
                "nickname": "alice",
                "body": "hi",
                "at": 1_700_000_000_000,
            },
        )
    ]
    assert room.replies == [] and room.broadcasts == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"body": "   "}, "invalid_body"),
        ({}, "invalid_body"),
        ({"body": 5}, "invalid_body"),
        (b"bytes", "invalid_body"),
        ({"body": "x" * 11}, "body_too_long"),
    ],
)
def test_a_refused_message_is_neither_answered_ok_nor_broadcast(payload: Any, reason: str) -> None:
    room = RecordingRoom()
    with pytest.raises(Refused) as refused:
        CHAT_EVENTS["new_msg"](room, alice, push("new_msg", payload))
    assert refused.value.reason == reason and refused.value.message
    assert room.replies == [] and room.broadcasts == [] and room.published == []


def test_typing_goes_to_everyone_but_the_typist() -> None:
    room = RecordingRoom()
    CHAT_EVENTS["typing"](room, alice, push("typing", {}))
    assert room.broadcasts == [("typing", {"user_id": "u1", "nickname": "alice"}, alice)]
    assert room.replies[0][1] == {}


def test_history_is_refused_where_nothing_is_kept() -> None:
    room = RecordingRoom()
    with pytest.raises(Refused) as refused:
        CHAT_EVENTS["history"](room, alice, push("history", {}))
    assert refused.value.reason == "no_history" and room.pages == []


@pytest.mark.parametrize(
    ("payload", "asked"),
    [({}, (None, 50)), ({"before": 7, "limit": 3}, (7, 3)), ({"limit": 100}, (None, 100))],
)
def test_history_asks_the_room_for_a_page(payload: Any, asked: tuple[int | None, int]) -> None:
    room = RecordingRoom(Retention("memory", "shared"))
    CHAT_EVENTS["history"](room, alice, push("history", payload))
    assert room.pages == [(alice, *asked)]


@pytest.mark.parametrize(
    "payload",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": -1},
        {"limit": 2.5},
        {"limit": True},
        {"before": 0},
        {"before": "9"},
        {"before": True},
    ],
)
def test_a_bad_history_request_is_refused(payload: Any) -> None:
    room = RecordingRoom(Retention("persistent", "joined"))
    with pytest.raises(Refused) as refused:
        CHAT_EVENTS["history"](room, alice, push("history", payload))
    assert refused.value.reason == "invalid_history_request" and room.pages == []
