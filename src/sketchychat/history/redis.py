"""Clustered ephemeral and memory rooms: positions and the recent stream in Redis.

When nodes share rooms, they must agree on positions and be able to replay from
any of them, so a clustered room's stream lives in Redis (keys under the cluster's
namespace ``<ns>``, per room code ``<c>``):

* ``<ns>:h:<c>:epoch`` names the stream; when Redis lost it (a restart), the next
  write starts a new epoch and clients learn that messages may be missing;
* ``<ns>:h:<c>:seq`` is the last position given out (``INCRBY`` in the script);
* ``<ns>:h:<c>:log`` is a Redis stream whose entry IDs are ``<seq>-0``, capped by
  count (``MAXLEN ~``) and read back only within the age bound;
* ``<ns>:h:<c>:joins`` maps a person to the position of their first join.

One Lua script allocates positions and appends in one step, so a position is
never given out twice nor left without its message. Every key expires a while
after the room's last write or join. Nothing of this touches a node's disk:
what Redis does with it is the Redis operator's choice (``docs/cluster.md``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
import redis.asyncio as aredis
from redis.exceptions import RedisError

from sketchychat.history.base import Done, Message, Status, StoreUnavailable
from sketchychat.history.batcher import Batcher, Pending
from sketchychat.history.position import new_epoch
from sketchychat.history.retention import Retention, RetentionPolicy

__all__ = ["RedisStore", "RedisStream"]

log = logging.getLogger("sketchychat.history")

# KEYS epoch, seq, log; ARGV fresh epoch, maxlen, ttl ms, count, then the messages' JSON.
# Returns {epoch, first seq}.
_APPEND = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
end
local count = tonumber(ARGV[4])
local last = redis.call('INCRBY', KEYS[2], count)
local first = last - count + 1
for i = 1, count do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], (first + i - 1) .. '-0', 'm', ARGV[4 + i])
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
return {epoch, first}
"""

# KEYS epoch, seq, log, joins; ARGV fresh epoch, ttl ms. Returns {epoch, top}.
_OPEN = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return {epoch, tonumber(redis.call('GET', KEYS[2]) or '0')}
"""

# KEYS joins; ARGV user, seq, ttl ms. Returns the recorded seq.
_FIRST_JOIN = """
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
"""


class RedisStream:
    """One clustered room's stream, on this node."""

    __slots__ = ("_keys", "_max_age_ms", "_maxlen", "_store", "_ttl_ms", "epoch", "top")

    def __init__(
        self, store: RedisStore, code: str, retention: Retention, epoch: str, top: int
    ) -> None:
        self._store = store
        ns = store.namespace
        self._keys = [f"{ns}:h:{code}:{part}" for part in ("epoch", "seq", "log", "joins")]
        window = store.policy.window(retention.kind)
        self._maxlen = window.messages
        self._max_age_ms = int(window.seconds * 1000)
        # Long enough to outlive a quiet room, refreshed on every write and join.
        self._ttl_ms = int((window.seconds + store.room_idle) * 1000)
        self.epoch = epoch
        self.top = top

    def submit(self, message: Message, done: Done) -> None:
        self._store.submit(self, message, done)

    async def after(self, seq: int, limit: int) -> list[Message]:
        return await self._read("+", f"({seq}-0", limit)

    async def before(self, seq: int, limit: int, floor: int) -> list[Message]:
        return await self._read(f"({seq}-0", f"({floor}-0", limit)

    async def _read(self, high: str, low: str, limit: int) -> list[Message]:
        """The newest ``limit`` entries in the range, with the epoch they belong to.

        Read in one transaction with the epoch: after a Redis restart the log holds a
        new stream, and its messages must carry the new epoch, not the one we opened.
        """
        async with self._store.client.pipeline(transaction=True) as pipe:
            pipe.get(self._keys[0])
            pipe.xrevrange(self._keys[2], high, low, count=limit)
            epoch, raw = await self._store.call(pipe.execute())
        if epoch is None:
            return []  # the stream expired or Redis lost it: nothing after any position
        self.epoch = _text(epoch)
        return self._messages(reversed(raw))

    async def first_join(self, user_id: str, seq: int) -> int:
        value = await self._store.call(
            self._store.first_join_script(keys=[self._keys[3]], args=[user_id, seq, self._ttl_ms])
        )
        return int(value)

    def _messages(self, entries: Any) -> list[Message]:
        cutoff = int(time.time() * 1000) - self._max_age_ms
        out: list[Message] = []
        for entry_id, fields in entries:
            message: Message = orjson.loads(fields[b"m"])
            if message.get("at", 0) < cutoff:
                continue
            message["seq"] = int(entry_id.split(b"-")[0])
            message["epoch"] = self.epoch
            out.append(message)
        return out


