"""The live rooms of this node: create, find (or revive), count, expire.

A room lives while anyone is in it; once empty (or never joined) it expires
after ``room_idle_timeout`` (contract.md §2) — a persistent room after its own,
much longer lifetime, counted from its last activity and kept in its store.
Expired codes are remembered for a day so they answer ``not_found``; a code
this node's secret issued but that it has never seen (it restarted) is revived
on join, because people reconnecting after a restart are still "in" it. The
code itself says what the room keeps (:meth:`RoomCodes.retention_of`).

A room whose messages live in a store (a persistent room; any room of a
cluster) opens behind a gate that opens its stream first; joins wait for it.

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
from dataclasses import dataclass
from typing import Literal, Protocol

from sketchychat.history.base import Store, StoreUnavailable
from sketchychat.history.retention import Retention, RetentionError
from sketchychat.pubsub.base import PubSub
from sketchychat.rooms.actor import GateUnavailable
from sketchychat.rooms.codes import RoomCodes
from sketchychat.rooms.room import Room, RoomLimits

__all__ = ["Directory", "DirectoryUnavailable", "RoomRegistry", "Status", "Stores"]

log = logging.getLogger("sketchychat.rooms")

_TOMBSTONE_SECONDS = 24 * 3600
#: How often the persistent store is trimmed and its idle rooms expired.
_STORE_SWEEP_SECONDS = 60.0
#: Fresh codes tried before giving up (a clash is a ~2^-44 event: many in a row is a bug).
_CLAIM_ATTEMPTS = 20

Status = Literal["live", "expired", "unknown"]


class DirectoryUnavailable(Exception):
    """The shared directory could not be asked (Redis down)."""


class Directory(Protocol):
    """Room codes shared by every node (``cluster.directory`` over Redis)."""

    async def create(self, code: str, lifetime: float) -> bool:
        """Claim a fresh code; False when it is taken (live or recently expired).

        ``lifetime``: seconds the room lives once empty.
        """
        ...

    async def status(self, code: str) -> Status: ...

    async def revive(self, code: str, lifetime: float) -> None:
        """Make a code we issued live again (its record was lost)."""
        ...

    async def online(self, code: str) -> int:
        """People present in the room on every live node."""
        ...


@dataclass(frozen=True, slots=True)
class Stores:
    """Where rooms keep messages beyond a node's memory."""

    #: Persistent rooms (SQLite or PostgreSQL); None when none may be created.
    persistent: Store | None = None
    #: Ephemeral and memory rooms of a cluster (Redis); None on a lone node.
    shared: Store | None = None

    def for_retention(self, retention: Retention) -> Store | None:
        return self.persistent if retention.kind == "persistent" else self.shared


