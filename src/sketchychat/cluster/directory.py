"""The room directory in Redis: which codes are live, and who is in them.

Keys (``<ns>`` is the namespace, so test runs and clusters never collide):

* ``<ns>:room:<code>`` holds the room's *expiry* (ms, Redis clock); the key
  itself lives a day longer, as the tombstone that keeps an expired code
  answering ``not_found`` (the lone node's rule). Codes are claimed with a
  script equivalent to SET NX, so they are unique cluster-wide. Nodes push
  the expiry forward (never back) while they host members, and once more
  when their last member leaves, so the room expires ``room_idle_timeout``
  after it emptied on *every* node.
* ``<ns>:online:<code>`` is a hash: node id → JSON list of the user ids
  present through that node. ``GET /api/rooms/<code>`` on a node that does
  not host the room counts the union over live nodes (a person with tabs on
  two nodes is one person).

All times come from Redis (``TIME`` inside scripts), so clock skew between
machines cannot shorten or stretch a room's life.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import redis.asyncio as aredis
from redis.exceptions import RedisError

from sketchychat.rooms.registry import DirectoryUnavailable, Status
from sketchychat.rooms.room import Room

__all__ = ["RedisDirectory"]

log = logging.getLogger("sketchychat.directory")

TOMBSTONE_MS = 24 * 3600 * 1000

_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "

# KEYS[1] room key; ARGV idle ms, tombstone ms. 1 when claimed.
_CREATE = (
    _NOW
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], now + ARGV[1], 'PX', ARGV[1] + ARGV[2])
return 1
"""
)
# KEYS[1] room key; ARGV idle ms, ms the room has been empty here, tombstone ms.
_TOUCH = (
    _NOW
    + """
local expiry = now + tonumber(ARGV[1]) - tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < expiry then
  redis.call('SET', KEYS[1], expiry, 'PX', math.max(1, expiry - now + tonumber(ARGV[3])))
end
return 1
"""
)
# KEYS[1] room key. ms until expiry (negative once expired), or nil when unknown.
_REMAINING = (
    _NOW
    + """
local expiry = redis.call('GET', KEYS[1])
if not expiry then return nil end
return tonumber(expiry) - now
"""
)


class _Mark:
    """What this node last wrote for one room."""

    __slots__ = ("empty_since", "touched", "version")

    def __init__(self) -> None:
        self.version = -1
        self.touched = float("-inf")
        self.empty_since: float | None = None


class RedisDirectory:
    """Implements :class:`~sketchychat.rooms.registry.Directory`, plus the refresh loop's work."""

    def __init__(
        self,
        client: aredis.Redis,
        *,
        namespace: str,
        node_id: str,
        idle_timeout: float,
        alive: Callable[[str], bool],
    ) -> None:
        self._client = client
        self._ns = namespace
        self._node = node_id
        self._idle_ms = int(idle_timeout * 1000)
        #: Occupied rooms are touched this often (well inside the idle timeout).
        self._touch_every = max(0.05, min(idle_timeout / 4, 60.0))
        self._alive = alive
        self._create = client.register_script(_CREATE)
        self._touch = client.register_script(_TOUCH)
        self._remaining = client.register_script(_REMAINING)
        self._marks: dict[str, _Mark] = {}

    def _room_key(self, code: str) -> str:
        return f"{self._ns}:room:{code}"

    def _online_key(self, code: str) -> str:
        return f"{self._ns}:online:{code}"

    # -- Directory protocol ------------------------------------------------

    async def create(self, code: str, lifetime: float) -> bool:
        created = await self._call(
            self._create(keys=[self._room_key(code)], args=[int(lifetime * 1000), TOMBSTONE_MS])
        )
        return bool(created)

    async def status(self, code: str) -> Status:
        remaining = await self._call(self._remaining(keys=[self._room_key(code)]))
        if remaining is None:
            return "unknown"
        return "live" if int(remaining) > 0 else "expired"

    async def revive(self, code: str, lifetime: float) -> None:
        await self._call(
            self._touch(keys=[self._room_key(code)], args=[int(lifetime * 1000), 0, TOMBSTONE_MS])
        )

    async def online(self, code: str) -> int:
        fields = await self._call(self._client.hgetall(self._online_key(code)))
        people: set[str] = set()
        for node, raw in fields.items():
            if self._alive(node.decode()):
                people.update(orjson.loads(raw))
        return len(people)

    # -- kept fresh by the cluster's tick -----------------------------------

    async def refresh(self, rooms: Iterable[Room], now: float | None = None) -> None:
        """Write what changed since the last call: expiries and who is here.

        Raises :class:`DirectoryUnavailable`; the next call retries everything
        that was not written (marks only move on success).
        """
        now = time.monotonic() if now is None else now
        pipe = self._client.pipeline(transaction=False)
        done: list[tuple[_Mark, int, float, float | None]] = []
        hosted: set[str] = set()
        for room in rooms:
            if not room.admitted:
                continue  # the gate has not said this code is live
            hosted.add(room.code)
            mark = self._marks.get(room.code) or _Mark()
            self._marks.setdefault(room.code, mark)
            occupied = room.member_count > 0
            empty_since = room.empty_since
            due = occupied and now - mark.touched >= self._touch_every
            lifetime_ms = int(room.lifetime * 1000)
            if due:
                await self._queue_touch(pipe, room.code, lifetime_ms, 0)
                pipe.pexpire(self._online_key(room.code), self._idle_ms + 60_000)
            elif not occupied and empty_since is not None and mark.empty_since != empty_since:
                empty_for = int((now - empty_since) * 1000)
                await self._queue_touch(pipe, room.code, lifetime_ms, empty_for)
            if room.local_version != mark.version:
                self._queue_online(pipe, room.code, room.local_keys())
            done.append(
                (
                    mark,
                    room.local_version,
                    now if due else mark.touched,
                    None if occupied else empty_since,
                )
            )
        for code in [c for c in self._marks if c not in hosted]:
            del self._marks[code]  # dropped here: its online field goes (below) next time
            pipe.hdel(self._online_key(code), self._node)
        if len(pipe):
            await self._call(pipe.execute())
        for mark, version, touched, empty_since in done:
            mark.version, mark.touched, mark.empty_since = version, touched, empty_since

    def forget_writes(self) -> None:
        """Redis may have lost our writes (it restarted): write everything again."""
        self._marks.clear()

    async def leave_all(self, codes: Iterable[str]) -> None:
        """Graceful stop: nobody is here any more."""
        pipe = self._client.pipeline(transaction=False)
        for code in codes:
            pipe.hdel(self._online_key(code), self._node)
        if len(pipe):
            await self._call(pipe.execute())

    async def _queue_touch(self, pipe: Any, code: str, lifetime_ms: int, empty_for_ms: int) -> None:
        """Queues on the pipeline (which loads the script first when it runs)."""
        await self._touch(
            keys=[self._room_key(code)],
            args=[lifetime_ms, empty_for_ms, TOMBSTONE_MS],
            client=pipe,
        )

    def _queue_online(self, pipe: Any, code: str, people: set[str]) -> None:
        key = self._online_key(code)
        if people:
            pipe.hset(key, self._node, orjson.dumps(sorted(people)))
            pipe.pexpire(key, self._idle_ms + 60_000)
        else:
            pipe.hdel(key, self._node)

    @staticmethod
    async def _call(awaitable: Any) -> Any:
        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            raise DirectoryUnavailable(type(exc).__name__) from exc
