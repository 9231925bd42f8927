"""Settings: defaults, ``SKETCHYCHAT_*`` environment variables, then CLI flags.

Validated once at start-up; a bad value stops the server with one clear line
(:class:`ConfigError`) instead of failing later under load.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["ConfigError", "Settings", "load_settings"]

_ENV_PREFIX = "SKETCHYCHAT_"


class ConfigError(ValueError):
    """A setting that cannot work; the message names the setting and the fix."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a node needs; every field maps to ``SKETCHYCHAT_<FIELD>``."""

    host: str = "127.0.0.1"
    port: int = 4000
    #: HMAC key for tokens and room-code checks; generated at start when empty.
    secret: str = ""
    #: Lifetime of a session token, seconds (contract §2: 24 h).
    token_ttl: int = 24 * 3600
    #: An empty (or never joined) room expires after this many seconds.
    room_idle_timeout: float = 30 * 60
    #: A connection that sends nothing for this long is closed (contract §3).
    idle_timeout: float = 60.0
    #: Largest WebSocket message accepted, bytes; bigger → close 1009.
    max_frame_size: int = 1024 * 1024
    #: Longest message body, characters (contract §4).
    max_body_length: int = 4000
    #: Joined channels per connection (contract §3).
    max_channels: int = 100
    #: Bytes a connection may have queued (outbox + socket buffer) before it
    #: is disconnected as too slow (close 1013).
    outbox_limit: int = 4 * 1024 * 1024
    #: Largest HTTP request body, bytes.
    max_http_body: int = 64 * 1024
    #: Seconds a client has to send a whole HTTP request (head, WebSocket handshake
    #: included, and body) from its first byte; slower clients get 408 (slowloris).
    request_timeout: float = 10.0
    log_level: str = "info"
    #: ``redis://…``: share rooms and presence with other nodes (needs the ``redis`` extra).
    redis_url: str = ""
    #: Prefix of every Redis key and channel: clusters (or test runs) sharing a Redis
    #: stay apart by using different namespaces.
    redis_namespace: str = "sketchychat"
    #: Processes on one port (needs ``redis_url``).
    workers: int = 1
    #: Seconds between a clustered node's heartbeats.
    heartbeat_interval: float = 1.5
    #: A node silent this long is dead: its members leave on every other node.
    node_down_timeout: float = 15.0

    def validate(self) -> Settings:
        """Raise :class:`ConfigError` for the first setting that cannot work."""
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be 1-65535, got {self.port}")
        if self.secret and len(self.secret) < 16:
            raise ConfigError("secret must be at least 16 characters (use a long random string)")
        positive = ("token_ttl", "room_idle_timeout", "idle_timeout", "max_frame_size",
                    "max_body_length", "max_channels", "outbox_limit", "max_http_body",
                    "request_timeout", "workers",
                    "heartbeat_interval", "node_down_timeout")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be greater than 0, got {getattr(self, name)}")
        if self.max_frame_size < 1024:
            raise ConfigError("max_frame_size must be at least 1024 bytes")
        if self.log_level.lower() not in {"debug", "info", "warning", "error"}:
            raise ConfigError("log_level must be one of debug, info, warning, error")
        if self.redis_url and not re.match(r"^rediss?://", self.redis_url):
            raise ConfigError("redis_url must start with redis:// or rediss://")
        if not re.match(r"^[A-Za-z0-9_.:-]{1,64}$", self.redis_namespace):
            raise ConfigError("redis_namespace must be 1-64 letters, digits or _.:-")
        if self.node_down_timeout < 2 * self.heartbeat_interval:
            raise ConfigError("node_down_timeout must be at least twice heartbeat_interval "
                              "(one lost heartbeat must not kill a node)")
        if self.workers > 1 and not self.redis_url:
            raise ConfigError(
                "--workers needs --redis-url: processes share rooms and presence through Redis"
            )
        if (self.workers > 1 or self.redis_url) and not self.secret:
            raise ConfigError(
                "a cluster needs a shared secret: set SKETCHYCHAT_SECRET on every node"
            )
        return self

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults ← environment ← ``overrides`` (CLI flags that were given), validated."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(_ENV_PREFIX + f.name.upper())
        if raw is not None and raw != "":
            values[f.name] = _cast(f.name, f.type, raw)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return Settings(**values).validate()


def _cast(name: str, kind: Any, raw: str) -> Any:
    target = kind if isinstance(kind, type) else {"int": int, "float": float}.get(str(kind), str)
    try:
        if target is int:
            return int(raw)
        if target is float:
            return float(raw)
    except ValueError:
        expected = "a whole number" if target is int else "a number"
        raise ConfigError(
            f"{_ENV_PREFIX}{name.upper()} must be {expected}, got {raw!r}"
        ) from None
    return raw
