"""The composition root: builds a node from Settings and runs it until a signal.

The only module that picks concrete adapters and owns start/stop order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sketchychat.auth.tokens import TokenSigner
from sketchychat.cluster.workers import WORKER_ENV
from sketchychat.config import ConfigError, HistorySettings, Settings
from sketchychat.history.base import Store, StoreUnavailable
from sketchychat.history.retention import RetentionPolicy, Window
from sketchychat.history.sql import SqlStore
from sketchychat.history.sqlite import SqliteDriver
from sketchychat.pubsub.base import Adapter, PubSub
from sketchychat.pubsub.memory import MemoryAdapter
from sketchychat.rooms.codes import RoomCodes
from sketchychat.rooms.registry import RoomRegistry, Stores
from sketchychat.rooms.room import RoomLimits
from sketchychat.sockets.connect import Connector
from sketchychat.sockets.phoenix import SocketContext
from sketchychat.transport.flusher import Flusher
from sketchychat.transport.http import Request, Response
from sketchychat.transport.server import HttpProtocol, HttpServerContext
from sketchychat.transport.websocket import (
    WebSocketEndpoint,
    WebSocketOptions,
    phoenix_application,
)
from sketchychat.web.routes import Health, build_router, not_found_page
from sketchychat.websocket.frames import CloseCode

if TYPE_CHECKING:
    from sketchychat.cluster.coordinator import Cluster

__all__ = ["Node", "build_node", "run"]

log = logging.getLogger("sketchychat")

_HTTP_KEEPALIVE = 60.0
_DRAIN_SECONDS = 5.0


@dataclass
class Node:
    settings: Settings
    pubsub: PubSub
    registry: RoomRegistry
    sockets: SocketContext
    http: HttpServerContext
    health: Health
    cluster: Cluster | None = None
    stores: Stores = field(default_factory=Stores)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self) -> None:
        await self.pubsub.start()
        await self._start_stores()
        self.registry.start()
        if self.cluster is not None:
            self.cluster.start(self.registry)
        loop = asyncio.get_running_loop()
        s = self.settings
        self.server = await loop.create_server(
            lambda: HttpProtocol(self.http),
            s.http.host,
            s.http.port,
            backlog=4096,
            reuse_port=s.cluster.workers > 1,
        )
        self.tasks.append(loop.create_task(self._sweep_idle()))

    async def _sweep_idle(self) -> None:
        """Contract §3: a connection that sends nothing for ``idle_timeout`` is closed."""
        idle = self.settings.socket.idle_timeout
        period = max(0.05, min(idle / 4, 5.0))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for sock in list(self.sockets.sockets):
                if now - sock.last_seen >= idle:
                    sock.close(int(CloseCode.GOING_AWAY), "idle timeout")
            for http in list(self.http.connections or ()):
                if now - http.last_seen >= _HTTP_KEEPALIVE:
                    http.close_idle()

    async def stop(self) -> None:
        """Stop accepting, tell clients to reconnect elsewhere (1012), then tear down."""
        if self.server is not None:
            self.server.close()
        for sock in list(self.sockets.sockets):
            sock.close(int(CloseCode.SERVICE_RESTART), "server restart")
        for http in list(self.http.connections or ()):
            http.close_idle()
        deadline = time.monotonic() + _DRAIN_SECONDS
        draining = True
        while draining and time.monotonic() < deadline:
            # A socket whose Close is on the wire is done: its client closes TCP when
            # it likes, and nothing more needs saying before we say goodbye to peers.
            draining = bool(self.http.connections) or not all(
                sock.settled for sock in self.sockets.sockets
            )
            await asyncio.sleep(0.02)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.cluster is not None:
            await self.cluster.stop()
        await self.registry.stop()
        for store in (self.stores.persistent, self.stores.shared):
            if store is not None:
                await store.stop()
        await self.pubsub.stop()

    async def _start_stores(self) -> None:
        """The shared store at once; the persistent one only if it already has data.

        A server that never hosts a persistent room must never touch the disk, so a
        SQLite file is created with the first persistent room, not before.
        """
        if self.stores.shared is not None:
            await self.stores.shared.start()
        store = self.stores.persistent
        if store is None or not await store.has_data():
            return
        try:
            await store.start()
        except StoreUnavailable as exc:
            log.warning("persistent rooms are unavailable until their store is: %s", exc)


def build_node(settings: Settings, *, adapter: Adapter | None = None) -> Node:
    secret = settings.auth.secret
    if not secret:
        raise ConfigError("build_node needs a secret (run() generates one)")
    # A fresh id per process start: a restarted node is a new peer (issue #4).
    node_id = "n" + secrets.token_hex(6)
    cluster = None
    if adapter is None and settings.cluster.redis_url:
        pubsub, cluster = _clustered(settings, node_id)
    else:
        pubsub = PubSub(node_id, adapter or MemoryAdapter())
    codes = RoomCodes(secret)
    policy = retention_policy(settings.history)
    stores = Stores(
        persistent=_persistent_store(settings, policy),
        shared=_shared_store(settings, policy, cluster),
    )
    registry = RoomRegistry(
        codes,
        pubsub,
        idle_timeout=settings.rooms.room_idle_timeout,
        limits=RoomLimits(max_body_length=settings.rooms.max_body_length, retention=policy),
        directory=cluster.directory if cluster is not None else None,
        stores=stores,
        allowed=settings.history.allowed,
    )
    sockets = SocketContext(registry=registry, max_channels=settings.socket.max_channels)
    websocket = WebSocketOptions(
        flusher=Flusher(asyncio.get_running_loop()),
        max_frame_size=settings.socket.max_frame_size,
        outbox_limit=settings.socket.outbox_limit,
    )
    signer = TokenSigner(secret, settings.auth.token_ttl)
    health = Health()
    if cluster is not None:
        health.checks["redis"] = cluster.problem
    router = build_router(signer=signer, registry=registry, health=health, policy=policy)

    async def handle(request: Request) -> Response:
        resolved = router.resolve(request.method, request.path)
        if isinstance(resolved, Response):
            if resolved.status == 404 and not request.path.startswith(("/api/", "/socket/")):
                return not_found_page()
            return resolved
        handler, params = resolved
        request.params = params
        return await handler(request)

    http = HttpServerContext(
        handle=handle,
        upgrade=WebSocketEndpoint(websocket, Connector(signer), phoenix_application(sockets)),
        max_body=settings.http.max_http_body,
        request_timeout=settings.http.request_timeout,
        connections=set(),
    )
    return Node(settings, pubsub, registry, sockets, http, health, cluster, stores=stores)


def retention_policy(history: HistorySettings) -> RetentionPolicy:
    """What each kind of room keeps, from the settings."""
    day = 24 * 3600.0
    return RetentionPolicy(
        recovery=Window(history.recovery_messages, history.recovery_seconds),
        memory=Window(history.memory_messages, history.memory_seconds),
        persistent=Window(history.persistent_messages, history.persistent_days * day),
        persistent_idle=history.persistent_idle_days * day,
    )


def _persistent_store(settings: Settings, policy: RetentionPolicy) -> SqlStore | None:
    """SQLite under the data dir, or PostgreSQL by URL; None when not offered."""
    history = settings.history
    if "persistent" not in history.allowed:
        return None
    if history.database_url:
        try:
            from sketchychat.history.postgres import PostgresDriver
        except ImportError as exc:
            raise ConfigError(
                "--database-url needs the postgres extra: pip install 'sketchychat[postgres]'"
            ) from exc
        return SqlStore(PostgresDriver(history.database_url), policy)
    return SqlStore(SqliteDriver(Path(history.sqlite_path)), policy)


def _shared_store(
    settings: Settings, policy: RetentionPolicy, cluster: Cluster | None
) -> Store | None:
    """A cluster keeps every ephemeral and memory room's stream in Redis."""
    if cluster is None:
        return None
    from sketchychat.history.redis import RedisStore

    return RedisStore(
        cluster.client,
        namespace=settings.cluster.redis_namespace,
        policy=policy,
        room_idle=settings.rooms.room_idle_timeout,
    )


