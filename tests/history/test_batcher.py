"""The writer every store shares: queue without waiting, write in batches, report once."""

from __future__ import annotations

import asyncio

from sketchychat.history.base import Message
from sketchychat.history.batcher import Batcher, Pending


def pending(to: str, n: int, outcomes: list[tuple[str, str | None]]) -> Pending:
    def done(stored: Message | None, reason: str | None) -> None:
        outcomes.append((f"{to}{n}", reason))

    return Pending(to, {"id": f"{to}{n}", "at": 0}, b"{}", done)


async def test_what_is_queued_meanwhile_goes_out_in_one_write() -> None:
    writes: list[list[str]] = []
    outcomes: list[tuple[str, str | None]] = []
    gate = asyncio.Event()

    async def write(taken: list[Pending]) -> None:
        writes.append([p.message["id"] for p in taken])
        await gate.wait()
        for p in taken:
            p.report(p.message, None)

    batcher = Batcher("test", write)
    batcher.submit(pending("a", 0, outcomes))
    await asyncio.sleep(0)  # the first write starts with one message
    for n in range(1, 4):
        batcher.submit(pending("a" if n % 2 else "b", n, outcomes))
    gate.set()
    await asyncio.sleep(0.01)
    assert writes == [["a0"], ["a1", "b2", "a3"]]
    assert outcomes == [("a0", None), ("a1", None), ("b2", None), ("a3", None)]
    await batcher.stop(drain=0.1)


async def test_a_write_that_breaks_reports_not_stored_and_the_writer_goes_on() -> None:
    outcomes: list[tuple[str, str | None]] = []
    calls = 0

    async def write(taken: list[Pending]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            taken[0].report(taken[0].message, None)  # one got through before it broke
            raise ValueError("a bug in a store")
        for p in taken:
            p.report(p.message, None)

    batcher = Batcher("test", write)
    batcher.submit(pending("a", 0, outcomes))
    batcher.submit(pending("a", 1, outcomes))
    await asyncio.sleep(0.01)
    batcher.submit(pending("a", 2, outcomes))
    await asyncio.sleep(0.01)
    # Each message is reported exactly once: the first stored, the second not, the third stored.
    assert outcomes == [("a0", None), ("a1", "not_stored"), ("a2", None)]
    await batcher.stop(drain=0.1)


async def test_stopping_drains_then_reports_the_rest_not_stored() -> None:
    outcomes: list[tuple[str, str | None]] = []

    async def never(taken: list[Pending]) -> None:
        await asyncio.Event().wait()  # a store that hangs

    batcher = Batcher("test", never)
    for n in range(3):
        batcher.submit(pending("a", n, outcomes))
    await batcher.stop(drain=0.05)
    assert sorted(outcomes) == [("a0", "not_stored"), ("a1", "not_stored"), ("a2", "not_stored")]
