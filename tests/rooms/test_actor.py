"""The actor machinery: one mailbox, handled in order, crashes contained, an optional gate."""

from __future__ import annotations

import asyncio

from sketchychat.rooms.actor import Actor


class Recorder(Actor[str]):
    def __init__(self, gate: object = None) -> None:
        super().__init__("recorder", gate)  # type: ignore[arg-type]
        self.seen: list[str] = []
        self.crashes: list[str] = []
        self.live = 0
        self.turned_away: list[str] = []

    def _handle(self, item: str) -> None:
        if item == "boom":
            raise RuntimeError("boom")
        self.seen.append(item)

    def _crashed(self, exc: Exception) -> None:
        self.crashes.append(str(exc))

    def _admitted(self) -> None:
        self.live += 1

    def _turned_away(self, item: str) -> None:
        self.turned_away.append(item)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_items_are_handled_in_order_by_the_actors_task() -> None:
    actor = Recorder()
    actor.start()
    assert actor.admitted and actor.live == 1
    for item in "abc":
        actor.post(item)
    assert actor.seen == []  # posting never runs a handler in the caller
    await settle()
    assert actor.seen == ["a", "b", "c"]
    await actor.stop()


async def test_a_crash_is_recovered_and_the_next_item_handled() -> None:
    actor = Recorder()
    actor.start()
    actor.post("x")
    actor.post("boom")
    actor.post("y")
    await settle()
    assert actor.seen == ["x", "y"] and actor.crashes == ["boom"]
    await actor.stop()


async def test_items_wait_behind_the_gate_until_it_says_yes() -> None:
    opened = asyncio.Event()

    async def gate() -> bool:
        await opened.wait()
        return True

    actor = Recorder(gate)
    actor.start()
    actor.post("early")
    await settle()
    assert not actor.admitted and actor.seen == [] and actor.live == 0
    opened.set()
    await settle()
    assert actor.admitted and actor.live == 1 and actor.seen == ["early"]
    await actor.stop()


async def test_a_gate_that_says_no_turns_every_waiting_item_away() -> None:
    async def no() -> bool:
        return False

    actor = Recorder(no)
    actor.post("a")
    actor.post("b")
    actor.start()
    await settle()
    assert not actor.admitted and actor.turned_away == ["a", "b"] and actor.seen == []
    await actor.stop()


async def test_a_gate_that_fails_counts_as_no() -> None:
    async def broken() -> bool:
        raise ConnectionError("directory down")

    actor = Recorder(broken)
    actor.post("a")
    actor.start()
    await settle()
    assert actor.turned_away == ["a"]
    await actor.stop()
