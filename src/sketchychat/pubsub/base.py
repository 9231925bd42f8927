"""The PubSub core and the adapter interface.

Rooms subscribe to their topic; :meth:`PubSub.broadcast` hands an envelope
to the adapter for every *other* node, :meth:`PubSub.direct` for one node.
Incoming envelopes are filtered here (own echoes, other targets), so every
adapter stays a dumb pipe and passes the same contract suite.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from sketchychat.pubsub.envelope import Envelope

__all__ = ["NODE_TOPIC", "Adapter", "Handler", "PubSub"]

log = logging.getLogger("sketchychat.pubsub")

Handler = Callable[[Envelope], None]

#: Node-level traffic (heartbeats, room directory) rather than one room's.
NODE_TOPIC = "node"


class Adapter(Protocol):
    """Carries envelopes between nodes. Never sees subscribers."""

    async def start(self, deliver: Handler) -> None:
        """Connect; call ``deliver`` for every envelope from the bus."""
        ...

    async def stop(self) -> None: ...

    def publish(self, envelope: Envelope) -> None:
        """Send without blocking the caller; the adapter documents what it drops."""
        ...

    def subscribe(self, topic: str) -> None:
        """This node now hosts ``topic`` (adapters may ignore it)."""
        ...

    def unsubscribe(self, topic: str) -> None: ...

    @property
    def healthy(self) -> bool:
        """False while the bus is unreachable."""
        ...

    @property
    def solo(self) -> bool:
        """True when no other node can ever hear this one (a lone node's memory adapter)."""
        ...


class PubSub:
    """One per node: topic → local handler, plus the adapter to reach the rest."""

    __slots__ = ("_adapter", "_handlers", "node_id", "solo")

    def __init__(self, node_id: str, adapter: Adapter) -> None:
        self.node_id = node_id
        self._adapter = adapter
        self._handlers: dict[str, Handler] = {}
        #: Nobody else to tell: rooms skip building envelopes for every message.
        self.solo = adapter.solo

    @property
    def adapter(self) -> Adapter:
        return self._adapter

    @property
    def healthy(self) -> bool:
        return self._adapter.healthy

    async def start(self) -> None:
        await self._adapter.start(self._deliver)

    async def stop(self) -> None:
        await self._adapter.stop()

    def subscribe(self, topic: str, handler: Handler) -> None:
        self._handlers[topic] = handler
        self._adapter.subscribe(topic)

    def unsubscribe(self, topic: str) -> None:
        if self._handlers.pop(topic, None) is not None:
            self._adapter.unsubscribe(topic)

    def broadcast(self, topic: str, kind: str, data: dict[str, Any]) -> None:
        """To every other node that hosts ``topic``."""
        self._adapter.publish(Envelope(self.node_id, topic, kind, data))

    def direct(self, node: str, topic: str, kind: str, data: dict[str, Any]) -> None:
        """To ``node`` only."""
        self._adapter.publish(Envelope(self.node_id, topic, kind, data, target=node))

    def _deliver(self, envelope: Envelope) -> None:
        if envelope.node == self.node_id:
            return  # our own echo: local delivery already happened
        if envelope.target is not None and envelope.target != self.node_id:
            return
        handler = self._handlers.get(envelope.topic)
        if handler is None:
            return
        try:
            handler(envelope)
        except Exception:
            log.exception("handler for %s failed on a %r envelope", envelope.topic, envelope.kind)
