"""Delivery in position order whatever the arrival order (pure)."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from sketchychat.history.sequencer import Sequencer


def m(seq: int) -> dict[str, int]:
    return {"seq": seq}


def seqs(messages: list[dict[str, int]]) -> list[int]:
    return [x["seq"] for x in messages]


def test_in_order_messages_go_straight_through() -> None:
    s = Sequencer()
    assert seqs(s.offer([m(1), m(2)])) == [1, 2] and s.delivered == 2 and s.missing is None


def test_early_messages_wait_for_the_hole_to_fill() -> None:
    s = Sequencer(delivered=10)
    assert s.offer([m(13), m(12)]) == []
    assert s.missing == (11, 11)
    assert seqs(s.offer([m(11)])) == [11, 12, 13] and s.missing is None


def test_duplicates_and_old_messages_are_dropped() -> None:
    s = Sequencer(delivered=5)
    assert s.offer([m(3), m(5)]) == []
    assert seqs(s.offer([m(6), m(6)])) == [6]
    assert s.offer([m(6)]) == []


def test_a_hole_nobody_stored_is_skipped() -> None:
    s = Sequencer()
    s.offer([m(3), m(4)])
    assert seqs(s.skip_to(2)) == [3, 4] and s.delivered == 4


def test_reset_starts_a_new_stream() -> None:
    s = Sequencer(delivered=50)
    s.offer([m(60)])
    s.reset(0)
    assert seqs(s.offer([m(1)])) == [1] and s.missing is None


@given(st.integers(1, 60), st.randoms())
def test_any_arrival_order_delivers_each_once_in_order(n: int, rnd: random.Random) -> None:
    arrivals = [m(i) for i in range(1, n + 1)] * 2
    rnd.shuffle(arrivals)
    s = Sequencer()
    out: list[int] = []
    for message in arrivals:
        out += seqs(s.offer([message]))
    assert out == list(range(1, n + 1))
