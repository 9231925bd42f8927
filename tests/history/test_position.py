"""Positions in a room's stream: parsed strictly from what a client sends."""

from __future__ import annotations

from typing import Any

import pytest

from sketchychat.history.position import Position, PositionError, new_epoch


def test_a_position_round_trips() -> None:
    assert Position.parse({"epoch": "abc", "seq": 4}) == Position("abc", 4)
    assert Position("abc", 4).payload() == {"epoch": "abc", "seq": 4}


@pytest.mark.parametrize(
    "raw",
    [
        "abc:4",
        [1, 2],
        None,
        {},
        {"epoch": "abc"},
        {"seq": 3},
        {"epoch": "", "seq": 1},
        {"epoch": "x" * 65, "seq": 1},
        {"epoch": 7, "seq": 1},
        {"epoch": "abc", "seq": -1},
        {"epoch": "abc", "seq": 1.5},
        {"epoch": "abc", "seq": "4"},
        {"epoch": "abc", "seq": True},
        {"epoch": "abc", "seq": 2**60},
    ],
)
def test_anything_else_is_a_position_error(raw: Any) -> None:
    with pytest.raises(PositionError):
        Position.parse(raw)


def test_epochs_are_short_distinct_and_url_safe() -> None:
    epochs = {new_epoch() for _ in range(1000)}
    assert len(epochs) == 1000
    assert all(len(e) == 12 and e.replace("-", "").replace("_", "").isalnum() for e in epochs)
