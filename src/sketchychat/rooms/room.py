"""The room actor: one asyncio task per live room on this node.

It owns membership, presence and the order of events: everything that
changes a room goes through its mailbox and is handled one at a time.
An exception while handling one event ends this room's channels with
``phx_error`` (clients rejoin, reference §3.5) and touches no other room.

Broadcasts are encoded once per serializer and every member gets the same
:class:`~sketchychat.protocol.broadcast.Broadcast`; other nodes hear
about messages and presence through :class:`~sketchychat.pubsub.base.PubSub`.

Across nodes, each node's entries are its own: a node answers ``sync_req``
with a *full* snapshot of them, which replaces what the asker held for that
node (so leaves missed during an outage are repaired too), and ``resync``
asks and announces again after the bus lost continuity. A clustered room
may start behind a *gate* (is this code live cluster-wide?); joins wait in
the mailbox until it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sketchychat.presence.state import Diff, PresenceState, make_ref
from sketchychat.protocol.broadcast import Broadcast
from sketchychat.protocol.message import Payload
from sketchychat.protocol.serializer import Serializer
from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.envelope import Envelope
from sketchychat.rooms.peer import Peer

__all__ = ["Event", "Join", "Leave", "Remote", "Resync", "Room", "RoomLimits"]

log = logging.getLogger("sketchychat.room")


@dataclass(frozen=True, slots=True)
class RoomLimits:
    max_body_length: int = 4000


@dataclass(frozen=True, slots=True)
class Join:
    peer: Peer
    join_ref: str | None
    ref: str | None
    user_id: str
    nickname: str


@dataclass(frozen=True, slots=True)
class Leave:
    peer: Peer
    join_ref: str | None


@dataclass(frozen=True, slots=True)
class Event:
    peer: Peer
    join_ref: str | None
    ref: str | None
    event: str
    payload: Payload


@dataclass(frozen=True, slots=True)
class Remote:
    envelope: Envelope


@dataclass(frozen=True, slots=True)
class Resync:
    """Ask ``node`` (every node when None) for its entries and send it ours."""

    node: str | None


Item = Join | Leave | Event | Remote | Resync

#: Answers a join when the room turned out not to exist (same words as the connection's).
_NOT_FOUND = {"reason": "not_found", "message": "This room does not exist or has expired."}


class _Member:
    __slots__ = ("join_ref", "nickname", "peer", "phx_ref", "user_id")

    def __init__(
        self, peer: Peer, join_ref: str | None, user_id: str, nickname: str, phx_ref: str
    ) -> None:
        self.peer = peer
        self.join_ref = join_ref
        self.user_id = user_id
        self.nickname = nickname
        self.phx_ref = phx_ref


class _Refused(Exception):
    """A client event the room answers with an error reply."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