class RoomRegistry:
    def __init__(
        self,
        codes: RoomCodes,
        pubsub: PubSub,
        *,
        idle_timeout: float,
        limits: RoomLimits | None = None,
        directory: Directory | None = None,
        stores: Stores | None = None,
        allowed: frozenset[str] = frozenset({"ephemeral", "memory", "persistent"}),
    ) -> None:
        self._codes = codes
        self._directory = directory
        self._pubsub = pubsub
        self._idle_timeout = idle_timeout
        self._limits = limits or RoomLimits()
        self._stores = stores or Stores()
        self._allowed = allowed
        self._node_hash = zlib.crc32(pubsub.node_id.encode()) & 0xFFFF
        self._rooms: dict[str, Room] = {}
        self._expired: dict[str, float] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._last_store_sweep = float("-inf")

    def __len__(self) -> int:
        return len(self._rooms)

    def rooms(self) -> list[Room]:
        return list(self._rooms.values())

    @property
    def allowed(self) -> frozenset[str]:
        """The retentions rooms may be created with here."""
        return self._allowed

    def lifetime(self, retention: Retention) -> float:
        """Seconds a room of this retention lives once empty."""
        if retention.kind == "persistent":
            return self._limits.retention.persistent_idle
        return self._idle_timeout

    def check(self, retention: Retention) -> None:
        """Raise :class:`RetentionError` for a retention this node does not offer."""
        if retention.kind not in self._allowed:
            raise RetentionError(
                "retention_unavailable", f"This server does not offer {retention.kind} rooms."
            )
        if retention.kind == "persistent" and self._stores.persistent is None:
            raise RetentionError(
                "retention_unavailable", f"This server has no store for {retention.kind} rooms."
            )

    def create(self, retention: Retention | None = None) -> Room:
        """A fresh room with a code unique among live (and recently expired) rooms.

        Only for rooms that need no store (a lone node's ephemeral or memory room).
        """
        retention = retention or Retention()
        while True:
            code = self._codes.mint(retention)
            if code not in self._rooms and code not in self._expired:
                return self._open(code, retention)

    async def create_room(self, retention: Retention | None = None) -> Room:
        """A fresh room: its code claimed in the directory, its store row created.

        Raises :class:`RetentionError` for a retention this node does not offer and
        :class:`~sketchychat.history.base.StoreUnavailable` when its store is down.
        """
        retention = retention or Retention()
        self.check(retention)
        store = self._stores.for_retention(retention)
        if self._directory is None and store is None:
            return self.create(retention)
        for _ in range(_CLAIM_ATTEMPTS):
            code = self._codes.mint(retention)
            if code in self._rooms or code in self._expired:
                continue
            if self._directory is not None:
                try:
                    if not await self._directory.create(code, self.lifetime(retention)):
                        continue
                except DirectoryUnavailable:
                    # 44.6 random bits make a clash unlikely; the directory learns the code
                    # from this node's refresh once it is back.
                    log.warning("room directory unreachable: room %s created locally", code)
            if store is not None:
                await store.create(code, retention)
            return self._open(code, retention, gated=True)
        raise RuntimeError(f"no free room code after {_CLAIM_ATTEMPTS} tries")

    def get(self, code: str) -> Room | None:
        """The hosted room, without reviving anything.

        It may still wait at its gate: leaves and events queue behind the join.
        """
        return self._rooms.get(code)

    def revivable(self, code: str) -> bool:
        """Not live, but a code we issued that has not expired here (we restarted).

        Clustered, or for a persistent room, only the directory or the store knows
        about expiry; this says "maybe".
        """
        if code in self._rooms:
            return False
        retention = self._codes.retention_of(code)
        if retention is None:
            return False
        if self._directory is not None or retention.kind == "persistent":
            return True
        return code not in self._expired

    async def exists(self, code: str) -> bool:
        """Whether ``code`` names a room people can join (for the room page)."""
        if code in self._rooms:
            return True
        if not self.revivable(code):
            return False
        retention = self._codes.retention_of(code)
        assert retention is not None
        store = self._stores.persistent if retention.kind == "persistent" else None
        try:
            if store is not None:
                return await store.status(code) != "expired"
            if self._directory is not None:
                return await self._directory.status(code) != "expired"
        except (StoreUnavailable, DirectoryUnavailable):
            return True  # the code's check passed; the join will tell
        return True

    def find_for_join(self, code: str) -> Room | None:
        """The live room, or a revived one for a code we issued before a restart.

        A room that needs the directory or a store opens behind a gate that asks
        them; joins wait for its answer in the room's mailbox.
        """
        room = self._rooms.get(code)
        if room is not None:
            return room
        if not self.revivable(code):
            return None
        retention = self._codes.retention_of(code)
        assert retention is not None
        needs_gate = self._directory is not None or (
            self._stores.for_retention(retention) is not None
        )
        if not needs_gate:
            log.info("reviving room %s for a rejoin", code)
        return self._open(code, retention, gated=needs_gate)

    async def online(self, code: str) -> int | None:
        """People present in a live room (on every node), or None for no such room."""
        room = self._rooms.get(code)
        if room is not None and room.admitted:
            return room.online
        if self._directory is not None:
            try:
                if await self._directory.status(code) != "live":
                    return None
                return await self._directory.online(code)
            except DirectoryUnavailable:
                return None
        # A lone node: a persistent room lives in its store, with nobody in it right now.
        retention = self._codes.retention_of(code)
        if retention is not None and retention.kind == "persistent" and await self.exists(code):
            return 0
        return None

    def retention_of(self, code: str) -> Retention | None:
        room = self._rooms.get(code)
        return room.retention if room is not None else self._codes.retention_of(code)

    def _open(self, code: str, retention: Retention, *, gated: bool = False) -> Room:
        room = Room(
            code,
            self._pubsub,
            retention=retention,
            limits=self._limits,
            node_hash=self._node_hash,
            gate=(lambda: self._admit(code, retention)) if gated else None,
            lifetime=self.lifetime(retention),
        )
        self._rooms[code] = room
        room.start()
        return room

    async def _admit(self, code: str, retention: Retention) -> bool:
        """The gate: live (or ours and forgotten, then revived), and its stream open."""
        if self._directory is not None:
            try:
                status = await self._directory.status(code)
                if status == "unknown":
                    log.info("reviving room %s for a rejoin", code)
                    await self._directory.revive(code, self.lifetime(retention))
            except DirectoryUnavailable:
                status = "unknown"  # the code's check (already passed) decides
            if status == "expired":
                return self._turn_away(code)
        store = self._stores.for_retention(retention)
        if store is None:
            return True
        try:
            if retention.kind == "persistent" and await store.status(code) == "expired":
                return self._turn_away(code)
            stream = await store.open(code, retention)
        except StoreUnavailable as exc:
            # Not "no such room": the joins that waited are told to try again, and the
            # next one opens the room afresh.
            log.warning("room %s: its store is unavailable (%s)", code, exc)
            room = self._rooms.get(code)
            if room is not None and not room.admitted:
                del self._rooms[code]
            raise GateUnavailable(str(exc)) from exc
        room = self._rooms.get(code)
        if room is not None:
            room.history.attach(stream)
        return True

    def _turn_away(self, code: str) -> bool:
        room = self._rooms.get(code)
        if room is not None and not room.admitted:
            del self._rooms[code]
        return False

    # -- expiry ----------------------------------------------------------

    def start(self) -> None:
        period = max(0.05, min(self._idle_timeout / 4, 30.0))
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(period))

    async def _sweep_forever(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            try:
                await self.sweep(time.monotonic())
            except Exception:
                log.exception("the room sweep failed; it runs again next period")

    async def sweep(self, now: float) -> None:
        """Expire (or unload) rooms empty for longer than the idle timeout; forget old
        tombstones; trim and expire what the persistent store keeps."""
        for code, room in list(self._rooms.items()):
            since = room.empty_since
            if since is not None and now - since >= self._idle_timeout and room.member_count == 0:
                del self._rooms[code]
                persistent = room.retention.kind == "persistent"
                if self._directory is None and not persistent:
                    self._expired[code] = now
                await room.stop()
                log.info(
                    "room %s idle here; unloaded"
                    if persistent or self._directory is not None
                    else "room %s expired",
                    code,
                )
        for code, when in list(self._expired.items()):
            if now - when >= _TOMBSTONE_SECONDS:
                del self._expired[code]
        store = self._stores.persistent
        if store is not None and now - self._last_store_sweep >= _STORE_SWEEP_SECONDS:
            self._last_store_sweep = now
            await self._sweep_store(store)

    async def _sweep_store(self, store: Store) -> None:
        for room in self._rooms.values():  # occupied persistent rooms stay alive
            if room.retention.kind == "persistent" and room.member_count and room.admitted:
                with contextlib.suppress(StoreUnavailable):
                    await store.touch(room.code)
        try:
            expired = await store.sweep(time.time())
        except StoreUnavailable as exc:
            log.warning("persistent rooms not swept: %s", exc)
            return
        for code in expired:
            log.info("persistent room %s expired: its messages are deleted", code)
            if code in self._rooms:
                await self._rooms.pop(code).stop()

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for room in list(self._rooms.values()):
            await room.stop()
        self._rooms.clear()
