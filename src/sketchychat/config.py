"""Settings: defaults, ``SKETCHYCHAT_*`` environment variables, then command-line flags.

Settings are grouped by the part of the server they configure (``settings.socket``,
``settings.rooms``, …), but every one keeps one flat name: ``max_frame_size`` is the
flag ``--max-frame-size`` and the variable ``SKETCHYCHAT_MAX_FRAME_SIZE``. The
:data:`OPTIONS` table is the single list of them: the CLI builds its flags from it,
the README's settings table is checked against it, and an unknown ``SKETCHYCHAT_*``
variable is refused against it (a typo must not be silently ignored).

Validated once at start-up; a bad value stops the server with one clear line
(:class:`ConfigError`) instead of failing later under load.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ENV_PREFIX",
    "OPTIONS",
    "AuthSettings",
    "ClusterSettings",
    "ConfigError",
    "HistorySettings",
    "HttpSettings",
    "Option",
    "RoomSettings",
    "Settings",
    "SocketSettings",
    "load_settings",
    "settings_table",
]

ENV_PREFIX = "SKETCHYCHAT_"

#: ``SKETCHYCHAT_*`` variables that are not settings: the ``--workers`` supervisor's
#: mark on its children, and anything the test suite keeps for itself.
_NOT_SETTINGS = re.compile(r"^SKETCHYCHAT_(WORKER|TEST_[A-Z0-9_]+)$")


class ConfigError(ValueError):
    """A setting that cannot work; the message names the setting and the fix."""


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 4000
    #: Largest HTTP request body, bytes.
    max_http_body: int = 64 * 1024
    #: Seconds a client has to send a whole request (head, WebSocket handshake
    #: included, and body) from its first byte; slower clients get 408 (slowloris).
    request_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class AuthSettings:
    #: HMAC key for tokens and room-code checks; generated at start when empty.
    secret: str = ""
    #: Lifetime of a session token, seconds (contract.md §2: 24 h).
    token_ttl: int = 24 * 3600


@dataclass(frozen=True, slots=True)
class SocketSettings:
    #: A socket that sends nothing for this long is closed (contract.md §3).
    idle_timeout: float = 60.0
    #: Largest WebSocket message accepted, bytes; bigger → close 1009.
    max_frame_size: int = 1024 * 1024
    #: Joined channels per socket (contract.md §3).
    max_channels: int = 100
    #: Bytes a socket may have queued (outbox + socket buffer) before it is
    #: disconnected as too slow (close 1013).
    outbox_limit: int = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RoomSettings:
    #: An empty (or never joined) room expires after this many seconds.
    room_idle_timeout: float = 30 * 60.0
    #: Longest message body, characters (contract.md §4).
    max_body_length: int = 4000


@dataclass(frozen=True, slots=True)
class HistorySettings:
    #: Which retentions rooms may be created with (``ephemeral`` is always one).
    retentions: str = "ephemeral,memory,persistent"
    #: Where persistent rooms' SQLite file goes (created with the first such room).
    data_dir: str = ""
    #: ``postgresql://…``: keep persistent rooms there instead (needs the ``postgres`` extra).
    database_url: str = ""
    #: What a client that dropped gets back, from memory, in any room.
    recovery_messages: int = 200
    recovery_seconds: float = 120.0
    #: What a memory room keeps for newcomers and reloads.
    memory_messages: int = 1000
    memory_seconds: float = 24 * 3600.0
    #: What a persistent room keeps, and how long it lives after its last activity.
    persistent_messages: int = 10_000
    persistent_days: float = 30.0
    persistent_idle_days: float = 30.0

    @property
    def allowed(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.retentions.split(",") if k.strip())

    @property
    def sqlite_path(self) -> str:
        """The SQLite file of persistent rooms (under ``data_dir``, or the user's data home)."""
        base = self.data_dir or os.path.join(
            os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "sketchychat"
        )
        return os.path.join(base, "sketchychat.sqlite3")


@dataclass(frozen=True, slots=True)
class ClusterSettings:
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


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: where it lives, how it is spelled, what it means."""

    name: str
    group: str
    help: str
    #: What the value counts (``SECONDS``, ``BYTES``…), for ``--help``.
    unit: str = ""
    #: False for the secret: a flag would show it in ``ps``.
    flag: bool = True
    choices: tuple[str, ...] = ()
    #: How the README describes the default when it is not a plain value.
    default_text: str = ""

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag_name(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def kind(self) -> type:
        return type(self.default)

    @property
    def default(self) -> Any:
        return Settings().get(self.name)


#: Every setting, in the order ``--help`` and the README list them.
OPTIONS: tuple[Option, ...] = (
    Option("host", "http", "address to listen on"),
    Option("port", "http", "port to listen on"),
    Option(
        "secret",
        "auth",
        "HMAC key for tokens and room codes; set it so that tokens and "
        "rooms survive restarts (every node of a cluster needs the same)",
        flag=False,
        default_text="generated at start",
    ),
    Option("token_ttl", "auth", "how long a session token lives", unit="SECONDS"),
    Option("room_idle_timeout", "rooms", "how long an empty room lives", unit="SECONDS"),
    Option("max_body_length", "rooms", "characters in one chat message", unit="CHARS"),
    Option("idle_timeout", "socket", "silence before a socket is closed (1001)", unit="SECONDS"),
    Option(
        "max_frame_size",
        "socket",
        "bytes in one WebSocket message, fragments included "
        "(and at most one frame per 64 bytes of it); more closes the socket with 1009",
        unit="BYTES",
    ),
    Option("max_channels", "socket", "joined channels per socket", unit="COUNT"),
    Option(
        "outbox_limit",
        "socket",
        "bytes queued for a client before it is disconnected as too slow (1013)",
        unit="BYTES",
    ),
    Option(
        "request_timeout",
        "http",
        "time to send a whole HTTP request or WebSocket handshake; slower clients get 408",
        unit="SECONDS",
    ),
    Option(
        "max_http_body",
        "http",
        "bytes in an HTTP request body; a larger one gets 413 before it is read",
        unit="BYTES",
    ),
    Option(
        "retentions",
        "history",
        "retentions rooms may be created with (comma-separated: ephemeral, memory, persistent)",
    ),
    Option(
        "data_dir",
        "history",
        "where persistent rooms' SQLite file goes (created with the first persistent room)",
        unit="DIR",
        default_text="~/.local/share/sketchychat",
    ),
    Option(
        "database_url",
        "history",
        "postgresql://… to keep persistent rooms there instead (needs the postgres extra)",
        default_text="empty",
    ),
    Option(
        "recovery_messages", "history", "messages a client that dropped can get back", unit="COUNT"
    ),
    Option(
        "recovery_seconds",
        "history",
        "how long a client that dropped can get them back",
        unit="SECONDS",
    ),
    Option("memory_messages", "history", "messages a memory room keeps", unit="COUNT"),
    Option("memory_seconds", "history", "how long a memory room keeps a message", unit="SECONDS"),
    Option("persistent_messages", "history", "messages a persistent room keeps", unit="COUNT"),
    Option("persistent_days", "history", "how long a persistent room keeps a message", unit="DAYS"),
    Option(
        "persistent_idle_days",
        "history",
        "how long a persistent room lives after its last activity",
        unit="DAYS",
    ),
    Option(
        "log_level",
        "",
        "how much to log (never message bodies or tokens)",
        choices=("debug", "info", "warning", "error"),
    ),
    Option(
        "redis_url",
        "cluster",
        "redis://… to share rooms and presence with other nodes",
        default_text="empty",
    ),
    Option("redis_namespace", "cluster", "prefix of the cluster's Redis keys and channels"),
    Option("workers", "cluster", "processes on one port (needs --redis-url)", unit="COUNT"),
    Option(
        "heartbeat_interval",
        "cluster",
        "how often a clustered node says it is alive",
        unit="SECONDS",
    ),
    Option(
        "node_down_timeout",
        "cluster",
        "a node silent this long is dead: its members leave everywhere",
        unit="SECONDS",
    ),
)

_BY_NAME = {option.name: option for option in OPTIONS}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a node needs, grouped by the part of the server it configures."""

    http: HttpSettings = field(default_factory=HttpSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    socket: SocketSettings = field(default_factory=SocketSettings)
    rooms: RoomSettings = field(default_factory=RoomSettings)
    history: HistorySettings = field(default_factory=HistorySettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    log_level: str = "info"

    @classmethod
    def of(cls, **values: Any) -> Settings:
        """Settings from flat names (``Settings.of(port=4001, max_frame_size=2048)``)."""
        return cls().replace(**values)

    def replace(self, **values: Any) -> Settings:
        """A copy with some settings changed, by their flat names."""
        groups: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        for name, value in values.items():
            option = _BY_NAME.get(name)
            if option is None:
                raise ConfigError(f"there is no setting named {name!r}")
            if option.group:
                groups.setdefault(option.group, {})[name] = value
            else:
                top[name] = value
        for group, changes in groups.items():
            top[group] = dataclasses.replace(getattr(self, group), **changes)
        return dataclasses.replace(self, **top)

    def get(self, name: str) -> Any:
        """A setting by its flat name."""
        option = _BY_NAME[name]
        return getattr(getattr(self, option.group) if option.group else self, name)

    def validate(self) -> Settings:
        """Raise :class:`ConfigError` for the first setting that cannot work."""
        http, auth, sock, cluster = self.http, self.auth, self.socket, self.cluster
        if not 0 < http.port < 65536:
            raise ConfigError(f"port must be 1-65535, got {http.port}")
        if auth.secret and len(auth.secret) < 16:
            raise ConfigError("secret must be at least 16 characters (use a long random string)")
        for option in OPTIONS:
            value = self.get(option.name)
            if isinstance(value, int | float) and value <= 0:
                raise ConfigError(f"{option.name} must be greater than 0, got {value}")
        if sock.max_frame_size < 1024:
            raise ConfigError("max_frame_size must be at least 1024 bytes")
        if self.log_level.lower() not in {"debug", "info", "warning", "error"}:
            raise ConfigError("log_level must be one of debug, info, warning, error")
        history = self.history
        unknown = history.allowed - {"ephemeral", "memory", "persistent"}
        if unknown or "ephemeral" not in history.allowed:
            raise ConfigError(
                "retentions must list ephemeral and any of memory, persistent "
                f"(got {history.retentions!r})"
            )
        if history.database_url and not re.match(r"^postgres(ql)?://", history.database_url):
            raise ConfigError("database_url must start with postgresql://")
        if cluster.redis_url and not re.match(r"^rediss?://", cluster.redis_url):
            raise ConfigError("redis_url must start with redis:// or rediss://")
        if not re.match(r"^[A-Za-z0-9_.:-]{1,64}$", cluster.redis_namespace):
            raise ConfigError("redis_namespace must be 1-64 letters, digits or _.:-")
        if cluster.node_down_timeout < 2 * cluster.heartbeat_interval:
            raise ConfigError(
                "node_down_timeout must be at least twice heartbeat_interval "
                "(one lost heartbeat must not kill a node)"
            )
        if cluster.workers > 1 and not cluster.redis_url:
            raise ConfigError(
                "--workers needs --redis-url: processes share rooms and presence through Redis"
            )
        if (cluster.workers > 1 or cluster.redis_url) and not auth.secret:
            raise ConfigError(
                "a cluster needs a shared secret: set SKETCHYCHAT_SECRET on every node"
            )
        return self


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults ← environment ← ``overrides`` (CLI flags that were given), validated."""
    env = os.environ if environ is None else environ
    unknown = sorted(
        k
        for k in env
        if k.startswith(ENV_PREFIX)
        and k[len(ENV_PREFIX) :].lower() not in _BY_NAME
        and not _NOT_SETTINGS.match(k)
    )
    if unknown:
        raise ConfigError(_unknown_variables(unknown))
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = env.get(option.env)
        if raw is not None and raw != "":
            values[option.name] = _cast(option, raw)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return Settings.of(**values).validate()


def settings_table() -> str:
    """The README's settings table (``python -m sketchychat.config`` prints it)."""
    lines = ["| flag | environment | default | |", "|---|---|---|---|"]
    for option in OPTIONS:
        flag = f"`{option.flag_name}`" if option.flag else "—"
        default = option.default_text or f"`{str(option.default).removesuffix('.0')}`"
        default += {"SECONDS": " s", "BYTES": " bytes", "DAYS": " days"}.get(option.unit, "")
        lines.append(f"| {flag} | `{option.env}` | {default} | {option.help} |")
    return "\n".join(lines)


def _unknown_variables(names: list[str]) -> str:
    hints = []
    for name in names:
        close = difflib.get_close_matches(name, [o.env for o in OPTIONS], n=1)
        hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return (
        "unknown setting "
        + ", ".join(hints)
        + "; every SKETCHYCHAT_* variable must name a setting (sketchychat serve --help)"
    )


def _cast(option: Option, raw: str) -> Any:
    kind = option.kind
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
    except ValueError:
        expected = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{option.env} must be {expected}, got {raw!r}") from None
    return raw


if __name__ == "__main__":
    print(settings_table())
