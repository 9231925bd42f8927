"""Presence of one topic: keys with one meta per joined channel (pure).

Shapes follow Phoenix Presence (protocol.md §4.1) so phoenix.js ``Presence``
works unchanged: ``{key: {"metas": [meta, ...]}}`` where each meta carries a
unique ``phx_ref``; diffs are ``{"joins": …, "leaves": …}``. Every entry also
records the node that owns it, so a node that dies can be dropped whole.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Diff", "Entry", "Meta", "PresenceState", "make_ref"]

Meta = dict[str, Any]


def make_ref(now_ns: int, node_hash: int, counter: int) -> str:
    """16 URL-safe characters, unique per track and roughly time-ordered.

    The layout of phoenix_pubsub's ``random_ref`` (protocol.md §4.3): 64-bit
    time, 16-bit node hash, 16-bit counter.
    """
    raw = struct.pack(">QHH", now_ns & 0xFFFF_FFFF_FFFF_FFFF, node_hash & 0xFFFF, counter & 0xFFFF)
    return base64.urlsafe_b64encode(raw).decode("ascii")


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    meta: Meta
    node: str


@dataclass(slots=True)
class Diff:
    """Joins and leaves, grouped by key, ready to be a ``presence_diff`` payload."""

    joins: dict[str, list[Meta]] = field(default_factory=dict)
    leaves: dict[str, list[Meta]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.joins or self.leaves)

    def payload(self) -> dict[str, Any]:
        return {
            "joins": {k: {"metas": m} for k, m in self.joins.items()},
            "leaves": {k: {"metas": m} for k, m in self.leaves.items()},
        }


class PresenceState:
    """Entries by ``phx_ref``; keys stay in first-join order for stable lists."""

    __slots__ = ("_by_key", "_by_ref")

    def __init__(self) -> None:
        self._by_ref: dict[str, Entry] = {}
        self._by_key: dict[str, dict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._by_ref)

    def __contains__(self, ref: object) -> bool:
        return ref in self._by_ref

    @property
    def key_count(self) -> int:
        """People present: one per key however many tabs they have."""
        return len(self._by_key)

    def track(self, key: str, meta: Meta, node: str) -> Diff:
        ref = meta["phx_ref"]
        if ref in self._by_ref:
            return Diff()
        self._by_ref[ref] = Entry(key, meta, node)
        self._by_key.setdefault(key, {})[ref] = None
        return Diff(joins={key: [meta]})

    def untrack(self, ref: str) -> Diff:
        return self.untrack_many([ref])

    def untrack_many(self, refs: list[str]) -> Diff:
        diff = Diff()
        for ref in refs:
            entry = self._by_ref.pop(ref, None)
            if entry is None:
                continue
            refs_of_key = self._by_key[entry.key]
            del refs_of_key[ref]
            if not refs_of_key:
                del self._by_key[entry.key]
            diff.leaves.setdefault(entry.key, []).append(entry.meta)
        return diff

    def untrack_node(self, node: str) -> Diff:
        """Everything a (dead) node owned leaves at once."""
        return self.untrack_many([r for r, e in self._by_ref.items() if e.node == node])

    def refs_of_node(self, node: str) -> list[str]:
        return [r for r, e in self._by_ref.items() if e.node == node]

    def entries_of_node(self, node: str) -> list[Entry]:
        return [e for e in self._by_ref.values() if e.node == node]

    def list(self) -> dict[str, dict[str, list[Meta]]]:
        """The ``presence_state`` payload."""
        return {
            key: {"metas": [self._by_ref[r].meta for r in refs]}
            for key, refs in self._by_key.items()
        }
