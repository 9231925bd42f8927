"""Which other nodes are alive, from their heartbeats (Phoenix Tracker's idea, simplified).

Every node publishes ``heartbeat`` on the node topic every ``interval``; a
peer silent for ``timeout`` is *down* (its members leave everywhere else), a
graceful stop says ``bye`` so peers drop it at once. A restarted process has
a new node id, so it is a new peer; the old id simply goes down. A peer that
was down and speaks again (it was partitioned, or its loop stalled) is
*back*: the cluster layer then resynchronises presence with it.

:class:`PeerTable` is the pure state (time passed in); :class:`Liveness`
does the I/O.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from sketchychat.pubsub.base import NODE_TOPIC, PubSub
from sketchychat.pubsub.envelope import Envelope

__all__ = ["Liveness", "PeerTable", "Seen"]

#: How long a down node is remembered (to recognise it coming back).
FORGET_AFTER = 3600.0


class Seen(enum.Enum):
    NEW = "new"
    KNOWN = "known"
    BACK = "back"


class PeerTable:
    """Last time each peer was heard from, and the peers declared down."""

    __slots__ = ("_down", "_last", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._last: dict[str, float] = {}
        self._down: dict[str, float] = {}

    def seen(self, node: str, now: float) -> Seen:
        was_down = self._down.pop(node, None) is not None
        known = node in self._last
        self._last[node] = now
        if was_down:
            return Seen.BACK
        return Seen.KNOWN if known else Seen.NEW

    def gone(self, node: str, now: float) -> None:
        """A peer said goodbye."""
        self._last.pop(node, None)
        self._down[node] = now

    def expire(self, now: float) -> list[str]:
        """Peers silent for ``timeout``: they are down from now on."""
        dead = [n for n, last in self._last.items() if now - last >= self.timeout]
        for node in dead:
            del self._last[node]
            self._down[node] = now
        for node, when in list(self._down.items()):
            if now - when >= FORGET_AFTER:
                del self._down[node]
        return dead

    def restart_clocks(self, now: float) -> None:
        """After our own bus outage: silence we could not hear is not death."""
        for node in self._last:
            self._last[node] = now

    def alive(self, node: str) -> bool:
        return node in self._last


class Liveness:
    """Heartbeats out, peers' heartbeats in; callbacks when a peer goes down or comes back."""

    def __init__(
        self,
        pubsub: PubSub,
        *,
        timeout: float,
        on_down: Callable[[str], None],
        on_back: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pubsub = pubsub
        self._on_down = on_down
        self._on_back = on_back
        self._clock = clock
        self.table = PeerTable(timeout)

    def start(self) -> None:
        self._pubsub.subscribe(NODE_TOPIC, self._on_envelope)

    def beat(self) -> None:
        self._pubsub.broadcast(NODE_TOPIC, "heartbeat", {})

    def check(self) -> None:
        for node in self.table.expire(self._clock()):
            self._on_down(node)

    def bye(self) -> None:
        """Graceful stop: peers drop our members now instead of after the timeout."""
        self._pubsub.broadcast(NODE_TOPIC, "bye", {})
        self._pubsub.unsubscribe(NODE_TOPIC)

    def alive(self, node: str) -> bool:
        return node == self._pubsub.node_id or self.table.alive(node)

    def _on_envelope(self, env: Envelope) -> None:
        now = self._clock()
        if env.kind == "heartbeat":
            if self.table.seen(env.node, now) is Seen.BACK:
                self._on_back(env.node)
        elif env.kind == "bye":
            self.table.gone(env.node, now)
            self._on_down(env.node)  # idempotent: presence drops what the node still had
