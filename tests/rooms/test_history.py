"""What a join replays and what a page shows (contract.md §5), without a network.

A lone node's rooms need no store; rooms with a store are tried on a real SQLite
file (the same store persistent rooms use).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sketchychat.history.base import Message
from sketchychat.history.position import PositionError
from sketchychat.history.retention import Retention, RetentionPolicy, Window
from sketchychat.history.sql import SqlStore
from sketchychat.history.sqlite import SqliteDriver
from sketchychat.rooms.history import BACKLOG, RoomHistory

NOW = 10**12
POLICY = RetentionPolicy(recovery=Window(5, 120.0), memory=Window(100, 3600.0))
EPHEMERAL = Retention()
MEMORY = Retention("memory", "shared")
MEMORY_JOINED = Retention("memory", "joined")


def say(history: RoomHistory, n: int, at: int = NOW) -> list[dict[str, Any]]:
    """``n`` messages through a storeless room; the ones delivered."""
    out = []
    for i in range(n):
        placed = history.publish({"id": f"m{i}", "body": "x", "at": at}, lambda *_: None)
        assert placed is not None
        out += history.accept([placed], at)
    return out


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["seq"] for m in messages]


def test_positions_follow_each_other_under_one_epoch() -> None:
    h = RoomHistory(EPHEMERAL, POLICY)
    delivered = say(h, 3)
    assert seqs(delivered) == [1, 2, 3] and {m["epoch"] for m in delivered} == {h.epoch}
    assert h.position() == {"epoch": h.epoch, "seq": 3}


def test_an_ephemeral_newcomer_sees_nothing_from_before() -> None:
    h = RoomHistory(EPHEMERAL, POLICY)
    say(h, 3)
    plan = h.plan_join({}, "u1", NOW)
    assert (plan.after, plan.messages, plan.recovered) == (3, [], None)


def test_a_client_back_within_the_window_gets_exactly_what_it_missed() -> None:
    h = RoomHistory(EPHEMERAL, POLICY)
    h.plan_join({}, "u1", NOW)  # u1 was here from the start
    say(h, 4)
    plan = h.plan_join({"position": {"epoch": h.epoch, "seq": 2}}, "u1", NOW)
    assert seqs(plan.messages) == [3, 4] and plan.recovered is True and not plan.needs_store


def test_beyond_the_window_it_is_told_some_are_missing() -> None:
    h = RoomHistory(EPHEMERAL, POLICY)
    h.plan_join({}, "u1", NOW)  # u1 was here from the start
    say(h, 12)  # the window holds 5
    plan = h.plan_join({"position": {"epoch": h.epoch, "seq": 2}}, "u1", NOW)
    assert seqs(plan.messages) == [8, 9, 10, 11, 12] and plan.recovered is False


def test_too_old_by_age_is_missing_too() -> None:
    h = RoomHistory(EPHEMERAL, POLICY)
    h.plan_join({}, "u1", NOW)  # u1 was here from the start
    say(h, 3, at=NOW)
    plan = h.plan_join({"position": {"epoch": h.epoch, "seq": 1}}, "u1", NOW + 121_000)
    assert plan.messages == [] and plan.recovered is False


def test_a_position_from_before_ones_first_join_replays_nothing_earlier() -> None:
    """A newcomer cannot send an old position to read what was said before it came."""
    h = RoomHistory(EPHEMERAL, POLICY)
    say(h, 4)
    h.plan_join({}, "mallory", NOW)  # first join at 4
    say(h, 2)
    plan = h.plan_join({"position": {"epoch": h.epoch, "seq": 0}}, "mallory", NOW)
    assert seqs(plan.messages) == [5, 6] and plan.after == 4


def test_a_position_from_another_epoch_is_not_recovered() -> None:
    h = RoomHistory(EPHEMERAL, POLICY)
    say(h, 3)
    plan = h.plan_join({"position": {"epoch": "gone", "seq": 2}}, "u1", NOW)
    assert plan.recovered is False and plan.messages == []


@pytest.mark.parametrize("position", [{"epoch": "e", "seq": -1}, "3", {"seq": 1}])
def test_a_malformed_position_is_refused(position: Any) -> None:
    with pytest.raises(PositionError):
        RoomHistory(EPHEMERAL, POLICY).plan_join({"position": position}, "u1", NOW)


def test_a_position_from_the_future_is_refused() -> None:
    h = RoomHistory(EPHEMERAL, POLICY)
    say(h, 2)
    with pytest.raises(PositionError):
        h.plan_join({"position": {"epoch": h.epoch, "seq": 3}}, "u1", NOW)


def test_a_memory_room_shows_a_newcomer_the_recent_conversation() -> None:
    h = RoomHistory(MEMORY, POLICY)
    say(h, BACKLOG + 10)
    plan = h.plan_join({}, "u1", NOW)
    assert seqs(plan.messages) == list(range(11, BACKLOG + 11)) and plan.recovered is None


def test_a_joined_only_room_shows_a_person_only_what_followed_their_first_join() -> None:
    h = RoomHistory(MEMORY_JOINED, POLICY)
    say(h, 5)
    first = h.plan_join({}, "alice", NOW)
    assert first.messages == [] and first.floor == 5
    say(h, 3)
    reload = h.plan_join({}, "alice", NOW)  # a reload, no position: since her first join
    assert seqs(reload.messages) == [6, 7, 8]
    stranger = h.plan_join({"position": {"epoch": h.epoch, "seq": 0}}, "mallory", NOW)
    assert stranger.messages == []  # a position cannot reach back before one's first join


def test_a_page_from_memory_stops_at_the_floor() -> None:
    h = RoomHistory(MEMORY_JOINED, POLICY)
    say(h, 3)
    h.plan_join({}, "alice", NOW)  # first join at 3
    say(h, 10)
    page = h.page_from_memory(14, 4, h.floor_of("alice") or 0, NOW)
    assert page is not None and seqs(page.messages) == [10, 11, 12, 13] and page.more
    last = h.page_from_memory(10, 10, 3, NOW)
    assert last is not None and seqs(last.messages) == [4, 5, 6, 7, 8, 9] and not last.more


async def say_stored(history: RoomHistory, n: int) -> None:
    """``n`` messages through a room with a store: each delivered once the store took it."""
    for i in range(n):
        done: asyncio.Future[Message | None] = asyncio.get_running_loop().create_future()
        assert history.publish({"id": str(i), "body": "x", "at": NOW}, _resolve(done)) is None
        stored = await done
        assert stored is not None
        history.accept([stored], NOW)


def _resolve(done: asyncio.Future[Message | None]) -> Any:
    def report(message: Message | None, _reason: str | None) -> None:
        done.set_result(message)

    return report


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    s = SqlStore(SqliteDriver(tmp_path / "h.sqlite3"), POLICY)
    yield s
    await s.stop()


async def test_with_a_store_an_old_position_is_read_back_from_it(store: SqlStore) -> None:
    retention = Retention("persistent", "shared")
    await store.create("r", retention)
    h = RoomHistory(retention, POLICY)
    h.attach(await store.open("r", retention))
    await say_stored(h, 12)
    plan = h.plan_join({"position": {"epoch": h.epoch, "seq": 3}}, "u1", NOW)
    assert plan.needs_store  # the window (5) does not reach back to 4
    plan = await h.fetcher(plan, "u1")()
    plan = h.complete(plan, "u1", NOW)
    # More than a replay carries: the newest five, and the client is told some are missing.
    assert seqs(plan.messages) == [8, 9, 10, 11, 12] and plan.recovered is False
    # Even a position the window covers asks the store: it is the truth across nodes.
    close = h.plan_join({"position": {"epoch": h.epoch, "seq": 9}}, "u1", NOW)
    assert close.needs_store
    close = h.complete(await h.fetcher(close, "u1")(), "u1", NOW)
    assert seqs(close.messages) == [10, 11, 12] and close.recovered


async def test_a_join_learns_from_the_store_what_this_node_never_heard(store: SqlStore) -> None:
    """Another node stored 4 and 5 and died before telling: the join finds them."""
    retention = Retention("persistent", "shared")
    await store.create("r", retention)
    here = RoomHistory(retention, POLICY)
    here.attach(await store.open("r", retention))
    elsewhere = RoomHistory(retention, POLICY)
    elsewhere.attach(await store.open("r", retention))
    await say_stored(here, 3)
    await say_stored(elsewhere, 2)  # positions 4 and 5, never heard here
    assert here.top == 3
    plan = here.plan_join({"position": {"epoch": here.epoch, "seq": 2}}, "u1", NOW)
    plan = await here.fetcher(plan, "u1")()
    beyond = here.overtaken(plan)
    assert seqs(beyond) == [4, 5]  # the room delivers them to its members first
    here.accept(beyond, NOW)
    plan = here.complete(plan, "u1", NOW)
    assert seqs(plan.messages) == [3, 4, 5] and plan.recovered and here.top == 5


async def test_with_a_store_a_joined_only_floor_comes_from_it(store: SqlStore) -> None:
    retention = Retention("persistent", "joined")
    await store.create("r", retention)
    stream = await store.open("r", retention)
    assert await stream.first_join("alice", 0) == 0  # she was there from the start
    h = RoomHistory(retention, POLICY)
    h.attach(stream)
    plan = h.plan_join({}, "alice", NOW)
    assert plan.needs_store
    plan = h.complete(await h.fetcher(plan, "alice")(), "alice", NOW)
    assert plan.floor == 0 and h.floor_of("alice") == 0


async def test_a_fresh_ephemeral_join_never_waits_for_the_store(store: SqlStore) -> None:
    """What a newcomer sees does not depend on its first join; it is recorded on the side."""
    retention = Retention()
    await store.create("e", Retention("persistent", "joined"))
    h = RoomHistory(retention, POLICY)
    h.attach(await store.open("e", retention))
    plan = h.plan_join({}, "alice", NOW)
    assert not plan.needs_store and plan.record_floor and plan.messages == []
    assert h.floor_of("alice") == 0


async def test_when_the_store_is_down_a_join_gets_what_memory_holds_and_is_told(
    store: SqlStore,
) -> None:
    retention = Retention("persistent", "joined")
    await store.create("r", retention)
    h = RoomHistory(retention, POLICY)
    h.attach(await store.open("r", retention))
    await say_stored(h, 3)
    # Bob's first join could not be read: nothing from before is shown, and a client that
    # sent a position is told some of what it missed may be lost.
    plan = h.plan_join({"position": {"epoch": h.epoch, "seq": 1}}, "bob", NOW)
    assert plan.needs_store and not plan.floor_known
    plan = h.degraded(plan, NOW)
    assert plan.messages == [] and plan.recovered is False and plan.after == 3
    assert h.floor_of("bob") is None  # a guess is never remembered as the truth
