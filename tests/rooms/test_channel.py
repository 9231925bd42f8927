"""The room channel's handlers (contract.md §4), against a recording room."""

from __future__ import annotations

from typing import Any

import pytest

from sketchychat.rooms.channel import CHAT_EVENTS, Member, Push, Refused
from tests.support.peers import RecordingPeer


class RecordingRoom:
    """A ChannelRoom that keeps what handlers asked of it."""

    max_body_length = 10

    def __init__(self) -> None:
        self.replies: list[tuple[Push, dict[str, Any]]] = []
        self.broadcasts: list[tuple[str, dict[str, Any], Member | None]] = []
        self.ids = 0

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


def test_new_msg_replies_with_the_id_then_broadcasts_to_everyone() -> None:
    room = RecordingRoom()
    p = push("new_msg", {"body": "hi"})
    CHAT_EVENTS["new_msg"](room, alice, p)
    assert room.replies == [(p, {"id": "m1"})]
    assert room.broadcasts == [
        (
            "new_msg",
            {
                "id": "m1",
                "user_id": "u1",
                "nickname": "alice",
                "body": "hi",
                "at": 1_700_000_000_000,
            },
            None,
        )
    ]


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
    assert room.replies == [] and room.broadcasts == []


def test_typing_goes_to_everyone_but_the_typist() -> None:
    room = RecordingRoom()
    CHAT_EVENTS["typing"](room, alice, push("typing", {}))
    assert room.broadcasts == [("typing", {"user_id": "u1", "nickname": "alice"}, alice)]
    assert room.replies[0][1] == {}