def _clustered(settings: Settings, node_id: str) -> tuple[PubSub, Cluster]:
    """The Redis adapter and the cluster layer (imported only when asked for)."""
    try:
        from sketchychat.cluster.coordinator import Cluster
        from sketchychat.pubsub.redis import RedisAdapter
    except ImportError as exc:
        raise ConfigError(
            "--redis-url needs the redis extra: pip install 'sketchychat[redis]'"
        ) from exc
    adapter = RedisAdapter(settings.cluster.redis_url, namespace=settings.cluster.redis_namespace)
    pubsub = PubSub(node_id, adapter)
    cluster = Cluster(
        pubsub,
        adapter,
        interval=settings.cluster.heartbeat_interval,
        down_timeout=settings.cluster.node_down_timeout,
        idle_timeout=settings.rooms.room_idle_timeout,
    )
    return pubsub, cluster


def _redacted(url: str) -> str:
    """A Redis URL fit for a log line (no password)."""
    return re.sub(r"//[^@/]*@", "//***@", url)


async def run(settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM; returns the process exit code."""
    if not settings.auth.secret:
        settings = settings.replace(secret=secrets.token_urlsafe(32))
        log.warning(
            "no SKETCHYCHAT_SECRET set: generated a random one; tokens will not "
            "survive a restart and nodes cannot share it"
        )
    try:
        node = build_node(settings)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    if node.cluster is not None:
        log.info(
            "node %s joining cluster %r via %s",
            node.pubsub.node_id,
            settings.cluster.redis_namespace,
            _redacted(settings.cluster.redis_url),
        )
    try:
        await node.start()
    except OSError as exc:
        http = settings.http
        log.error("cannot listen on %s:%s: %s", http.host, http.port, exc.strerror)
        await node.stop()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    supervisor = _supervisor_pid()
    if supervisor is not None:
        node.tasks.append(loop.create_task(_stop_when_orphaned(supervisor, stop)))
    try:
        _announce(
            f"SketchyChat listening on http://{settings.http.host}:{settings.http.port}", stop
        )
        await stop.wait()
        log.info("shutting down: closing connections with 1012 so clients reconnect")
    finally:
        await node.stop()  # always: a node left half-running never exits
    return 0


def _announce(line: str, stop: asyncio.Event) -> None:
    """The ready line; nobody left to read it (a dead supervisor) means stop."""
    try:
        print(line, flush=True)
    except OSError:
        log.warning("standard output is gone (the --workers supervisor died?): stopping")
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        stop.set()


def _supervisor_pid() -> int | None:
    """The pid of the ``--workers`` supervisor when we are one of its children."""
    _, _, pid = os.environ.get(WORKER_ENV, "").partition(":")
    return int(pid) if pid.isdigit() else None


async def _stop_when_orphaned(supervisor: int, stop: asyncio.Event) -> None:
    """A ``--workers`` child stops when its supervisor is gone (even after kill -9)."""
    while os.getppid() == supervisor:  # noqa: ASYNC110 - polling the kernel, no event to wait on
        await asyncio.sleep(1.0)
    log.warning("the --workers supervisor is gone: stopping")
    stop.set()
