"""The recent window: bounded by count and age, in position order (pure)."""

from __future__ import annotations

from sketchychat.history.window import RecentWindow


def m(seq: int, at: int = 1_000) -> dict[str, int]:
    return {"seq": seq, "at": at}


def test_count_bound_keeps_the_newest() -> None:
    w = RecentWindow(3, 60)
    for i in range(1, 6):
        w.append(m(i), 1_000)
    assert [x["seq"] for x in w.after(0, 1_000)] == [3, 4, 5]
    assert w.first_seq == 3 and w.last_seq == 5


def test_age_bound_drops_the_old() -> None:
    w = RecentWindow(100, 2)
    w.append(m(1, at=1_000), 1_000)
    w.append(m(2, at=2_500), 2_500)
    assert [x["seq"] for x in w.after(0, 3_200)] == [2]


def test_covers_only_when_nothing_after_is_missing() -> None:
    w = RecentWindow(3, 60)
    for i in range(1, 6):
        w.append(m(i), 1_000)
    assert w.covers(2, 1_000) and w.covers(4, 1_000)
    assert not w.covers(1, 1_000)


def test_a_hole_restarts_the_run() -> None:
    w = RecentWindow(10, 60)
    w.append(m(1), 1_000)
    w.append(m(5), 1_000)
    assert [x["seq"] for x in w.after(0, 1_000)] == [5] and not w.covers(3, 1_000)


def test_before_pages_back_above_a_floor() -> None:
    w = RecentWindow(100, 60)
    for i in range(1, 21):
        w.append(m(i), 1_000)
    assert [x["seq"] for x in w.before(15, 3, 0, 1_000)] == [12, 13, 14]
    assert [x["seq"] for x in w.before(15, 10, 10, 1_000)] == [11, 12, 13, 14]
    assert [x["seq"] for x in w.after(17, 1_000, limit=2)] == [18, 19, 20][-2:]
