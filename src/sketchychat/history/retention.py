"""What a room keeps, chosen once when it is created (contract.md §5).

* ``ephemeral`` (the default): nothing is kept for anyone but a client that drops
  and comes back soon, which gets exactly what it missed from a short window in
  memory (200 messages / 2 minutes by default). Newcomers see nothing from before.
* ``memory``: the recent conversation (bounded by count and age) lives in RAM (in
  Redis when clustered) for as long as the room does.
* ``persistent``: messages are stored in a database and survive restarts, within
  a retention (age and count), and are deleted when the room expires.

For ``memory`` and ``persistent`` rooms the creator also chooses what newcomers
see: the conversation before they first joined (``shared``), or only what came
after (``joined``, the private choice). An ephemeral room is always ``joined``.

The choice travels in the room code itself (:mod:`~sketchychat.rooms.codes`), so
a node that restarted, or another node, knows a room's retention from its code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

__all__ = [
    "HISTORY",
    "KINDS",
    "Retention",
    "RetentionError",
    "RetentionPolicy",
    "Window",
]

Kind = Literal["ephemeral", "memory", "persistent"]
History = Literal["shared", "joined"]

KINDS: Final[tuple[Kind, ...]] = ("ephemeral", "memory", "persistent")
HISTORY: Final[tuple[History, ...]] = ("shared", "joined")


class RetentionError(ValueError):
    """A retention a client asked for that cannot be had: the API's 4xx."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Retention:
    kind: Kind = "ephemeral"
    #: What a newcomer sees: everything kept (``shared``) or only what came after
    #: its first join (``joined``).
    history: History = "joined"

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Retention:
        """From ``POST /api/rooms``: ``{}`` and no ``retention`` keep the default."""
        kind = body.get("retention", "ephemeral")
        if kind not in KINDS:
            raise RetentionError(
                "invalid_retention",
                "retention must be one of ephemeral, memory or persistent.",
            )
        default: History = "joined" if kind == "ephemeral" else "shared"
        history = body.get("history", default)
        if history not in HISTORY:
            raise RetentionError("invalid_history", "history must be shared or joined.")
        if kind == "ephemeral" and history != "joined":
            raise RetentionError(
                "invalid_history",
                "An ephemeral room keeps nothing: newcomers can only see what comes after.",
            )
        return cls(kind, history)

    @property
    def label(self) -> str:
        """Its mark in a room code's check ("" for ephemeral, so older codes stay valid)."""
        return _LABELS[(self.kind, self.history)]

    @classmethod
    def labels(cls) -> list[tuple[str, Retention]]:
        return [(label, cls(kind, history)) for (kind, history), label in _LABELS.items()]

    @property
    def keeps_history(self) -> bool:
        """Whether newcomers and scroll-back can see anything (memory, persistent)."""
        return self.kind != "ephemeral"


_LABELS: Final[dict[tuple[Kind, History], str]] = {
    ("ephemeral", "joined"): "",
    ("memory", "shared"): "ms",
    ("memory", "joined"): "mj",
    ("persistent", "shared"): "ps",
    ("persistent", "joined"): "pj",
}


@dataclass(frozen=True, slots=True)
class Window:
    """How much a stream keeps: at most ``messages``, none older than ``seconds``."""

    messages: int
    seconds: float


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """The node's bounds for each kind (settings), and how they read to a person."""

    recovery: Window = Window(200, 120.0)
    memory: Window = Window(1000, 24 * 3600.0)
    persistent: Window = Window(10_000, 30 * 24 * 3600.0)
    #: An empty persistent room expires this long after its last activity.
    persistent_idle: float = 30 * 24 * 3600.0

    def window(self, kind: Kind) -> Window:
        """What a room of ``kind`` keeps (an ephemeral room: its recovery window)."""
        if kind == "memory":
            return self.memory
        if kind == "persistent":
            return self.persistent
        return self.recovery

    def describe(self, retention: Retention) -> dict[str, Any]:
        """The room's retention for the API, the join reply and the room page."""
        window = self.window(retention.kind)
        return {
            "kind": retention.kind,
            "history": retention.history,
            "summary": self.summary(retention),
            "max_messages": window.messages,
            "max_age_seconds": int(window.seconds),
        }

    def summary(self, retention: Retention) -> str:
        """One plain sentence for the room's badge."""
        if retention.kind == "memory":
            return "Kept while this room lives"
        if retention.kind == "persistent":
            return f"Saved for {_duration(self.persistent.seconds)}"
        return "Nothing is kept"


def _duration(seconds: float) -> str:
    days = seconds / 86400
    if days >= 1:
        n = round(days)
        return f"{n} day{'s' if n != 1 else ''}"
    hours = max(1, round(seconds / 3600))
    return f"{hours} hour{'s' if hours != 1 else ''}"
