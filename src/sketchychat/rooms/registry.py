"""The live rooms of this node: create, find (or revive), count, expire.

A room lives while anyone is in it; once empty (or never joined) it expires
after ``room_idle_timeout`` (contract.md §2). Expired codes are remembered for
a day so they answer ``not_found``; a code this node's secret issued but
that it has never seen (it restarted) is revived on join, because people
reconnecting after a restart are still "in" it.

Clustered, a shared :class:`Directory` is the truth about which codes are
live, expired or unknown, with the same rules: the local registry then only
holds the rooms this node hosts, and a join for a code it does not host
opens the room behind a gate that asks the directory. While the directory
is unreachable the code's check decides, as on a lone node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from typing import Literal, Protocol

from sketchychat.pubsub.base import PubSub
from sketchychat.rooms.codes import RoomCodes
from sketchychat.rooms.room import Room, RoomLimits

__all__ = ["Directory", "DirectoryUnavailable", "RoomRegistry", "Status"]

log = logging.getLogger("sketchychat.rooms")

_TOMBSTONE_SECONDS = 24 * 3600
#: Fresh codes tried before giving up (a clash is a ~2^-44 event: many in a row is a bug).
_CLAIM_ATTEMPTS = 20

Status = Literal["live", "expired", "unknown"]


class DirectoryUnavailable(Exception):
    """The shared directory could not be asked (Redis down)."""


class Directory(Protocol):
    """Room codes shared by every node (``cluster.directory`` over Redis)."""

    async def create(self, code: str) -> bool:
        """Claim a fresh code; False when it is taken (live or recently expired)."""
        ...

    async def status(self, code: str) -> Status: ...

    async def revive(self, code: str) -> None:
        """Make a code we issued live again (its record was lost)."""
        ...

    async def online(self, code: str) -> int:
        """People present in the room on every live node."""
        ...


class RoomRegistry:
    def __init__(
        self,
        codes: RoomCodes,
        pubsub: PubSub,
        *,
        idle_timeout: float,
        limits: RoomLimits | None = None,
        directory: Directory | None = None,
    ) -> None:
        self._codes = codes
        self._directory = directory
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

    async def create_room(self) -> Room:
        """:meth:`create`, with the code claimed in the directory when clustered."""
        if self._directory is None:
            return self.create()
        for _ in range(_CLAIM_ATTEMPTS):
            code = self._codes.mint()
            if code in self._rooms:
                continue
            try:
                if not await self._directory.create(code):
                    continue
            except DirectoryUnavailable:
                # 44.6 random bits make a clash unlikely; the directory learns the code
                # from this node's refresh once it is back.
                log.warning("room directory unreachable: room %s created locally", code)
            return self._open(code)
        raise RuntimeError(f"no free room code after {_CLAIM_ATTEMPTS} tries")

    def get(self, code: str) -> Room | None:
        """The hosted room, without reviving anything.

        It may still wait at its gate: leaves and events queue behind the join.
        """
        return self._rooms.get(code)

    def revivable(self, code: str) -> bool:
        """Not live, but a code we issued that has not expired here (we restarted).

        Clustered, only the directory knows about expiry; this says "maybe".
        """
        if code in self._rooms or not self._codes.is_ours(code):
            return False
        return self._directory is not None or code not in self._expired

    def find_for_join(self, code: str) -> Room | None:
        """The live room, or a revived one for a code we issued before a restart.

        Clustered, a room this node does not host opens behind a gate that asks
        the directory; joins wait for its answer in the room's mailbox.
        """
        room = self._rooms.get(code)
        if room is not None:
            return room
        if not self.revivable(code):
            return None
        if self._directory is not None:
            return self._open(code, gated=True)
        log.info("reviving room %s for a rejoin", code)
        return self._open(code)

    async def online(self, code: str) -> int | None:
        """People present in a live room (on every node), or None for no such room."""
        room = self._rooms.get(code)
        if room is not None and room.admitted:
            return room.online
        if self._directory is None:
            return None
        try:
            if await self._directory.status(code) != "live":
                return None
            return await self._directory.online(code)
        except DirectoryUnavailable:
            return None

    def _open(self, code: str, *, gated: bool = False) -> Room:
        gate = (lambda: self._admit(code)) if gated else None
        room = Room(code, self._pubsub, limits=self._limits, node_hash=self._node_hash, gate=gate)
        self._rooms[code] = room
        room.start()
        return room

    async def _admit(self, code: str) -> bool:
        """The gate of a clustered room: live, or ours and forgotten (then revived)."""
        assert self._directory is not None
        try:
            status = await self._directory.status(code)
            if status == "unknown":
                log.info("reviving room %s for a rejoin", code)
                await self._directory.revive(code)
        except DirectoryUnavailable:
            status = "unknown"  # the code's check (already passed) decides, as on a lone node
        if status == "expired":
            room = self._rooms.get(code)
            if room is not None and not room.admitted:
                del self._rooms[code]
            return False
        return True

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
                if self._directory is None:
                    self._expired[code] = now
                await room.stop()
                log.info(
                    "room %s expired"
                    if self._directory is None
                    else "room %s idle here; dropped locally",
                    code,
                )
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