class RedisStore:
    """Implements :class:`~sketchychat.history.base.Store` over the cluster's Redis."""

    def __init__(
        self, client: aredis.Redis, *, namespace: str, policy: RetentionPolicy, room_idle: float
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.policy = policy
        self.room_idle = room_idle
        self._append = client.register_script(_APPEND)
        self._open = client.register_script(_OPEN)
        self.first_join_script = client.register_script(_FIRST_JOIN)
        self._batcher = Batcher("redis", self._write)

    async def start(self) -> None:
        """Nothing to connect: the client is the cluster's; the writer starts on demand."""

    async def has_data(self) -> bool:
        return True

    async def stop(self) -> None:
        await self._batcher.stop(drain=1.0)

    async def call(self, operation: Any) -> Any:
        try:
            return await operation
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from exc

    async def create(self, code: str, retention: Retention) -> None:
        """Nothing to do: the room directory claims codes; streams start on first use."""

    async def open(self, code: str, retention: Retention) -> RedisStream:
        await self.start()
        probe = RedisStream(self, code, retention, "", 0)
        epoch, top = await self.call(
            self._open(keys=probe._keys, args=[new_epoch(), probe._ttl_ms])
        )
        probe.epoch, probe.top = _text(epoch), int(top)
        return probe

    async def status(self, code: str) -> Status:
        return "unknown"  # the room directory decides what lives

    async def touch(self, code: str) -> None:
        """Nothing to do: every write and join pushes the keys' expiry forward."""

    async def sweep(self, now: float) -> list[str]:
        return []  # Redis expires the keys itself

    async def delete(self, code: str) -> None:
        keys = [f"{self.namespace}:h:{code}:{p}" for p in ("epoch", "seq", "log", "joins")]
        await self.call(self.client.delete(*keys))

    # -- the writer -----------------------------------------------------------

    def submit(self, stream: RedisStream, message: Message, done: Done) -> None:
        payload = orjson.dumps({k: v for k, v in message.items() if k not in ("seq", "epoch")})
        self._batcher.submit(Pending(stream, message, payload, done))

    async def _write(self, taken: list[Pending]) -> None:
        by_stream: dict[int, list[Pending]] = {}
        for pending in taken:
            by_stream.setdefault(id(pending.to), []).append(pending)
        groups = list(by_stream.values())
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for group in groups:
                    stream: RedisStream = group[0].to
                    await self._append(
                        keys=stream._keys[:3],
                        args=[
                            new_epoch(),
                            stream._maxlen,
                            stream._ttl_ms,
                            len(group),
                            *(p.payload for p in group),
                        ],
                        client=pipe,
                    )
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("Redis could not store %d message(s): %s", len(taken), type(exc).__name__)
            for pending in taken:
                pending.report(None, "not_stored")
            return
        for group, (epoch, first) in zip(groups, results, strict=True):
            epoch_text = _text(epoch)
            group[0].to.epoch = epoch_text
            for index, pending in enumerate(group):
                stored = dict(pending.message)
                stored["seq"] = int(first) + index
                stored["epoch"] = epoch_text
                pending.report(stored, None)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