class Room:
    """``room:<code>`` on this node."""

    def __init__(
        self, code: str, pubsub: PubSub, *, limits: RoomLimits | None = None,
        node_hash: int = 0, gate: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.code = code
        self.topic = "room:" + code
        self._pubsub = pubsub
        self._limits = limits or RoomLimits()
        self._node_hash = node_hash
        self._members: dict[tuple[Peer, str | None], _Member] = {}
        self.presence = PresenceState()
        self._mailbox: deque[Item] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._ref_counter = 0
        self._msg_counter = 0
        self._msg_prefix = pubsub.node_id  # unique per process start: ids unique cluster-wide
        #: When the room last became empty (``time.monotonic()``); None while occupied.
        self.empty_since: float | None = time.monotonic()
        self._gate = gate
        #: False while the gate has not answered (or refused): not live yet.
        self.admitted = gate is None
        #: Moves on with every local join or leave (the room directory watches it).
        self.local_version = 0

    # -- lifecycle -------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.topic)
        if self._gate is None:
            self._go_live()

    def _go_live(self) -> None:
        self._pubsub.subscribe(self.topic, self._on_envelope)
        # Ask the nodes already hosting this room for their members (issue: presence across nodes).
        self._pubsub.broadcast(self.topic, "sync_req", {})

    async def stop(self) -> None:
        self._pubsub.unsubscribe(self.topic)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def member_count(self) -> int:
        return len(self._members)

    @property
    def online(self) -> int:
        """People present on every node (presence keys)."""
        return self.presence.key_count

    def local_keys(self) -> set[str]:
        """People present through this node."""
        return {m.user_id for m in self._members.values()}

    def post(self, item: Item) -> None:
        """Mailbox entry point; safe to call from any callback on the loop."""
        self._mailbox.append(item)
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_envelope(self, envelope: Envelope) -> None:
        self.post(Remote(envelope))

    async def _run(self) -> None:
        if self._gate is not None and not await self._pass_gate():
            return
        loop = asyncio.get_running_loop()
        mailbox = self._mailbox
        while True:
            if not mailbox:
                self._wakeup = loop.create_future()
                await self._wakeup
                self._wakeup = None
            while mailbox:
                item = mailbox.popleft()
                try:
                    self._handle(item)
                except Exception as exc:
                    self._crash(exc)

    async def _pass_gate(self) -> bool:
        """Wait for the gate; when it refuses, answer what waited and end."""
        assert self._gate is not None
        try:
            admitted = await self._gate()
        except Exception:
            log.exception("could not tell whether room %s exists", self.code)
            admitted = False
        if admitted:
            self.admitted = True
            self._go_live()
            return True
        while self._mailbox:
            item = self._mailbox.popleft()
            if isinstance(item, Join):
                self._reply(item.peer, item.join_ref, item.ref, "error", dict(_NOT_FOUND))
                item.peer.join_resolved(self.topic, item.join_ref, False)
            elif isinstance(item, Event):
                self._reply(item.peer, None, item.ref, "error", {"reason": "unmatched topic"})
        return False

    # -- dispatch --------------------------------------------------------

    def _handle(self, item: Item) -> None:
        if isinstance(item, Event):
            self._handle_event(item)
        elif isinstance(item, Join):
            self._handle_join(item)
        elif isinstance(item, Leave):
            self._handle_leave(item)
        elif isinstance(item, Resync):
            self._handle_resync(item.node)
        else:
            self._handle_remote(item.envelope)

    def _handle_join(self, j: Join) -> None:
        key = (j.peer, j.join_ref)
        if key in self._members:  # the same join twice: answer it again, change nothing
            self._reply(j.peer, j.join_ref, j.ref, "ok",
                        {"user_id": j.user_id, "nickname": j.nickname})
            return
        now = time.time()
        self._ref_counter += 1
        phx_ref = make_ref(time.time_ns(), self._node_hash, self._ref_counter)
        member = _Member(j.peer, j.join_ref, j.user_id, j.nickname, phx_ref)
        self._members[key] = member
        self.empty_since = None
        self.local_version += 1
        meta = {"phx_ref": phx_ref, "nickname": j.nickname, "online_at": int(now * 1000)}
        diff = self.presence.track(j.user_id, meta, self._pubsub.node_id)
        ser = j.peer.serializer
        # Contract §4: reply, then a fresh presence_state for this join (reference §4.2).
        j.peer.send(ser.encode_reply(j.join_ref, j.ref, self.topic, "ok",
                                     {"user_id": j.user_id, "nickname": j.nickname}))
        j.peer.join_resolved(self.topic, j.join_ref, True)
        j.peer.send(ser.encode_push(j.join_ref, None, self.topic, "presence_state",
                                    self.presence.list()))
        self._presence_changed(diff)

    def _handle_leave(self, lv: Leave) -> None:
        member = self._members.pop((lv.peer, lv.join_ref), None)
        if member is None:
            return
        self.local_version += 1
        self._presence_changed(self.presence.untrack(member.phx_ref))
        if not self._members:
            self.empty_since = time.monotonic()

    def _handle_event(self, ev: Event) -> None:
        member = self._members.get((ev.peer, ev.join_ref))
        if member is None:
            # Raced with a failed or superseded join: Phoenix answers as for an unjoined topic.
            self._reply(ev.peer, None, ev.ref, "error", {"reason": "unmatched topic"})
            return
        try:
            if ev.event == "new_msg":
                self._new_msg(member, ev)
            elif ev.event == "typing":
                self._typing(member, ev)
            else:
                raise _Refused("unknown_event", f"This room does not understand {ev.event!r}.")
        except _Refused as refused:
            self._reply(ev.peer, ev.join_ref, ev.ref, "error",
                        {"reason": refused.reason, "message": refused.message})

    # -- the room channel (contract §4) ----------------------------------

    def _new_msg(self, member: _Member, ev: Event) -> None:
        payload = ev.payload
        body = payload.get("body") if isinstance(payload, dict) else None
        if not isinstance(body, str) or not body.strip():
            raise _Refused("invalid_body", "A message needs some text.")
        if len(body) > self._limits.max_body_length:
            raise _Refused(
                "body_too_long",
                f"Messages can be at most {self._limits.max_body_length} characters long.",
            )
        self._msg_counter += 1
        msg_id = f"{self._msg_prefix}{self._msg_counter:x}"
        message = {"id": msg_id, "user_id": member.user_id, "nickname": member.nickname,
                   "body": body, "at": int(time.time() * 1000)}
        self._reply(member.peer, ev.join_ref, ev.ref, "ok", {"id": msg_id})
        self._fan_out("new_msg", message, None)
        self._pubsub.broadcast(self.topic, "msg", {"event": "new_msg", "payload": message})

    def _typing(self, member: _Member, ev: Event) -> None:
        data = {"user_id": member.user_id, "nickname": member.nickname}
        self._reply(member.peer, ev.join_ref, ev.ref, "ok", {})
        self._fan_out("typing", data, member)
        self._pubsub.broadcast(self.topic, "msg", {"event": "typing", "payload": data})

    # -- fan-out ---------------------------------------------------------

    def _fan_out(self, event: str, payload: dict[str, Any], skip: _Member | None) -> None:
        """Encode once per serializer; every member gets the same bytes."""
        topic = self.topic
        cache: dict[Serializer, Broadcast] = {}
        for member in self._members.values():
            if member is skip:
                continue
            peer = member.peer
            ser = peer.serializer
            out = cache.get(ser)
            if out is None:
                out = cache[ser] = Broadcast(ser.encode_broadcast(topic, event, payload))
            peer.deliver(out)

    def _reply(self, peer: Peer, join_ref: str | None, ref: str | None, status: str,
               response: dict[str, Any]) -> None:
        peer.send(peer.serializer.encode_reply(join_ref, ref, self.topic, status, response))

    def _presence_changed(self, diff: Diff, *, remote: bool = False) -> None:
        """Diffs go to local members only; other nodes compute their own (reference §4.4)."""
        if not diff:
            return
        self._fan_out("presence_diff", diff.payload(), None)
        if not remote:
            self._pubsub.broadcast(self.topic, "presence", _wire_diff(diff))

    # -- other nodes -----------------------------------------------------

    def _handle_remote(self, env: Envelope) -> None:
        data = env.data
        if env.kind == "msg":
            self._fan_out(str(data["event"]), data["payload"], None)
        elif env.kind == "presence":
            joins = data.get("joins", [])
            leaves = list(data.get("leaves", []))
            if data.get("full"):  # a snapshot: what we hold for that node and it lacks, left
                current = {meta["phx_ref"] for _, meta in joins}
                leaves += [r for r in self.presence.refs_of_node(env.node) if r not in current]
            diff = Diff()
            for key, meta in joins:
                part = self.presence.track(key, meta, env.node)
                for k, metas in part.joins.items():
                    diff.joins.setdefault(k, []).extend(metas)
            left = self.presence.untrack_many(leaves)
            diff.leaves = left.leaves
            self._presence_changed(diff, remote=True)
        elif env.kind == "node_down":
            self._handle_node_down(env.node)
        elif env.kind == "sync_req":
            self._pubsub.direct(env.node, self.topic, "presence", self._snapshot())

    def _snapshot(self) -> dict[str, Any]:
        """Everything this node holds in the room; it replaces the receiver's view of us."""
        mine = self.presence.entries_of_node(self._pubsub.node_id)
        return {"joins": [[e.key, e.meta] for e in mine], "leaves": [], "full": True}

    def resync(self, node: str | None = None) -> None:
        """After lost envelopes: exchange full snapshots with ``node`` (or every node)."""
        self.post(Resync(node))

    def _handle_resync(self, node: str | None) -> None:
        if not self.admitted:
            return
        if node is None:
            self._pubsub.broadcast(self.topic, "sync_req", {})
            self._pubsub.broadcast(self.topic, "presence", self._snapshot())
        else:
            self._pubsub.direct(node, self.topic, "sync_req", {})
            self._pubsub.direct(node, self.topic, "presence", self._snapshot())

    def node_down(self, node: str) -> None:
        """Everyone another node hosted leaves (the node died or restarted)."""
        self.post(Remote(Envelope(node, self.topic, "node_down", {})))

    def _handle_node_down(self, node: str) -> None:
        self._presence_changed(self.presence.untrack_node(node), remote=True)

    # -- failure ---------------------------------------------------------

    def _crash(self, exc: Exception) -> None:
        """End every channel with phx_error and start over empty (clients rejoin)."""
        # Never log payloads: only the exception type and where it happened.
        tb = "".join(traceback.format_tb(exc.__traceback__))
        log.error("room %s crashed with %s; its channels rejoin\n%s",
                  self.code, type(exc).__name__, tb.rstrip())
        members = list(self._members.values())
        self._members.clear()
        self.local_version += 1
        left = self.presence.untrack_many([m.phx_ref for m in members])
        self.empty_since = time.monotonic()
        for member in members:
            try:
                member.peer.channel_ended(self.topic, member.join_ref, True)
            except Exception:
                log.exception("could not tell a member of room %s about the crash", self.code)
        if left:
            self._pubsub.broadcast(self.topic, "presence", _wire_diff(left))


def _wire_diff(diff: Diff) -> dict[str, Any]:
    """A diff as other nodes need it: joins with their metas, leaves by phx_ref."""
    return {
        "joins": [[key, meta] for key, metas in diff.joins.items() for meta in metas],
        "leaves": [meta["phx_ref"] for metas in diff.leaves.values() for meta in metas],
    }
