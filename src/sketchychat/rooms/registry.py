"""The live rooms of this node: create, find (or revive), count, expire.

A room lives while anyone is in it; once empty (or never joined) it expires
after ``room_idle_timeout`` (contract §2). Expired codes are remembered for
a day so they answer ``not_found``; a code this node's secret issued but
that it has never seen (it restarted) is revived on join, because people
reconnecting after a restart are still "in" it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib

from sketchychat.pubsub.base import PubSub
from sketchychat.rooms.codes import RoomCodes
from sketchychat.rooms.room import Room, RoomLimits

__all__ = ["RoomRegistry"]

log = logging.getLogger("sketchychat.rooms")

_TOMBSTONE_SECONDS = 24 * 3600


class RoomRegistry:
    def __init__(
        self, codes: RoomCodes, pubsub: PubSub, *, idle_timeout: float,
        limits: RoomLimits | None = None,
    ) -> None:
        self._codes = codes
        self._pubsub = pubsub
        self._idle_timeout = idle_timeout
        self._limits = limits or RoomLimits()
        self._node_hash = zlib.crc32(pubsub.node_id.encode()) & 0xFFFF
        self._rooms: dict[str, Room] = {}
        self._expired: dict[str, float] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._rooms)

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

    def create(self) -> Room:
        """A fresh room with a code unique among live (and recently expired) rooms."""
        while True:
            code = self._codes.mint()
            if code not in self._rooms and code not in self._expired:
                return self._open(code)

    def get(self, code: str) -> Room | None:
        """The live room, without reviving anything."""
        return self._rooms.get(code)

    def revivable(self, code: str) -> bool:
        """Not live, but a code we issued that has not expired here (we restarted)."""
        return code not in self._rooms and code not in self._expired and self._codes.is_ours(code)

    def find_for_join(self, code: str) -> Room | None:
        """The live room, or a revived one for a code we issued before a restart."""
        room = self._rooms.get(code)
        if room is not None:
            return room
        if not self.revivable(code):
            return None
        log.info("reviving room %s for a rejoin", code)
        return self._open(code)

    def _open(self, code: str) -> Room:
        room = Room(code, self._pubsub, limits=self._limits, node_hash=self._node_hash)
        self._rooms[code] = room
        room.start()
        return room

    # -- expiry ----------------------------------------------------------

    def start(self) -> None:
        period = max(0.05, min(self._idle_timeout / 4, 30.0))
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(period))

    async def _sweep_forever(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            await self.sweep(time.monotonic())

    async def sweep(self, now: float) -> None:
        """Expire rooms empty for longer than the idle timeout; forget old tombstones."""
        for code, room in list(self._rooms.items()):
            since = room.empty_since
            if since is not None and now - since >= self._idle_timeout and room.member_count == 0:
                del self._rooms[code]
                self._expired[code] = now
                await room.stop()
                log.info("room %s expired", code)
        for code, when in list(self._expired.items()):
            if now - when >= _TOMBSTONE_SECONDS:
                del self._expired[code]

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for room in list(self._rooms.values()):
            await room.stop()
        self._rooms.clear()
