"""The room: membership, presence, messages and fan-out of ``room:<code>`` on this node.

A :class:`Room` is an :class:`~sketchychat.rooms.actor.Actor`: joins, leaves,
client events and envelopes from other nodes are handled one at a time, which
gives the room one order of events and one owner of its membership. What each
client event does is the channel's table (:mod:`~sketchychat.rooms.channel`);
presence across nodes is :class:`~sketchychat.presence.sync.PresenceReplica`'s;
message positions, replay and scroll-back are :class:`~sketchychat.rooms.history.RoomHistory`'s.
An exception while handling one event ends this room's channels with
``phx_error`` (clients rejoin, protocol.md §3.5) and touches no other room.

Broadcasts are encoded once per serializer and every member gets the same
:class:`~sketchychat.protocol.broadcast.Broadcast`; other nodes hear about
messages and presence through :class:`~sketchychat.pubsub.base.PubSub`. Work
that needs a store (a join that replays from it, a scroll-back page) runs in a
task and comes back through the mailbox: the actor never waits on I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from sketchychat.auth.tokens import Identity
from sketchychat.history.base import Message, StoreUnavailable
from sketchychat.history.position import PositionError
from sketchychat.history.retention import Retention, RetentionPolicy
from sketchychat.presence.state import Diff, PresenceState
from sketchychat.presence.sync import PresenceReplica
from sketchychat.protocol.broadcast import Broadcast
from sketchychat.protocol.message import Payload
from sketchychat.protocol.serializer import Serializer
from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.envelope import Envelope
from sketchychat.rooms.actor import Actor
from sketchychat.rooms.channel import CHAT_EVENTS, Handler, Member, Push, Refused
from sketchychat.rooms.history import JoinPlan, Page, RoomHistory, now_ms
from sketchychat.rooms.peer import Peer

__all__ = ["Room", "RoomLimits"]

log = logging.getLogger("sketchychat.room")

#: Answers a join when the room turned out not to exist (same words as the socket's).
_NOT_FOUND = {"reason": "not_found", "message": "This room does not exist or has expired."}
#: How long early messages wait for the ones before them before the store is asked.
_GAP_WAIT = 0.25


@dataclass(frozen=True, slots=True)
class RoomLimits:
    max_body_length: int = 4000
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)


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


@dataclass(frozen=True, slots=True)
class _Stored:
    """The store took a published message (or could not)."""

    push: Push
    message: Message | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class _Admit:
    """A join whose replay was read from the store (or could not be: ``degraded``)."""

    join: _Join
    plan: JoinPlan
    degraded: bool


@dataclass(frozen=True, slots=True)
class _Floor:
    """Where a person's view of the room starts, as the store recorded it."""

    user_id: str
    floor: int


@dataclass(frozen=True, slots=True)
class _PageRequest:
    """The HTTP API asks for a scroll-back page."""

    user_id: str
    before: int | None
    limit: int
    answer: Callable[[Page | None], None]


@dataclass(frozen=True, slots=True)
class _Paged:
    """A scroll-back page read from the store, for a push or an HTTP request."""

    answer: Callable[[Page | None], None]
    page: Page | None


@dataclass(frozen=True, slots=True)
class _Gap:
    """Early messages have waited: ask the store for the hole, or give up on it."""


@dataclass(frozen=True, slots=True)
class _Filled:
    first: int
    last: int
    found: list[Message]


@dataclass(frozen=True, slots=True)
class _CaughtUp:
    """What the store holds past our top, read after the bus lost envelopes."""

    found: list[Message]


_Item = (
    _Join
    | _Leave
    | Push
    | _FromNode
    | _Resync
    | _Stored
    | _Admit
    | _PageRequest
    | _Paged
    | _Gap
    | _Filled
    | _CaughtUp
    | _Floor
)


