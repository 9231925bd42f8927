"""Per-connection channel bookkeeping: Phoenix ``socket.ex`` ``handle_in``, sans I/O.

A :class:`Session` knows which topics this connection has joined (or is
joining) and under which join_ref. Each decoded client message becomes a list
of :mod:`~sketchychat.protocol.commands` for the runtime to execute in order;
the runtime reports join outcomes and channel exits back. Section numbers
refer to ``docs/protocol.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from sketchychat.protocol.commands import Command, Join, Leave, Reply, Route, Send
from sketchychat.protocol.message import (
    HEARTBEAT,
    PHOENIX_TOPIC,
    PHX_CLOSE,
    PHX_ERROR,
    PHX_JOIN,
    PHX_LEAVE,
    Message,
)

__all__ = ["Session"]

_NOTHING: tuple[str | None, ...] = ()
#: ``dict.get`` default that cannot be a join_ref (a join_ref may be None, §2.2).
_ABSENT = "\x00absent"


class Session:
    """The channel state machine of one socket connection.

    State is a map ``topic -> current join_ref`` (joined or still joining)
    plus, only while joins are unresolved, a dict ``topic -> join_refs the
    pending join superseded``: their ``phx_close`` goes out once the new join
    has been answered (§3.4). There is one Session per connection, so it
    keeps ``__slots__`` and creates nothing else until it is needed; the map
    of a socket with one channel (the usual case) is a pair, not a dict.

    A join_ref may be None: a V1 client may join with a null ref and no
    join_ref, which Phoenix accepts (replies then carry a null ref).
    """

    __slots__ = ("_channels", "_joining", "_rules")

    def __init__(self, *, topic_allowed: Callable[[str], bool], max_channels: int = 100) -> None:
        if max_channels < 0:
            raise ValueError("max_channels must be >= 0")
        # Shared by every session of a node: one slot, not two, per connection.
        self._rules = _rules(topic_allowed, max_channels)
        self._channels: _Channels = None
        self._joining: dict[str, tuple[str | None, ...]] | None = None

    @property
    def channel_count(self) -> int:
        """Channels joined or joining; what ``max_channels`` limits (§3.3)."""
        return _count(self._channels)

    def join_ref_of(self, topic: str) -> str | None:
        """The current join_ref of ``topic`` (joined or joining), else None."""
        current = _get(self._channels, topic)
        return None if current is _ABSENT else current

    def has(self, topic: str) -> bool:
        """Whether ``topic`` is joined or joining (its join_ref may be None)."""
        return _get(self._channels, topic) is not _ABSENT

    # -- client messages --------------------------------------------------------

    def handle(self, msg: Message) -> list[Command]:
        """What to do with one decoded client message."""
        topic = msg.topic
        if topic == PHOENIX_TOPIC:
            if msg.event == HEARTBEAT:
                # §3.1 / §3.6: answered at once, whatever else is going on.
                return [Reply(msg.join_ref, msg.ref, PHOENIX_TOPIC, "ok", {})]
            # "phoenix" is reserved for the heartbeat; nothing else lives there.
            return [_unmatched(msg.ref, topic)]
        event = msg.event
        if event == PHX_JOIN:
            return self._join(msg)
        current = _get(self._channels, topic)
        if current is _ABSENT:
            # §3.3: a non-join message to a topic that is not joined; a leave is ok.
            if event == PHX_LEAVE:
                return [Reply(msg.join_ref, msg.ref, topic, "ok", {})]
            return [_unmatched(msg.ref, topic)]
        if event == PHX_LEAVE:
            return self._leave(msg, current)
        join_ref = msg.join_ref
        if join_ref is not None and join_ref != current:
            # §3.2: a stale non-null join_ref is ignored silently (Phoenix 1.8.3+).
            return []
        # §3.2: null join_ref is accepted (V1 clients, hand-written clients).
        return [Route(topic, current, msg.ref, event, msg.payload)]

    def _join(self, msg: Message) -> list[Command]:
        topic = msg.topic
        ref = msg.ref
        # §3.2: for phx_join join_ref == ref; V1 clients may omit it (§2.2), and
        # may send a null ref too: Phoenix then joins with a null join_ref.
        join_ref = ref if msg.join_ref is None else msg.join_ref
        old = _get(self._channels, topic)
        if old is not _ABSENT:
            # §3.4 duplicate join: the old membership goes now, the new join runs
            # at once, and the old join_ref's phx_close waits until the new join
            # has been answered. Closes already waiting on a join this one
            # supersedes move along with it.
            waiting = self._resolve(topic)
            self._channels = _with(self._channels, topic, join_ref)
            self._wait(topic, (*waiting, old))
            return [Leave(topic, old), Join(topic, join_ref, ref, msg.payload)]
        topic_allowed, max_channels = self._rules
        if not topic_allowed(topic):
            # §3.3: no route for this topic (join_ref null in the reply).
            return [_unmatched(ref, topic)]
        if _count(self._channels) >= max_channels:
            # §3.3: max_channels_per_transport, checked for new topics only.
            return [Reply(join_ref, ref, topic, "error", {"reason": "too many channels joined"})]
        self._channels = _with(self._channels, topic, join_ref)
        self._wait(topic, _NOTHING)
        return [Join(topic, join_ref, ref, msg.payload)]

    def _leave(self, msg: Message, current: str | None) -> list[Command]:
        topic = msg.topic
        if msg.join_ref is not None and msg.join_ref != current:
            # §3.2: a phx_leave with a stale join_ref is ignored too.
            return []
        # §3.3: ok reply to the leave, then phx_close for the membership.
        self._channels = _without(self._channels, topic)
        commands: list[Command] = [
            Leave(topic, current),
            Reply(msg.join_ref, msg.ref, topic, "ok", {}),
        ]
        commands.extend(_close(topic, old) for old in self._resolve(topic))
        commands.append(_close(topic, current))
        return commands

    # -- reports from the runtime ---------------------------------------------------

    def join_succeeded(self, topic: str, join_ref: str | None) -> list[Command]:
        """The join ``join_ref`` was admitted and its ok reply has been sent.

        Returns the ``phx_close`` of the join_refs it superseded (§3.4).
        """
        if _get(self._channels, topic) != join_ref:
            return []  # superseded meanwhile; what waited on it moved on
        return [_close(topic, old) for old in self._resolve(topic)]

    def join_failed(self, topic: str, join_ref: str | None) -> list[Command]:
        """The join ``join_ref`` was refused and its error reply has been sent."""
        if _get(self._channels, topic) != join_ref:
            return []
        self._channels = _without(self._channels, topic)
        return [_close(topic, old) for old in self._resolve(topic)]

    def channel_ended(self, topic: str, join_ref: str | None, *, crashed: bool) -> list[Command]:
        """The channel behind membership ``join_ref`` stopped on its own.

        §3.3: a crash is ``phx_error`` (the client rejoins), a normal stop is
        ``phx_close`` (it does not); both carry the join_ref as join_ref and ref.
        """
        if _get(self._channels, topic) != join_ref:
            return []
        self._channels = _without(self._channels, topic)
        commands: list[Command] = [_close(topic, old) for old in self._resolve(topic)]
        if crashed:
            commands.append(Send(join_ref, join_ref, topic, PHX_ERROR, {"reason": "channel_crash"}))
        else:
            commands.append(_close(topic, join_ref))
        return commands

    def close(self) -> list[Command]:
        """The socket is gone: leave every channel, joined or joining. Sends nothing."""
        commands: list[Command] = [Leave(topic, jr) for topic, jr in _pairs(self._channels)]
        self._channels = None
        self._joining = None
        return commands

    # -- pending joins ----------------------------------------------------------------

    def _wait(self, topic: str, superseded: tuple[str | None, ...]) -> None:
        """Mark ``topic``'s current join as unresolved, holding ``superseded``."""
        if self._joining is None:
            self._joining = {}
        self._joining[topic] = superseded

    def _resolve(self, topic: str) -> tuple[str | None, ...]:
        """End ``topic``'s unresolved join, if any; the join_refs it superseded."""
        joining = self._joining
        if joining is None:
            return _NOTHING
        superseded = joining.pop(topic, _NOTHING)
        if not joining:
            self._joining = None
        return superseded


