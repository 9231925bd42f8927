"""A bounded run of a room's most recent messages, in position order (pure).

It is the whole log of an ephemeral or memory room on a lone node, and every
room's cache of what it delivered lately, so that a client coming back after a
blip, or a newcomer, is served without asking a store. Bounded by count and by
age; ``now`` is always passed in.
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["RecentWindow"]

Message = dict[str, Any]


class RecentWindow:
    """Messages with consecutive ``seq`` values, oldest first (``at`` in ms).

    The deque is made with the first message: an idle room costs no buffer.
    """

    __slots__ = ("_items", "_max_age_ms", "_max_count")

    def __init__(self, max_count: int, max_age_seconds: float) -> None:
        self._max_count = max_count
        self._max_age_ms = int(max_age_seconds * 1000)
        # maxlen: the count bound costs nothing per message (the deque drops the oldest).
        self._items: deque[Message] | None = None

    def __len__(self) -> int:
        return len(self._items) if self._items else 0

    def append(self, message: Message, now_ms: int) -> None:
        """The next message (its seq follows the last one's, or the window restarts)."""
        items = self._items
        if items is None:
            items = self._items = deque(maxlen=self._max_count)
        elif items:
            if message["seq"] != items[-1]["seq"] + 1:
                items.clear()  # a hole (skipped positions) or a new epoch: keep a clean run
            elif items[0]["at"] < now_ms - self._max_age_ms:
                self.trim(now_ms)
        items.append(message)

    def trim(self, now_ms: int) -> None:
        items = self._items
        if not items:
            return
        cutoff = now_ms - self._max_age_ms
        while items and items[0]["at"] < cutoff:
            items.popleft()

    def clear(self) -> None:
        self._items = None

    @property
    def first_seq(self) -> int | None:
        return self._items[0]["seq"] if self._items else None

    @property
    def last_seq(self) -> int | None:
        return self._items[-1]["seq"] if self._items else None

    def covers(self, after: int, now_ms: int) -> bool:
        """Whether every message after ``after`` is here (nothing to fetch)."""
        self.trim(now_ms)
        first = self.first_seq
        return first is not None and first <= after + 1

    def after(self, seq: int, now_ms: int, limit: int | None = None) -> list[Message]:
        """The messages after ``seq``, oldest first (at most the ``limit`` newest of them)."""
        self.trim(now_ms)
        if not self._items:
            return []
        out = [m for m in self._items if m["seq"] > seq]
        return out if limit is None else out[-limit:] if limit else []

    def before(self, seq: int, limit: int, floor: int, now_ms: int) -> list[Message]:
        """Up to ``limit`` messages before ``seq`` and after ``floor``, oldest first."""
        self.trim(now_ms)
        if not self._items:
            return []
        out = [m for m in self._items if floor < m["seq"] < seq]
        return out[-limit:] if limit else []
