"""One topic's presence across nodes: what this node owns, and what it hears.

Each node's entries are its own. A node tracks and untracks its members and
tells the others (``presence`` envelopes carrying joins with their metas and
leaves by ``phx_ref``); it answers ``sync_req`` with a *full* snapshot of its
entries, which replaces what the asker held for it, so leaves missed during an
outage are repaired too; and every entry of a node that went down leaves at
once. Each method returns the :class:`~sketchychat.presence.state.Diff` this
node's own members must see: diffs go to local members only, every node
computing its own (protocol.md §4.4), so nothing arrives twice.
"""

from __future__ import annotations

from typing import Any

from sketchychat.presence.state import Diff, Meta, PresenceState, make_ref
from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.envelope import Envelope

__all__ = ["PresenceReplica"]


class PresenceReplica:
    """The presence of ``topic`` as this node knows it (Phoenix Tracker's job, simplified)."""

    __slots__ = ("_counter", "_node_hash", "_pubsub", "_topic", "state")

    def __init__(self, topic: str, pubsub: PubSub, *, node_hash: int = 0) -> None:
        self._topic = topic
        self._pubsub = pubsub
        self._node_hash = node_hash
        self._counter = 0
        self.state = PresenceState()

    @property
    def node_id(self) -> str:
        return self._pubsub.node_id

    # -- this node's members --------------------------------------------------

    def track(self, key: str, meta: Meta, *, now_ns: int) -> tuple[str, Diff]:
        """Track one local channel under ``key``: its new ``phx_ref`` and the diff."""
        self._counter += 1
        ref = make_ref(now_ns, self._node_hash, self._counter)
        diff = self.state.track(key, {"phx_ref": ref, **meta}, self._pubsub.node_id)
        self._tell(diff)
        return ref, diff

    def untrack(self, refs: list[str]) -> Diff:
        """Local channels left (or their room crashed)."""
        diff = self.state.untrack_many(refs)
        self._tell(diff)
        return diff

    # -- other nodes ----------------------------------------------------------

    def hello(self) -> None:
        """A room that opens here asks the nodes already hosting it for their members."""
        self._pubsub.broadcast(self._topic, "sync_req", {})

    def receive(self, env: Envelope) -> Diff | None:
        """A ``presence``, ``sync_req`` or ``node_down`` envelope; None for other kinds."""
        if env.kind == "presence":
            return self._merge(env)
        if env.kind == "sync_req":
            self._pubsub.direct(env.node, self._topic, "presence", self._snapshot())
            return Diff()
        if env.kind == "node_down":
            return self.node_down(env.node)
        return None

    def node_down(self, node: str) -> Diff:
        """Everyone ``node`` hosted leaves (it died, restarted or said goodbye)."""
        return self.state.untrack_node(node)

    def resync(self, node: str | None = None) -> None:
        """After lost envelopes: exchange full snapshots with ``node`` (or every node)."""
        if node is None:
            self._pubsub.broadcast(self._topic, "sync_req", {})
            self._pubsub.broadcast(self._topic, "presence", self._snapshot())
        else:
            self._pubsub.direct(node, self._topic, "sync_req", {})
            self._pubsub.direct(node, self._topic, "presence", self._snapshot())

    def _merge(self, env: Envelope) -> Diff:
        data = env.data
        joins = data.get("joins", [])
        leaves = list(data.get("leaves", []))
        if data.get("full"):  # a snapshot: what we hold for that node and it lacks, left
            current = {meta["phx_ref"] for _, meta in joins}
            leaves += [r for r in self.state.refs_of_node(env.node) if r not in current]
        diff = Diff()
        for key, meta in joins:
            part = self.state.track(key, meta, env.node)
            for k, metas in part.joins.items():
                diff.joins.setdefault(k, []).extend(metas)
        diff.leaves = self.state.untrack_many(leaves).leaves
        return diff

    def _snapshot(self) -> dict[str, Any]:
        """Everything this node holds here; it replaces the receiver's view of us."""
        mine = self.state.entries_of_node(self._pubsub.node_id)
        return {"joins": [[e.key, e.meta] for e in mine], "leaves": [], "full": True}

    def _tell(self, diff: Diff) -> None:
        if diff:
            self._pubsub.broadcast(
                self._topic,
                "presence",
                {
                    "joins": [[key, meta] for key, metas in diff.joins.items() for meta in metas],
                    "leaves": [meta["phx_ref"] for metas in diff.leaves.values() for meta in metas],
                },
            )