# -- the map topic -> join_ref -------------------------------------------------------------

#: None (no channel), a ``(topic, join_ref)`` pair (one channel: 56 bytes where a dict
#: takes 184, on every socket), or a dict (several).
_Channels = tuple[str, str | None] | dict[str, str | None] | None


def _get(channels: _Channels, topic: str) -> str | None:
    """The join_ref of ``topic``, or ``_ABSENT``."""
    if channels is None:
        return _ABSENT
    if isinstance(channels, tuple):
        return channels[1] if channels[0] == topic else _ABSENT
    return channels.get(topic, _ABSENT)


def _with(channels: _Channels, topic: str, join_ref: str | None) -> _Channels:
    if channels is None:
        return (topic, join_ref)
    if isinstance(channels, tuple):
        if channels[0] == topic:
            return (topic, join_ref)
        return {channels[0]: channels[1], topic: join_ref}
    channels[topic] = join_ref
    return channels


def _without(channels: _Channels, topic: str) -> _Channels:
    if channels is None:
        return None
    if isinstance(channels, tuple):
        return None if channels[0] == topic else channels
    channels.pop(topic, None)
    if len(channels) == 1:  # back to a pair
        return next(iter(channels.items()))
    return channels or None


def _count(channels: _Channels) -> int:
    if channels is None:
        return 0
    return 1 if isinstance(channels, tuple) else len(channels)


def _pairs(channels: _Channels) -> list[tuple[str, str | None]]:
    if channels is None:
        return []
    if isinstance(channels, tuple):
        return [channels]
    return list(channels.items())


@functools.lru_cache(maxsize=16)
def _rules(
    topic_allowed: Callable[[str], bool], max_channels: int
) -> tuple[Callable[[str], bool], int]:
    return topic_allowed, max_channels


def _unmatched(ref: str | None, topic: str) -> Reply:
    return Reply(None, ref, topic, "error", {"reason": "unmatched topic"})


def _close(topic: str, join_ref: str | None) -> Send:
    return Send(join_ref, join_ref, topic, PHX_CLOSE, {})
