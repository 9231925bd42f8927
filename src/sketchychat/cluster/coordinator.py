"""One node's part in the cluster: a tick per heartbeat interval.

Each tick: send our heartbeat; declare silent peers down (their members
leave our rooms); when the bus lost continuity (Redis restarted, was
unreachable, or envelopes were dropped) and is healthy again, resync every
room's presence with every node and rewrite our directory records; and push
room expiries and local membership to the directory.

Peers are only declared down while our own bus is healthy: during our outage
their silence says nothing, and their clocks restart when it heals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sketchychat.cluster.directory import RedisDirectory
from sketchychat.cluster.liveness import Liveness
from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.redis import RedisAdapter, stop_tasks
from sketchychat.rooms.registry import DirectoryUnavailable, RoomRegistry

__all__ = ["Cluster"]

log = logging.getLogger("sketchychat.cluster")

#: Resyncs caused by overflow wait at least this long for one another.
_RESYNC_SPACING = 5.0


class Cluster:
    def __init__(
        self,
        pubsub: PubSub,
        adapter: RedisAdapter,
        *,
        interval: float,
        down_timeout: float,
        idle_timeout: float,
    ) -> None:
        self._pubsub = pubsub
        self._adapter = adapter
        self._interval = interval
        self._registry: RoomRegistry | None = None
        self.liveness = Liveness(
            pubsub, timeout=down_timeout, on_down=self._node_down, on_back=self._node_back
        )
        #: The Redis client shared with the adapter (the directory, clustered rooms' streams).
        self.client = adapter.client
        self.directory = RedisDirectory(
            adapter.client,
            namespace=adapter.namespace,
            node_id=pubsub.node_id,
            idle_timeout=idle_timeout,
            alive=self.liveness.alive,
        )
        self._synced_generation = adapter.generation
        self._last_resync = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self, registry: RoomRegistry) -> None:
        self._registry = registry
        self._synced_generation = self._adapter.generation  # connecting is not a gap
        self.liveness.start()
        self.liveness.beat()  # peers learn about us now, not a period later
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cluster")

    async def stop(self) -> None:
        """Say goodbye (peers drop our members at once) and clear our directory records."""
        self._stopping = True
        if self._task is not None:
            await stop_tasks([self._task])
        self.liveness.bye()
        if self._registry is not None and self._adapter.healthy:
            with contextlib.suppress(DirectoryUnavailable):
                await self.directory.leave_all(r.code for r in self._registry.rooms())

    def problem(self) -> str | None:
        """For ``/healthz``: why this node is degraded, or None."""
        down = self._adapter.down_for
        if down is None:
            return None
        return f"redis unreachable for {down:.0f}s: serving local members only"

    async def _run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._interval)
            await self.tick(time.monotonic())

    async def tick(self, now: float) -> None:
        adapter = self._adapter
        if adapter.healthy:
            if (
                adapter.generation != self._synced_generation
                and now - self._last_resync >= _RESYNC_SPACING
            ):
                self._resync_all(now)
            self.liveness.check()
        self.liveness.beat()
        if adapter.healthy and self._registry is not None:
            try:
                await self.directory.refresh(self._registry.rooms(), now)
            except DirectoryUnavailable as exc:
                log.debug("room directory not refreshed: %s", exc)

    def _resync_all(self, now: float) -> None:
        self._synced_generation = self._adapter.generation
        self._last_resync = now
        self.liveness.table.restart_clocks(now)
        self.directory.forget_writes()
        rooms = self._registry.rooms() if self._registry is not None else []
        if rooms:
            log.info("bus continuity was lost: resyncing presence of %d rooms", len(rooms))
        for room in rooms:
            room.resync()

    def _node_down(self, node: str) -> None:
        log.info("node %s is down: its members leave", node)
        for room in self._registry.rooms() if self._registry is not None else []:
            room.node_down(node)

    def _node_back(self, node: str) -> None:
        log.info("node %s is back: resyncing presence with it", node)
        for room in self._registry.rooms() if self._registry is not None else []:
            room.resync(node)