class Room(Actor[_Item]):
    """``room:<code>`` on this node."""

    def __init__(
        self,
        code: str,
        pubsub: PubSub,
        *,
        retention: Retention | None = None,
        limits: RoomLimits | None = None,
        node_hash: int = 0,
        gate: Callable[[], Awaitable[bool]] | None = None,
        events: Mapping[str, Handler] = CHAT_EVENTS,
        lifetime: float = 30 * 60.0,
    ) -> None:
        super().__init__("room:" + code, gate)
        #: Seconds the room lives once empty (the directory keeps it that long).
        self.lifetime = lifetime
        self.code = code
        self.topic = "room:" + code
        self._pubsub = pubsub
        self._limits = limits or RoomLimits()
        self._events = events
        self.history = RoomHistory(retention or Retention(), self._limits.retention)
        self._members: dict[tuple[Peer, str | None], Member] = {}
        #: Joins waiting for their replay to be read from the store.
        self._joining: dict[tuple[Peer, str | None], _Join] = {}
        #: How many members speak each serializer: a broadcast is encoded once for each.
        self._serializers: Counter[Serializer] = Counter()
        self._presence = PresenceReplica(self.topic, pubsub, node_hash=node_hash)
        self._msg_counter = 0
        self._msg_prefix = pubsub.node_id  # unique per process start: ids unique cluster-wide
        self._gap_timer: asyncio.TimerHandle | None = None
        #: Store reads in flight (made with the first one).
        self._tasks: set[asyncio.Task[None]] | None = None
        #: When the room last became empty (``time.monotonic()``); None while occupied.
        self.empty_since: float | None = time.monotonic()
        #: Moves on with every local join or leave (the room directory watches it).
        self.local_version = 0
        #: The gate could not open the room's store (joins were told to try again).
        self.unavailable = False

    @property
    def retention(self) -> Retention:
        return self.history.retention

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

    async def page(self, user_id: str, before: int | None, limit: int) -> Page:
        """A scroll-back page for ``user_id`` (the HTTP API's; raises StoreUnavailable)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Page | None] = loop.create_future()

        def answer(page: Page | None) -> None:
            if not done.done():
                done.set_result(page)

        self.post(_PageRequest(user_id, before, limit, answer))
        page = await done
        if page is not None:
            return page
        if not self.admitted and not self.unavailable:
            raise LookupError("no such room")
        raise StoreUnavailable("the store could not be read")

    async def stop(self) -> None:
        self._pubsub.unsubscribe(self.topic)
        if self._gap_timer is not None:
            self._gap_timer.cancel()
        for task in list(self._tasks or ()):
            task.cancel()
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

    def _unavailable(self, item: _Item) -> None:
        """The gate could not open the room's store: joins are told to try again."""
        self.unavailable = True
        if isinstance(item, _Join):
            self._refuse_join(
                item,
                "store_unavailable",
                "This room's messages cannot be read right now; try again.",
            )
        elif isinstance(item, Push):
            self._answer(item.peer, None, item.ref, "error", {"reason": "unmatched topic"})
        elif isinstance(item, _PageRequest):
            item.answer(None)

    def _turned_away(self, item: _Item) -> None:
        """The gate said this code is not live: answer what waited."""
        if isinstance(item, _Join):
            self._answer(item.peer, item.join_ref, item.ref, "error", dict(_NOT_FOUND))
            item.peer.join_resolved(self.topic, item.join_ref, False)
        elif isinstance(item, Push):
            self._answer(item.peer, None, item.ref, "error", {"reason": "unmatched topic"})
        elif isinstance(item, _PageRequest):
            item.answer(None)

    def _handle(self, item: _Item) -> None:
        if isinstance(item, Push):
            self._handle_push(item)
        elif isinstance(item, _Stored):
            self._handle_stored(item)
        elif isinstance(item, _FromNode):
            self._handle_envelope(item.envelope)
        elif isinstance(item, _Join):
            self._handle_join(item)
        elif isinstance(item, _Leave):
            self._handle_leave(item)
        elif isinstance(item, _Admit):
            self._handle_admit(item)
        elif isinstance(item, _Paged):
            item.answer(item.page)
        elif isinstance(item, _PageRequest):
            self._page_for(item.user_id, item.before, item.limit, item.answer)
        elif isinstance(item, _Gap):
            self._handle_gap()
        elif isinstance(item, _Filled):
            self._deliver(self.history.fill(item.first, item.last, item.found, now_ms()))
        elif isinstance(item, _CaughtUp):
            self._deliver(self.history.accept(item.found, now_ms()))
        elif isinstance(item, _Floor):
            self.history.remember_floor(item.user_id, item.floor)
        elif self.admitted:
            self._presence.resync(item.node)
            if item.node is None:
                self._catch_up()

    # -- joining and leaving -------------------------------------------------

    def _handle_join(self, j: _Join) -> None:
        key = (j.peer, j.join_ref)
        if key in self._members:  # the same join twice: answer it again, change nothing
            self._answer(j.peer, j.join_ref, j.ref, "ok", self._join_answer(j.identity, None))
            return
        if key in self._joining:
            return  # the first one is still reading its replay
        try:
            plan = self.history.plan_join(j.payload, j.identity.user_id, now_ms())
        except PositionError as exc:
            self._refuse_join(j, "invalid_position", f"{exc}.")
            return
        if plan.record_floor:
            self._record_floor(j.identity.user_id, plan.floor)
        if not plan.needs_store:
            self._admit(j, plan)
            return
        self._joining[key] = j
        fetch = self.history.fetcher(plan, j.identity.user_id)

        async def read() -> None:
            try:
                self.post(_Admit(j, await fetch(), False))
            except StoreUnavailable:
                self.post(_Admit(j, plan, True))

        self._spawn(read())

    def _record_floor(self, user_id: str, floor: int) -> None:
        stream = self.history.stream
        if stream is None:
            return

        async def record() -> None:
            with contextlib.suppress(StoreUnavailable):
                self.post(_Floor(user_id, await stream.first_join(user_id, floor)))

        self._spawn(record())

    def _handle_admit(self, a: _Admit) -> None:
        j = a.join
        if self._joining.pop((j.peer, j.join_ref), None) is None:
            return  # left (or superseded) while its replay was read
        if a.degraded:
            # The store is down: the join goes on with what memory holds, and says what
            # may be missing (contract.md §5), rather than keeping the person out.
            self._admit(j, self.history.degraded(a.plan, now_ms()))
            return
        beyond = self.history.overtaken(a.plan)
        if beyond:  # stored by another node that never told us: everyone here gets them first
            self._deliver(self.history.accept(beyond, now_ms()))
        self._admit(j, self.history.complete(a.plan, j.identity.user_id, now_ms()))

    def _refuse_join(self, j: _Join, reason: str, message: str) -> None:
        self._answer(j.peer, j.join_ref, j.ref, "error", {"reason": reason, "message": message})
        j.peer.join_resolved(self.topic, j.join_ref, False)

    def _admit(self, j: _Join, plan: JoinPlan) -> None:
        key = (j.peer, j.join_ref)
        ident = j.identity
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
        peer, ser, topic = j.peer, j.peer.serializer, self.topic
        # contract.md §4: reply, then a fresh presence_state for this join (protocol.md
        # §4.2); contract.md §5: then the replay, before any live message.
        peer.send(ser.encode_reply(j.join_ref, j.ref, topic, "ok", self._join_answer(ident, plan)))
        peer.join_resolved(topic, j.join_ref, True)
        peer.send(
            ser.encode_push(j.join_ref, None, topic, "presence_state", self._presence.state.list())
        )
        for message in plan.messages:
            peer.send(ser.encode_push(j.join_ref, None, topic, "new_msg", message))
        self._presence_changed(diff)

    def _join_answer(self, ident: Identity, plan: JoinPlan | None) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "user_id": ident.user_id,
            "nickname": ident.nickname,
            "retention": self.history.summary,
            "position": self.history.position(),
        }
        if plan is not None:
            replay: dict[str, Any] = {"after": plan.after, "count": len(plan.messages)}
            if plan.recovered is not None:
                replay["recovered"] = plan.recovered
            answer["replay"] = replay
        return answer

    def _handle_leave(self, lv: _Leave) -> None:
        key = (lv.peer, lv.join_ref)
        self._joining.pop(key, None)
        member = self._members.pop(key, None)
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
            self._refuse(push, refused.reason, refused.message)

    def _refuse(self, push: Push, reason: str, message: str) -> None:
        self._answer(
            push.peer, push.join_ref, push.ref, "error", {"reason": reason, "message": message}
        )

    # -- messages ----------------------------------------------------------

    def _handle_stored(self, s: _Stored) -> None:
        if s.message is None:
            text = (
                "Your message was not saved: this room's storage is unavailable. Try again."
                if s.reason == "not_stored"
                else "This room no longer exists."
            )
            self._refuse(s.push, s.reason or "not_stored", text)
            return
        self._positioned(s.push, s.message)

    def _deliver(self, messages: list[Message]) -> None:
        """Messages in position order, to every member here."""
        for message in messages:
            self._fan_out("new_msg", message, None)
        if self.history.sequencer.missing is not None and self._gap_timer is None:
            self._gap_timer = asyncio.get_running_loop().call_later(_GAP_WAIT, self.post, _Gap())

    def _handle_gap(self) -> None:
        self._gap_timer = None
        hole = self.history.sequencer.missing
        if hole is None:
            return
        first, last = hole
        stream = self.history.stream
        if stream is None:
            self._deliver(self.history.fill(first, last, [], now_ms()))
            return

        async def read() -> None:
            try:
                found = await stream.after(first - 1, last - first + 1)
            except StoreUnavailable:
                found = []
            self.post(_Filled(first, last, found))

        self._spawn(read())

    def _catch_up(self) -> None:
        """After lost envelopes: deliver what other nodes stored meanwhile (a persistent
        room keeps taking messages while Redis is away; they reach everyone here now)."""
        stream = self.history.stream
        if stream is None:
            return
        top, limit = self.history.top, self._limits.retention.recovery.messages

        async def read() -> None:
            with contextlib.suppress(StoreUnavailable):
                self.post(_CaughtUp(await stream.after(top, limit)))

        self._spawn(read())

    def _handle_envelope(self, env: Envelope) -> None:
        kind = env.kind
        if kind == "seq":
            payload = env.data.get("payload")
            if isinstance(payload, dict) and isinstance(payload.get("seq"), int):
                self._deliver(self.history.accept([payload], now_ms()))
            return
        if kind == "msg":
            data = env.data
            self._fan_out(str(data["event"]), data["payload"], None)
            return
        diff = self._presence.receive(env)
        if diff:
            self._presence_changed(diff)
        if kind == "node_down":
            self._catch_up()  # what the dead node stored but never told us about

    # -- scroll-back -----------------------------------------------------------

    def _page_for(
        self, user_id: str, before: int | None, limit: int, answer: Callable[[Page | None], None]
    ) -> None:
        """A page of messages before ``before`` that ``user_id`` may see."""
        history = self.history
        top = history.top
        start = top + 1 if before is None else min(before, top + 1)
        floor = history.floor_of(user_id)
        if floor is not None:
            page = history.page_from_memory(start, limit, floor, now_ms())
            if page is not None:
                answer(page)
                return
        stream = history.stream
        if stream is None:  # pragma: no cover - memory always answers for memory rooms
            answer(Page([], False))
            return

        async def read() -> None:
            try:
                seen_from = floor if floor is not None else await stream.first_join(user_id, top)
                messages = await stream.before(start, limit, seen_from)
                more = len(messages) == limit and messages[0]["seq"] > seen_from + 1
                self.post(_Paged(answer, Page(messages, more)))
            except StoreUnavailable:
                self.post(_Paged(answer, None))

        self._spawn(read())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if self._tasks is None:
            self._tasks = set()
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what channel handlers use (rooms.channel.ChannelRoom) --------------

    @property
    def max_body_length(self) -> int:
        return self._limits.max_body_length

    def reply(self, push: Push, response: dict[str, Any]) -> None:
        self._answer(push.peer, push.join_ref, push.ref, "ok", response)

    def broadcast(self, event: str, payload: dict[str, Any], skip: Member | None = None) -> None:
        self._fan_out(event, payload, skip)
        if not self._pubsub.solo:
            self._pubsub.broadcast(self.topic, "msg", {"event": event, "payload": payload})

    def publish(self, push: Push, message: Message) -> None:
        """A chat message: positioned, stored if the room stores, acknowledged, delivered."""
        placed = self.history.publish(
            message, lambda stored, reason: self._stored(_Stored(push, stored, reason))
        )
        if placed is not None:
            self._positioned(push, placed)

    def _stored(self, s: _Stored) -> None:
        """The store reports, on the loop, between two of this room's events.

        Handled at once rather than queued behind the mailbox: nothing else runs in
        between (handlers never await), and the message reaches its room one loop turn
        sooner. A failure is the room's, as in the mailbox.
        """
        try:
            self._handle_stored(s)
        except Exception as exc:
            self._crashed(exc)

    def _positioned(self, push: Push, message: Message) -> None:
        """Acknowledge, tell the other nodes, deliver here (in position order)."""
        self.reply(push, {"id": message["id"], "seq": message["seq"]})
        if not self._pubsub.solo:
            self._pubsub.broadcast(self.topic, "seq", {"event": "new_msg", "payload": message})
        if self.history.accept_next(message, now_ms()):
            self._fan_out("new_msg", message, None)  # the usual case: next in line
        else:
            self._deliver(self.history.accept([message], now_ms()))

    def scroll_back(self, push: Push, member: Member, before: int | None, limit: int) -> None:
        """Answer ``push`` with a page of older messages (contract.md §5)."""

        def answer(page: Page | None) -> None:
            if page is None:
                self._refuse(
                    push,
                    "store_unavailable",
                    "This room's messages cannot be read right now; try again.",
                )
            else:
                self.reply(push, {"messages": page.messages, "more": page.more})

        self._page_for(member.user_id, before, limit, answer)

    def next_message_id(self) -> str:
        self._msg_counter += 1
        return f"{self._msg_prefix}{self._msg_counter:x}"

    def now_ms(self) -> int:
        return now_ms()

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
