"""In-process adapter: alone (the default, one node) or joined to a :class:`Hub`.

A hub links several nodes inside one process, which is how the cluster
logic is tested without Redis. Delivery is asynchronous (next loop turn),
like a real network, and in publish order.
"""

from __future__ import annotations

import asyncio

from sketchychat.pubsub.base import Handler
from sketchychat.pubsub.envelope import Envelope

__all__ = ["Hub", "MemoryAdapter"]


class Hub:
    """The shared 'bus' of in-process nodes."""

    def __init__(self) -> None:
        self.adapters: list[MemoryAdapter] = []


class MemoryAdapter:
    __slots__ = ("_deliver", "_hub", "_topics")

    def __init__(self, hub: Hub | None = None) -> None:
        self._hub = hub
        self._deliver: Handler | None = None
        self._topics: set[str] = set()

    async def start(self, deliver: Handler) -> None:
        self._deliver = deliver
        if self._hub is not None:
            self._hub.adapters.append(self)

    async def stop(self) -> None:
        if self._hub is not None and self in self._hub.adapters:
            self._hub.adapters.remove(self)
        self._deliver = None

    def publish(self, envelope: Envelope) -> None:
        if self._hub is None:
            return  # a lone node has nobody to tell
        loop = asyncio.get_running_loop()
        raw = envelope.encode()  # what would cross the wire: catches unserialisable data
        for peer in list(self._hub.adapters):
            if peer is not self:
                loop.call_soon(peer._receive, raw)

    @property
    def solo(self) -> bool:
        return self._hub is None

    def _receive(self, raw: bytes) -> None:
        if self._deliver is not None:
            self._deliver(Envelope.decode(raw))

    def subscribe(self, topic: str) -> None:
        self._topics.add(topic)

    def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)

    @property
    def healthy(self) -> bool:
        return True
