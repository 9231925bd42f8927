"""Delivery in position order, whatever order messages arrive in (pure).

On one node a room's messages are numbered in the order it accepts them; across
nodes they are numbered by a shared store and reach each node over the bus,
where two nodes' messages may cross. A :class:`Sequencer` releases messages
strictly in ``seq`` order, holds the early ones, drops duplicates, and says which
positions are missing so the room can fetch them from the store (a position the
store does not have was never stored, so never acknowledged: it is skipped).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["Sequencer"]

Message = dict[str, Any]

#: Early messages held at most; past it the oldest hole is given up on.
_MAX_HELD: Final = 10_000


class Sequencer:
    __slots__ = ("_held", "delivered")

    def __init__(self, delivered: int = 0) -> None:
        #: The last seq released; everything up to it has been delivered or skipped.
        self.delivered = delivered
        self._held: dict[int, Message] = {}

    def offer(self, messages: list[Message]) -> list[Message]:
        """Take messages in any order; return those now deliverable, in order."""
        held = self._held
        for message in messages:
            seq = message["seq"]
            if seq > self.delivered:
                held[seq] = message
        if len(held) > _MAX_HELD:
            self.skip_to(min(held) - 1)
        return self._release()

    def take_next(self, seq: int) -> bool:
        """Release ``seq`` at once if it is the very next one and nothing waits."""
        if seq == self.delivered + 1 and not self._held:
            self.delivered = seq
            return True
        return False

    @property
    def missing(self) -> tuple[int, int] | None:
        """The first hole, ``(first, last)`` inclusive, when early messages wait on it."""
        if not self._held:
            return None
        return self.delivered + 1, min(self._held) - 1

    def skip_to(self, seq: int) -> list[Message]:
        """Give up on everything up to ``seq`` (never stored); release what follows."""
        if seq > self.delivered:
            self.delivered = seq
            for old in [s for s in self._held if s <= seq]:
                del self._held[old]
        return self._release()

    def reset(self, delivered: int) -> None:
        """A new stream (another epoch) starts after ``delivered``."""
        self.delivered = delivered
        self._held.clear()

    def _release(self) -> list[Message]:
        ready = []
        held = self._held
        nxt = self.delivered + 1
        while nxt in held:
            ready.append(held.pop(nxt))
            nxt += 1
        self.delivered = nxt - 1
        return ready
