"""Presence across nodes: two replicas of one topic over the in-process hub."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sketchychat.presence.sync import PresenceReplica
from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.envelope import Envelope
from sketchychat.pubsub.memory import Hub, MemoryAdapter

TOPIC = "room:abcdefghjkmn"


def listener(replica: PresenceReplica) -> Callable[[Envelope], None]:
    def hear(env: Envelope) -> None:
        replica.receive(env)

    return hear


async def two_replicas() -> tuple[PresenceReplica, PresenceReplica]:
    hub = Hub()
    a, b = PubSub("node-a", MemoryAdapter(hub)), PubSub("node-b", MemoryAdapter(hub))
    await a.start()
    await b.start()
    ra, rb = PresenceReplica(TOPIC, a), PresenceReplica(TOPIC, b)
    a.subscribe(TOPIC, listener(ra))
    b.subscribe(TOPIC, listener(rb))
    return ra, rb


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_local_track_mints_a_ref_and_reaches_the_other_node() -> None:
    ra, rb = await two_replicas()
    ref, diff = ra.track("u1", {"nickname": "alice"}, now_ns=1)
    assert len(ref) == 16 and diff.joins == {"u1": [{"phx_ref": ref, "nickname": "alice"}]}
    await settle()
    assert rb.state.list() == {"u1": {"metas": [{"phx_ref": ref, "nickname": "alice"}]}}
    left = ra.untrack([ref])
    assert list(left.leaves) == ["u1"]
    await settle()
    assert rb.state.list() == {}


async def test_a_merge_returns_the_diff_local_members_must_see() -> None:
    ra, _ = await two_replicas()
    meta = {"phx_ref": "R2", "nickname": "bob"}
    diff = ra.receive(
        Envelope("node-b", TOPIC, "presence", {"joins": [["u2", meta]], "leaves": []})
    )
    assert diff is not None and diff.joins == {"u2": [meta]}
    again = ra.receive(
        Envelope("node-b", TOPIC, "presence", {"joins": [["u2", meta]], "leaves": []})
    )
    assert again is not None and not again  # the same entry twice changes nothing


async def test_a_full_snapshot_removes_what_that_node_no_longer_has() -> None:
    ra, _ = await two_replicas()
    ra.receive(
        Envelope(
            "node-b",
            TOPIC,
            "presence",
            {"joins": [["u2", {"phx_ref": "R2"}], ["u3", {"phx_ref": "R3"}]], "leaves": []},
        )
    )
    diff = ra.receive(
        Envelope(
            "node-b",
            TOPIC,
            "presence",
            {"joins": [["u3", {"phx_ref": "R3"}]], "leaves": [], "full": True},
        )
    )
    assert diff is not None and list(diff.leaves) == ["u2"]


async def test_a_sync_request_is_answered_with_a_snapshot_to_that_node_only() -> None:
    ra, rb = await two_replicas()
    ref, _ = ra.track("u1", {"nickname": "alice"}, now_ns=1)
    rb.state.untrack_node("node-a")  # b forgot (an outage)
    rb.resync("node-a")
    await settle()
    assert set(rb.state.list()) == {"u1"}
    assert ref in rb.state


async def test_a_node_going_down_takes_its_entries_with_it() -> None:
    ra, rb = await two_replicas()
    ra.track("u1", {"nickname": "alice"}, now_ns=1)
    await settle()
    diff = rb.node_down("node-a")
    assert list(diff.leaves) == ["u1"] and rb.state.list() == {}


async def test_other_kinds_are_not_presence() -> None:
    ra, _ = await two_replicas()
    assert ra.receive(Envelope("node-b", TOPIC, "msg", {"event": "x", "payload": {}})) is None
