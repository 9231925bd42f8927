from __future__ import annotations

import asyncio

from sketchychat.transport.flusher import Flusher


class Conn:
    def __init__(self) -> None:
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1


async def test_every_dirty_connection_is_flushed_once_on_the_next_turn() -> None:
    flusher = Flusher(asyncio.get_running_loop())
    a, b = Conn(), Conn()
    flusher.mark(a)
    flusher.mark(b)
    assert (a.flushes, b.flushes) == (0, 0)  # nothing is written synchronously
    await asyncio.sleep(0)
    assert (a.flushes, b.flushes) == (1, 1)
    await asyncio.sleep(0)
    assert (a.flushes, b.flushes) == (1, 1)


async def test_a_connection_marked_during_a_flush_waits_for_the_next_turn() -> None:
    flusher = Flusher(asyncio.get_running_loop())
    late = Conn()

    class Marker(Conn):
        def flush(self) -> None:
            super().flush()
            flusher.mark(late)

    early = Marker()
    flusher.mark(early)
    await asyncio.sleep(0)
    assert (early.flushes, late.flushes) == (1, 0)
    await asyncio.sleep(0)
    assert late.flushes == 1
