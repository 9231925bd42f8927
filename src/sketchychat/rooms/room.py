"""The room: membership, presence and fan-out of ``room:<code>`` on this node.

A :class:`Room` is an :class:`~sketchychat.rooms.actor.Actor`: joins, leaves,
client events and envelopes from other nodes are handled one at a time, which
gives the room one order of events and one owner of its membership. What each
client event does is the channel's table (:mod:`~sketchychat.rooms.channel`);
presence across nodes is :class:`~sketchychat.presence.sync.PresenceReplica`'s.
An exception while handling one event ends this room's channels with
``phx_error`` (clients rejoin, protocol.md §3.5) and touches no other room.

Broadcasts are encoded once per serializer and every member gets the same
:class:`~sketchychat.protocol.broadcast.Broadcast`; other nodes hear about
messages and presence through :class:`~sketchychat.pubsub.base.PubSub`.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sketchychat.auth.tokens import Identity
from sketchychat.presence.state import Diff, PresenceState
from sketchychat.presence.sync import PresenceReplica
from sketchychat.protocol.broadcast import Broadcast
from sketchychat.protocol.message import Payload
from sketchychat.protocol.serializer import Serializer
from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.envelope import Envelope
from sketchychat.rooms.actor import Actor
from sketchychat.rooms.channel import CHAT_EVENTS, Handler, Member, Push, Refused
from sketchychat.rooms.peer import Peer

__all__ = ["Room", "RoomLimits"]

log = logging.getLogger("sketchychat.room")

#: Answers a join when the room turned out not to exist (same words as the socket's).
_NOT_FOUND = {"reason": "not_found", "message": "This room does not exist or has expired."}


@dataclass(frozen=True, slots=True)
class RoomLimits:
    max_body_length: int = 4000


# -- mailbox items ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Join:
    peer: Peer
    join_ref: str | None
    ref: str | None
    identity: Identity
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Leave:
    peer: Peer
    join_ref: str | None


@dataclass(frozen=True, slots=True)
class _FromNode:
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class _Resync:
    """Exchange presence snapshots with ``node`` (every node when None)."""

    node: str | None


_Item = _Join | _Leave | Push | _FromNode | _Resync


class Room(Actor[_Item]):
    """``room:<code>`` on this node."""

    def __init__(
        self,
        code: str,
        pubsub: PubSub,
        *,
        limits: RoomLimits | None = None,
        node_hash: int = 0,
        gate: Callable[[], Awaitable[bool]] | None = None,
        events: Mapping[str, Handler] = CHAT_EVENTS,
    ) -> None:
        super().__init__("room:" + code, gate)
        self.code = code
        self.topic = "room:" + code
        self._pubsub = pubsub
        self._limits = limits or RoomLimits()
        self._events = events
        self._members: dict[tuple[Peer, str | None], Member] = {}
        #: How many members speak each serializer: a broadcast is encoded once for each.
        self._serializers: Counter[Serializer] = Counter()
        self._presence = PresenceReplica(self.topic, pubsub, node_hash=node_hash)
        self._msg_counter = 0
        self._msg_prefix = pubsub.node_id  # unique per process start: ids unique cluster-wide
        #: When the room last became empty (``time.monotonic()``); None while occupied.
        self.empty_since: float | None = time.monotonic()
        #: Moves on with every local join or leave (the room directory watches it).
        self.local_version = 0

    # -- what sockets call ------------------------------------------------

    def join(
        self,
        peer: Peer,
        join_ref: str | None,
        ref: str | None,
        identity: Identity,
        payload: dict[str, Any],
    ) -> None:
        """Admit ``peer``'s channel; the room replies, then ``peer.join_resolved``."""
        self.post(_Join(peer, join_ref, ref, identity, payload))

    def leave(self, peer: Peer, join_ref: str | None) -> None:
        """Drop ``peer``'s channel ``join_ref``; sends nothing to it."""
        self.post(_Leave(peer, join_ref))

    def push(
        self, peer: Peer, join_ref: str | None, ref: str | None, event: str, payload: Payload
    ) -> None:
        """A client event for the channel ``join_ref`` (contract.md §4)."""
        self.post(Push(peer, join_ref, ref, event, payload))

    # -- what the node and other nodes call --------------------------------

    def receive_envelope(self, envelope: Envelope) -> None:
        """From another node (the PubSub handler of this room's topic)."""
        self.post(_FromNode(envelope))

    def resync(self, node: str | None = None) -> None:
        """After lost envelopes: exchange full snapshots with ``node`` (or every node)."""
        self.post(_Resync(node))

    def node_down(self, node: str) -> None:
        """Everyone another node hosted leaves (the node died or restarted)."""
        self.post(_FromNode(Envelope(node, self.topic, "node_down", {})))

    async def stop(self) -> None:
        self._pubsub.unsubscribe(self.topic)
        await super().stop()

    @property
    def member_count(self) -> int:
        return len(self._members)

    @property
    def presence(self) -> PresenceState:
        """Who is here, on every node (the replica's state)."""
        return self._presence.state

    @property
    def online(self) -> int:
        """People present on every node (presence keys)."""
        return self._presence.state.key_count

    def local_keys(self) -> set[str]:
        """People present through this node."""
        return {m.user_id for m in self._members.values()}

    # -- the actor --------------------------------------------------------

    def _admitted(self) -> None:
        self._pubsub.subscribe(self.topic, self.receive_envelope)
        self._presence.hello()

    def _turned_away(self, item: _Item) -> None:
        """The gate said this code is not live: answer what waited."""
        if isinstance(item, _Join):
            self._answer(item.peer, item.join_ref, item.ref, "error", dict(_NOT_FOUND))
            item.peer.join_resolved(self.topic, item.join_ref, False)
        elif isinstance(item, Push):
            self._answer(item.peer, None, item.ref, "error", {"reason": "unmatched topic"})

    def _handle(self, item: _Item) -> None:
        if isinstance(item, Push):
            self._handle_push(item)
        elif isinstance(item, _Join):
            self._handle_join(item)
        elif isinstance(item, _Leave):
            self._handle_leave(item)
        elif isinstance(item, _FromNode):
            self._handle_envelope(item.envelope)
        elif self.admitted:
            self._presence.resync(item.node)

    def _handle_join(self, j: _Join) -> None:
        key = (j.peer, j.join_ref)
        ident = j.identity
        answer = {"user_id": ident.user_id, "nickname": ident.nickname}
        if key in self._members:  # the same join twice: answer it again, change nothing
            self._answer(j.peer, j.join_ref, j.ref, "ok", answer)
            return
        now = time.time()
        phx_ref, diff = self._presence.track(
            ident.user_id,
            {"nickname": ident.nickname, "online_at": int(now * 1000)},
            now_ns=time.time_ns(),
        )
        self._members[key] = Member(
            j.peer, j.join_ref, ident.user_id, ident.nickname, phx_ref, j.peer.outlet
        )
        self._serializers[j.peer.serializer] += 1
        self.empty_since = None
        self.local_version += 1
        ser = j.peer.serializer
        # contract.md §4: reply, then a fresh presence_state for this join (protocol.md §4.2).
        j.peer.send(ser.encode_reply(j.join_ref, j.ref, self.topic, "ok", answer))
        j.peer.join_resolved(self.topic, j.join_ref, True)
        j.peer.send(
            ser.encode_push(
                j.join_ref, None, self.topic, "presence_state", self._presence.state.list()
            )
        )
        self._presence_changed(diff)

    def _handle_leave(self, lv: _Leave) -> None:
        member = self._members.pop((lv.peer, lv.join_ref), None)
        if member is None:
            return
        self._forget_serializer(lv.peer.serializer)
        self.local_version += 1
        self._presence_changed(self._presence.untrack([member.phx_ref]))
        if not self._members:
            self.empty_since = time.monotonic()

    def _handle_push(self, push: Push) -> None:
        member = self._members.get((push.peer, push.join_ref))
        if member is None:
            # Raced with a failed or superseded join: Phoenix answers as for an unjoined topic.
            self._answer(push.peer, None, push.ref, "error", {"reason": "unmatched topic"})
            return
        handler = self._events.get(push.event)
        try:
            if handler is None:
                raise Refused("unknown_event", f"This room does not understand {push.event!r}.")
            handler(self, member, push)
        except Refused as refused:
            self._answer(
                push.peer,
                push.join_ref,
                push.ref,
                "error",
                {"reason": refused.reason, "message": refused.message},
            )

    def _handle_envelope(self, env: Envelope) -> None:
        if env.kind == "msg":
            data = env.data
            self._fan_out(str(data["event"]), data["payload"], None)
            return
        diff = self._presence.receive(env)
        if diff:
            self._presence_changed(diff)

    # -- what channel handlers use (rooms.channel.ChannelRoom) --------------

    @property
    def max_body_length(self) -> int:
        return self._limits.max_body_length

    def reply(self, push: Push, response: dict[str, Any]) -> None:
        self._answer(push.peer, push.join_ref, push.ref, "ok", response)

    def broadcast(self, event: str, payload: dict[str, Any], skip: Member | None = None) -> None:
        self._fan_out(event, payload, skip)
        self._pubsub.broadcast(self.topic, "msg", {"event": event, "payload": payload})

    def next_message_id(self) -> str:
        self._msg_counter += 1
        return f"{self._msg_prefix}{self._msg_counter:x}"

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    # -- fan-out ---------------------------------------------------------

    def _fan_out(self, event: str, payload: dict[str, Any], skip: Member | None) -> None:
        """Encode once per serializer; every member gets the same Broadcast.

        The hot loop of the server (``docs/design.md``): in the usual room every
        member speaks one serializer, and each gets one call into its transport.
        """
        serializers = self._serializers
        if not serializers:
            return
        topic = self.topic
        if len(serializers) == 1:
            ser = next(iter(serializers))
            out = Broadcast(ser.encode_broadcast(topic, event, payload))
            if skip is None:
                for member in self._members.values():
                    member.outlet.deliver(out)
            else:
                for member in self._members.values():
                    if member is not skip:
                        member.outlet.deliver(out)
            return
        encoded = {s: Broadcast(s.encode_broadcast(topic, event, payload)) for s in serializers}
        for member in self._members.values():
            if member is not skip:
                member.outlet.deliver(encoded[member.peer.serializer])

    def _forget_serializer(self, ser: Serializer) -> None:
        left = self._serializers[ser] - 1
        if left:
            self._serializers[ser] = left
        else:
            del self._serializers[ser]

    def _answer(
        self,
        peer: Peer,
        join_ref: str | None,
        ref: str | None,
        status: str,
        response: dict[str, Any],
    ) -> None:
        peer.send(peer.serializer.encode_reply(join_ref, ref, self.topic, status, response))

    def _presence_changed(self, diff: Diff) -> None:
        """Diffs go to local members only; other nodes compute their own (protocol.md §4.4)."""
        if diff:
            self._fan_out("presence_diff", diff.payload(), None)

    # -- failure ---------------------------------------------------------

    def _crashed(self, exc: Exception) -> None:
        """End every channel with phx_error and start over empty (clients rejoin)."""
        # Never log payloads: only the exception type and where it happened.
        tb = "".join(traceback.format_tb(exc.__traceback__))
        log.error(
            "room %s crashed with %s; its channels rejoin\n%s",
            self.code,
            type(exc).__name__,
            tb.rstrip(),
        )
        members = list(self._members.values())
        self._members.clear()
        self._serializers.clear()
        self.local_version += 1
        self._presence.untrack([m.phx_ref for m in members])
        self.empty_since = time.monotonic()
        for member in members:
            try:
                member.peer.channel_ended(self.topic, member.join_ref, True)
            except Exception:
                log.exception("could not tell a member of room %s about the crash", self.code)
