"""Redis adapter: envelopes between nodes over Redis PUBLISH/SUBSCRIBE.

Channel layout (the one place that decides it, :meth:`RedisAdapter.channel`):
every envelope for topic ``T`` goes to ``<namespace>:t:<T>``, and a node
subscribes to the channel of each topic it hosts (reference counted), so
Redis, not the node, drops traffic for rooms a node does not host. Direct
envelopes travel on the same channel (the target filters, in
:class:`~sketchychat.pubsub.base.PubSub`), as do node heartbeats (topic
``node``). ``benchmarks/cluster/layout.py`` measured this against one
cluster channel; the numbers are in ``docs/cluster.md``.

Delivery is at most once, in order per publishing node. ``publish`` never
blocks: envelopes queue (bounded) for one writer task that pipelines them.
While Redis is unreachable, and when the queue is full, envelopes are
dropped and counted; :attr:`generation` then moves on, which tells the
cluster layer that continuity broke and presence must be resynchronised.

A subscription is a barrier in the queue: envelopes published after
``subscribe(topic)`` leave only once Redis confirmed the subscription, so a
room's ``sync_req`` can never be answered before the room can hear the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from typing import Any

import redis.asyncio as aredis
from redis.asyncio.client import PubSub as RedisPubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from sketchychat.pubsub.base import Handler
from sketchychat.pubsub.envelope import Envelope, EnvelopeError

__all__ = ["RedisAdapter", "stop_tasks"]

log = logging.getLogger("sketchychat.redis")

#: Envelopes waiting for the writer; past this, new ones are dropped (and counted).
QUEUE_LIMIT = 50_000
_BATCH = 512
_SUBSCRIBE_WAIT = 2.0  # longest a barrier holds the queue (the resync repairs the rest)


class RedisAdapter:
    """One listener connection (SUBSCRIBE) and a pool for PUBLISH and commands."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "sketchychat",
        queue_limit: int = QUEUE_LIMIT,
        backoff: tuple[float, float] = (0.1, 5.0),
        ping_every: float = 2.0,
    ) -> None:
        self.namespace = namespace
        #: Shared with the room directory (same pool, same timeouts).
        self.client: aredis.Redis = aredis.Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            health_check_interval=0,
        )
        self._queue_limit = queue_limit
        self._backoff = backoff
        self._ping_every = ping_every
        self._deliver: Handler | None = None
        self._refs: Counter[str] = Counter()  # topic → subscribers on this node
        self._queue: deque[tuple[str, bytes | None]] = deque()  # (channel, raw | None=barrier)
        self._wake = asyncio.Event()
        self._control: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._pubsub: RedisPubSub | None = None
        self._confirmed: set[str] = set()
        self._confirm_waiters: dict[str, asyncio.Future[None]] = {}
        self._listener_ok = False
        self._writer_ok = True
        self._tasks: list[asyncio.Task[None]] = []
        self._down_since: float | None = time.monotonic()
        self._ever_up = False
        self._up = asyncio.Event()
        self._closing = False
        #: Moves on whenever an envelope may have been lost (outage, overflow).
        self.generation = 0
        #: Envelopes dropped since start (outages and overflow).
        self.dropped = 0

    # -- Adapter protocol --------------------------------------------------

    async def start(self, deliver: Handler) -> None:
        """Connect and subscribe; returns once subscribed, or after 3 s at most.

        An unreachable Redis does not stop the node: it serves local members and
        keeps retrying (``/healthz`` says degraded meanwhile).
        """
        self._deliver = deliver
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen_forever(), name="redis-listener"),
            loop.create_task(self._write_forever(), name="redis-writer"),
            loop.create_task(self._control_forever(), name="redis-control"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), 3.0)
        if not self._listener_ok:
            log.warning("Redis is not reachable yet; serving local members only until it is")

    async def stop(self) -> None:
        """Flush what is queued (briefly), then close everything."""
        for _ in range(200):  # at most 2 s
            if not (self._queue and self.healthy):
                break
            await asyncio.sleep(0.01)
        self._closing = True
        self._wake.set()
        self._control.put_nowait(("stop", ""))
        await stop_tasks(self._tasks)
        self._tasks = []
        await self._close_pubsub()
        with contextlib.suppress(RedisError, OSError):
            await self.client.aclose()
        self._deliver = None

    def publish(self, envelope: Envelope) -> None:
        """Queue for the writer; dropped (counted) while Redis is down or the queue is full."""
        if not self.healthy or len(self._queue) >= self._queue_limit:
            self._lost(1)
            return
        self._queue.append((self.channel(envelope.topic), envelope.encode()))
        self._wake.set()

    def subscribe(self, topic: str) -> None:
        self._refs[topic] += 1
        if self._refs[topic] == 1:
            channel = self.channel(topic)
            self._control.put_nowait(("subscribe", channel))
            self._queue.append((channel, None))  # later publishes wait for the confirmation
            self._wake.set()

    def unsubscribe(self, topic: str) -> None:
        if self._refs[topic] <= 0:
            return
        self._refs[topic] -= 1
        if self._refs[topic] == 0:
            del self._refs[topic]
            channel = self.channel(topic)
            self._confirmed.discard(channel)
            self._control.put_nowait(("unsubscribe", channel))

    @property
    def healthy(self) -> bool:
        return self._listener_ok and self._writer_ok

    @property
    def solo(self) -> bool:
        return False

    # -- what the cluster layer reads -------------------------------------

    def channel(self, topic: str) -> str:
        """The Redis channel of ``topic``: the whole channel layout is this line."""
        return f"{self.namespace}:t:{topic}"

    @property
    def down_for(self) -> float | None:
        """Seconds since the bus became unreachable, or None while it is healthy."""
        return None if self._down_since is None else time.monotonic() - self._down_since

    # -- internals ---------------------------------------------------------

    def _running(self) -> bool:
        """Loops go on until stop(), or a cancellation that redis-py swallowed."""
        task = asyncio.current_task()
        return not self._closing and not (task is not None and task.cancelling())

    def _lost(self, count: int) -> None:
        self.dropped += count
        self.generation += 1

    def _set_health(self, *, listener: bool | None = None, writer: bool | None = None) -> None:
        was = self.healthy
        if listener is not None:
            self._listener_ok = listener
        if writer is not None:
            self._writer_ok = writer
        if was and not self.healthy:
            self._down_since = time.monotonic()
            self.generation += 1
            log.warning("Redis unreachable: serving local members only, retrying")
        elif not was and self.healthy:
            down = self.down_for or 0.0
            self._down_since = None
            self.generation += 1
            if self._ever_up:
                log.warning(
                    "Redis reachable again after %.1fs; resubscribed %d topics "
                    "(%d envelopes dropped so far)",
                    down,
                    len(self._refs),
                    self.dropped,
                )
            self._ever_up = True
            self._up.set()

    def _sleep_for(self, attempt: int) -> float:
        """Capped exponential backoff with jitter."""
        low, high = self._backoff
        delay: float = min(high, low * 2.0 ** min(attempt, 16))
        return delay * random.uniform(0.5, 1.0)

    async def _listen_forever(self) -> None:
        attempt = 0
        while self._running():
            try:
                await self._listen_once()
            except (RedisError, OSError) as exc:
                log.debug("Redis subscription lost: %s", type(exc).__name__)
            attempt = 0 if self._listener_ok else attempt + 1  # back off only while failing
            self._set_health(listener=False)
            self._confirmed.clear()
            self._release_waiters()
            await self._close_pubsub()
            # Pooled connections died with it: the writer's next PUBLISH must not find one.
            with contextlib.suppress(RedisError, OSError):
                await self.client.connection_pool.disconnect()
            await asyncio.sleep(self._sleep_for(attempt))

    async def _listen_once(self) -> None:
        pubsub = self.client.pubsub()
        channels = {self.channel(t) for t in self._refs}
        # Confirmations come in order: once this last one is back, every hosted topic
        # is live, so the resync that follows can hear its answers. It also keeps the
        # connection in subscribed mode when the node hosts nothing.
        try:
            await pubsub.subscribe(*channels, f"{self.namespace}:alive")
        except (RedisError, OSError):
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        self._pubsub = pubsub  # from now on the control task subscribes new topics
        missed = {self.channel(t) for t in self._refs} - channels
        if missed:  # topics that arrived while we connected
            await pubsub.subscribe(*missed)
        last_rx = time.monotonic()
        pinged = False
        while self._running():
            message = await pubsub.get_message(timeout=0.5)
            now = time.monotonic()
            if message is None:
                if now - last_rx > 3 * self._ping_every:
                    raise ConnectionError("no answer from Redis")
                if now - last_rx > self._ping_every and not pinged:
                    self._control.put_nowait(("ping", ""))
                    pinged = True
                continue
            last_rx, pinged = now, False
            self._on_message(message)

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "message":
            try:
                envelope = Envelope.decode(message["data"])
            except EnvelopeError:
                log.warning("dropped an unreadable envelope from Redis")
                return
            if self._deliver is not None:
                self._deliver(envelope)
        elif kind == "subscribe":
            channel = _text(message["channel"])
            if channel == f"{self.namespace}:alive":
                self._set_health(listener=True)
            self._confirmed.add(channel)
            waiter = self._confirm_waiters.pop(channel, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _release_waiters(self) -> None:
        for waiter in self._confirm_waiters.values():
            if not waiter.done():
                waiter.set_result(None)
        self._confirm_waiters.clear()

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _control_forever(self) -> None:
        """SUBSCRIBE/UNSUBSCRIBE/PING on the listener's connection, in order."""
        while self._running():
            op, channel = await self._control.get()
            pubsub = self._pubsub
            if pubsub is None:
                continue  # the next connection subscribes to every hosted topic
            try:
                hosted = _topic_of(self.namespace, channel) in self._refs
                if op == "subscribe" and hosted:
                    await pubsub.subscribe(channel)
                elif op == "unsubscribe" and not hosted:
                    await pubsub.unsubscribe(channel)
                elif op == "ping":
                    await pubsub.ping()
            except (RedisError, OSError):
                pass  # the listener notices and reconnects

    async def _write_forever(self) -> None:
        queue = self._queue
        while self._running():
            if not queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            channel, raw = queue[0]
            if raw is None:
                queue.popleft()
                await self._await_subscription(channel)
                continue
            batch: list[tuple[str, bytes]] = []
            while queue and len(batch) < _BATCH and queue[0][1] is not None:
                ch, data = queue.popleft()
                assert data is not None
                batch.append((ch, data))
            try:
                if len(batch) == 1:
                    await self.client.publish(*batch[0])
                else:
                    pipe = self.client.pipeline(transaction=False)
                    for ch, data in batch:
                        pipe.publish(ch, data)
                    await pipe.execute()
            except (RedisError, OSError):
                self._lost(len(batch) + sum(1 for _, d in queue if d is not None))
                queue.clear()
                self._set_health(writer=False)
                await self._reconnect_writer()

    async def _await_subscription(self, channel: str) -> None:
        if channel in self._confirmed or not self._listener_ok:
            return
        if _topic_of(self.namespace, channel) not in self._refs:
            return  # unsubscribed again meanwhile
        waiter = self._confirm_waiters.get(channel)
        if waiter is None:
            waiter = self._confirm_waiters[channel] = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(waiter), _SUBSCRIBE_WAIT)

    async def _reconnect_writer(self) -> None:
        attempt = 0
        while self._running():
            await asyncio.sleep(self._sleep_for(attempt))
            attempt += 1
            try:
                await self.client.ping()
            except (RedisError, OSError):
                continue
            self._set_health(writer=True)
            return


async def stop_tasks(tasks: list[asyncio.Task[None]], timeout: float = 2.0) -> None:
    """Cancel and wait, boundedly.

    A task cancelled inside a redis-py command may swallow the cancellation
    and go on, so our loops also check a closing flag; this waits for them
    and cancels again what is still running.
    """
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
        log.warning("task %s did not stop in time", task.get_name())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _topic_of(namespace: str, channel: str) -> str:
    return channel[len(namespace) + 3 :]
