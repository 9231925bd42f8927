"""One room's messages on this node: positions, what a client sees, what it missed.

:class:`RoomHistory` gives every accepted message its position, delivers messages
in position order (:class:`~sketchychat.history.sequencer.Sequencer`), keeps the
recent ones in memory (:class:`~sketchychat.history.window.RecentWindow`) and,
when the room has a store (a persistent room, or any room of a cluster), reads
the rest from it. It decides, for each join, which messages the client gets
before any live one: the ones it missed since its position (a recovery), or the
recent conversation a newcomer may see (contract.md §5).

Nothing here awaits: what needs the store comes back as a :class:`Fetch` that the
room runs in a task, posting the result to its own mailbox.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sketchychat.history.base import Done, Message, Stream
from sketchychat.history.position import Position, PositionError, new_epoch
from sketchychat.history.retention import Retention, RetentionPolicy
from sketchychat.history.sequencer import Sequencer
from sketchychat.history.window import RecentWindow

__all__ = ["BACKLOG", "MAX_PAGE", "JoinPlan", "Page", "RoomHistory"]

#: Messages a newcomer (or a reload) gets on join; older ones are a scroll away.
BACKLOG = 50
#: Most messages one scroll-back page carries.
MAX_PAGE = 100


@dataclass(slots=True)
class JoinPlan:
    """What a join gets before live messages, and what the reply says about it."""

    #: ``recover`` (a position in this stream), ``lost`` (a position in a stream that
    #: is gone) or ``fresh`` (no position: a newcomer, or a reload).
    kind: str
    #: The position the client sent (``recover``), else 0.
    since: int
    #: At most this many messages are replayed (the newest of them).
    limit: int
    #: The position of this person's first join (rooms whose newcomers see what follows).
    floor: int = 0
    #: The replay starts after this position.
    after: int = 0
    #: Set when the client sent a position: whether nothing it may see was lost.
    recovered: bool | None = None
    #: The messages to replay, oldest first.
    messages: list[Message] = field(default_factory=list)
    #: The store must still be asked (the room runs :meth:`RoomHistory.fetcher`).
    needs_store: bool = False
    #: Whether ``floor`` is this person's real first join (else a placeholder).
    floor_known: bool = True
    #: The room should record ``floor`` as this person's first join, without waiting.
    record_floor: bool = False


@dataclass(slots=True)
class Page:
    messages: list[Message]
    more: bool


class RoomHistory:
    """The message stream of one room, as this node sees and serves it."""

    __slots__ = (
        "_first_joins",
        "_policy",
        "_recent",
        "_retired",
        "epoch",
        "retention",
        "sequencer",
        "stream",
    )

    def __init__(self, retention: Retention, policy: RetentionPolicy) -> None:
        self.retention = retention
        self._policy = policy
        #: Where messages live beyond this node's memory (None: a lone node's memory room).
        self.stream: Stream | None = None
        self.epoch = new_epoch()
        self.sequencer = Sequencer()
        # A lone node's memory room keeps its whole history here; every other room
        # keeps its recovery window, so that a client back after a blip costs no I/O.
        self._recent = RecentWindow(*self._window_bounds())
        self._first_joins: dict[str, int] = {}
        #: Epochs given up on (a store lost its stream); None until that ever happens.
        self._retired: set[str] | None = None

    def _window_bounds(self) -> tuple[int, float]:
        policy = self._policy
        if self.stream is None and self.retention.kind == "memory":
            window = policy.memory
        else:
            window = policy.recovery
        return window.messages, window.seconds

    def attach(self, stream: Stream) -> None:
        """The room's store stream is open: positions continue from its top."""
        self.stream = stream
        self.epoch = stream.epoch
        self.sequencer.reset(stream.top)
        self._recent = RecentWindow(*self._window_bounds())

    @property
    def top(self) -> int:
        """The last position delivered here."""
        return self.sequencer.delivered

    @property
    def summary(self) -> dict[str, Any]:
        return self._policy.describe(self.retention)

    def position(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "seq": self.top}

    # -- publishing ---------------------------------------------------------------

    def publish(self, message: Message, done: Done) -> Message | None:
        """Give ``message`` its position: at once (returned) or once stored (``done``)."""
        if self.stream is not None:
            self.stream.submit(message, done)
            return None
        message["seq"] = self.top + 1
        message["epoch"] = self.epoch
        return message

    def accept_next(self, message: Message, now_ms: int) -> bool:
        """The common case in one step: the next position of this stream, nothing held.

        True when ``message`` was taken (deliver it now); False: use :meth:`accept`.
        """
        if message["epoch"] == self.epoch and self.sequencer.take_next(message["seq"]):
            self._recent.append(message, now_ms)
            return True
        return False

    def accept(self, messages: list[Message], now_ms: int) -> list[Message]:
        """Stored or heard messages in; the ones to deliver now, in position order."""
        ready: list[Message] = []
        for message in messages:
            epoch = message.get("epoch")
            if epoch != self.epoch:
                retired = self._retired
                if not isinstance(epoch, str) or (retired is not None and epoch in retired):
                    continue  # a straggler from a stream already given up
                # The store lost the stream (Redis restarted): a new one starts here.
                if retired is None:
                    retired = self._retired = set()
                retired.add(self.epoch)
                self.epoch = epoch
                self.sequencer.reset(message["seq"] - 1)
                self._recent.clear()
            ready.extend(self.sequencer.offer([message]))
        for message in ready:
            self._recent.append(message, now_ms)
        return ready

    def fill(self, first: int, last: int, found: list[Message], now_ms: int) -> list[Message]:
        """What the store had for a hole; the rest of the hole was never stored."""
        ready = self.accept([m for m in found if first <= m["seq"] <= last], now_ms)
        if self.sequencer.missing is not None and self.sequencer.missing[0] <= last:
            released = self.sequencer.skip_to(last)
            for message in released:
                self._recent.append(message, now_ms)
            ready.extend(released)
        return ready

    # -- joining ------------------------------------------------------------------

    def plan_join(self, payload: dict[str, Any], user_id: str, now_ms: int) -> JoinPlan:
        """What a join sees, or :class:`PositionError` for a position it cannot have."""
        raw = payload.get("position")
        position = None if raw is None else Position.parse(raw)
        top = self.top
        if position is None:
            plan = JoinPlan("fresh", 0, BACKLOG)
        elif position.epoch != self.epoch:
            plan = JoinPlan("lost", 0, BACKLOG, recovered=False)
        elif position.seq > top:
            raise PositionError("that position is ahead of this room")
        else:
            plan = JoinPlan("recover", position.seq, self._policy.recovery.messages, recovered=True)
        floor = self.floor_of(user_id)
        if floor is None and self.stream is None:
            floor = self._first_joins.setdefault(user_id, top)
        if floor is None and plan.kind == "fresh" and not self.retention.keeps_history:
            # An ephemeral room shows a newcomer nothing whatever the floor: join at once,
            # and record the first join on the side (it only bounds later recoveries).
            plan.floor, plan.record_floor = top, True
            self._first_joins[user_id] = top
            self._start(plan, top)
            return plan
        if floor is None:
            plan.floor = top  # until the store says where this person's view starts
            plan.floor_known = False
            plan.needs_store = True
            return plan
        plan.floor = floor
        self._start(plan, top)
        return self._serve(plan, now_ms)

    def _start(self, plan: JoinPlan, top: int) -> None:
        """Where the replay starts (contract.md §5)."""
        if plan.kind == "recover":
            plan.after = max(plan.since, plan.floor)
        elif not self.retention.keeps_history and plan.kind == "fresh":
            plan.after = top  # an ephemeral room shows a newcomer nothing from before
        elif self.retention.history == "joined":
            plan.after = max(plan.floor, 0)
        else:
            plan.after = max(0, top - BACKLOG)

    def _serve(self, plan: JoinPlan, now_ms: int) -> JoinPlan:
        """Fill the plan from memory, or ask the store.

        A room with a store always asks it: this node may not have heard of every
        message the store holds (another node stored them and died before telling).
        """
        if self.stream is not None:
            plan.needs_store = True
        elif plan.after < self.top:
            self._take(plan, self._recent.after(plan.after, now_ms))
        return plan

    def _take(self, plan: JoinPlan, found: list[Message]) -> None:
        plan.messages = found[-plan.limit :]
        whole = bool(plan.messages) and plan.messages[0]["seq"] == plan.after + 1
        if plan.recovered and not whole:
            plan.recovered = False  # beyond the window, or more than a replay carries

    def fetcher(self, plan: JoinPlan, user_id: str) -> Callable[[], Awaitable[JoinPlan]]:
        """The store work a plan still needs (the floor, the messages), as a coroutine."""
        stream = self.stream
        assert stream is not None
        needs_floor = self.floor_of(user_id) is None
        top = self.top

        async def fetch() -> JoinPlan:
            if needs_floor:
                plan.floor = await stream.first_join(user_id, plan.floor)
                plan.floor_known = True
                self._start(plan, top)
            # One more than the replay carries: a longer run means some are left out.
            found = await stream.after(plan.after, plan.limit + 1)
            if any(m["epoch"] != self.epoch for m in found):
                found = []  # the store lost the stream meanwhile: nothing is owed from it
            if found or plan.after < top:
                self._take(plan, found)
            plan.needs_store = False
            return plan

        return fetch

    def overtaken(self, plan: JoinPlan) -> list[Message]:
        """What the store gave a join that this node has not delivered yet.

        The room delivers them to its members first (they were stored before the join).
        When they do not follow this node's last position, the hole before them is
        filled from the store later, so the replay stops at that position and the rest
        reaches the joiner live, in order.
        """
        top = self.top
        beyond = [m for m in plan.messages if m["seq"] > top]
        if beyond and beyond[0]["seq"] != top + 1:
            plan.messages = [m for m in plan.messages if m["seq"] <= top]
        return beyond

    def degraded(self, plan: JoinPlan, now_ms: int) -> JoinPlan:
        """The store could not be read: serve what memory holds, and say what is missing.

        A floor that could not be read becomes "now" (nothing from before is shown:
        privacy first), and a client that sent a position is then told that some of
        what it missed may be lost.
        """
        top = self.top
        guessed = not plan.floor_known
        if guessed:
            plan.floor = max(plan.floor, top)
            self._start(plan, top)
        plan.messages = self._recent.after(plan.after, now_ms)[-plan.limit :]
        plan.needs_store = False
        if plan.recovered is not None:
            whole = plan.after >= top or (
                bool(plan.messages) and plan.messages[0]["seq"] == plan.after + 1
            )
            plan.recovered = whole and not (guessed and plan.since < top)
        return plan

    def remember_floor(self, user_id: str, floor: int) -> None:
        """The store recorded (or already had) this person's first join."""
        self._first_joins[user_id] = floor

    def complete(self, plan: JoinPlan, user_id: str, now_ms: int) -> JoinPlan:
        """Back in the room after a fetch: add what was delivered meanwhile."""
        if self.retention.history == "joined" and plan.floor_known:
            self._first_joins.setdefault(user_id, plan.floor)
        last = plan.messages[-1]["seq"] if plan.messages else plan.after
        if last < self.top:
            plan.messages.extend(self._recent.after(last, now_ms))
        return plan

    # -- scroll-back ---------------------------------------------------------------

    def page_from_memory(self, before: int, limit: int, floor: int, now_ms: int) -> Page | None:
        """A page served from memory, or None when the store must be asked."""
        messages = self._recent.before(before, limit, floor, now_ms)
        first = self._recent.first_seq
        whole = self.stream is None or (first is not None and first <= floor + 1)
        if len(messages) == limit or whole:
            more = len(messages) == limit and bool(messages) and messages[0]["seq"] > floor + 1
            return Page(messages, more)
        return None

    def floor_of(self, user_id: str) -> int | None:
        """Where a person's view of the room starts (None: the store must be asked)."""
        if self.retention.history != "joined":
            return 0
        return self._first_joins.get(user_id)


def now_ms() -> int:
    return int(time.time() * 1000)
