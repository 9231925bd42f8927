"""Real Redis for tests: the machine's shared one, or a throwaway server we can restart.

Tests that need Redis skip when it does not answer, unless
``SKETCHYCHAT_TEST_REQUIRE_ALL=1`` (then they fail). Every test gets its own
namespace, so parallel runs and leftovers never collide.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field

import redis

from tests.support.needs import missing
from tests.support.server import free_port

__all__ = ["SHARED_URL", "RedisServer", "namespace", "purge", "require_redis"]

SHARED_URL = os.environ.get("SKETCHYCHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _missing(why: str) -> None:
    missing(f"no Redis: {why}")


def require_redis(url: str = SHARED_URL) -> str:
    """The URL of a Redis that answers PING, or skip (fail when everything is required)."""
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2) as client:
            client.ping()
    except redis.RedisError as exc:
        _missing(f"{url} does not answer ({type(exc).__name__})")
    return url


def namespace() -> str:
    return "sctest-" + secrets.token_hex(4)


def purge(url: str, ns: str) -> None:
    """Delete what a test left under its namespace (tombstones would live a day)."""
    with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5) as client:
        keys = list(client.scan_iter(match=f"{ns}:*", count=500))
        if keys:
            client.delete(*keys)


@dataclass
class RedisServer:
    """Our own ``redis-server`` on a free port: killing or restarting it disturbs nobody."""

    port: int = field(default_factory=free_port)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server")
        if exe is None:
            _missing("redis-server is not installed")
        assert exe is not None
        self._proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis.from_url(self.url, socket_connect_timeout=0.2) as client:
                    client.ping()
                return self
            except redis.RedisError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.stop()
                    _missing("could not start a throwaway redis-server")
                time.sleep(0.05)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(10)
        self._proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
