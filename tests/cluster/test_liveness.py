"""Node liveness: the pure peer table, and heartbeats between in-process nodes."""

from __future__ import annotations

import asyncio

from sketchychat.cluster.liveness import FORGET_AFTER, Liveness, PeerTable, Seen
from sketchychat.pubsub.base import PubSub
from sketchychat.pubsub.memory import Hub, MemoryAdapter


def test_a_peer_is_new_then_known_then_down_after_the_timeout() -> None:
    table = PeerTable(timeout=10)
    assert table.seen("b", now=0) is Seen.NEW
    assert table.seen("b", now=5) is Seen.KNOWN
    assert table.expire(now=14.9) == []
    assert table.expire(now=15) == ["b"]
    assert not table.alive("b") and table.expire(now=30) == []


def test_a_down_peer_that_speaks_again_is_back() -> None:
    table = PeerTable(timeout=1)
    table.seen("b", now=0)
    table.expire(now=2)
    assert table.seen("b", now=3) is Seen.BACK
    assert table.alive("b")


def test_a_goodbye_is_down_at_once_and_down_peers_are_forgotten_eventually() -> None:
    table = PeerTable(timeout=10)
    table.seen("b", now=0)
    table.gone("b", now=1)
    assert not table.alive("b")
    table.expire(now=1 + FORGET_AFTER)
    assert table.seen("b", now=2 + FORGET_AFTER) is Seen.NEW  # forgotten, not "back"


def test_our_own_outage_restarts_the_clocks() -> None:
    table = PeerTable(timeout=10)
    table.seen("b", now=0)
    table.restart_clocks(now=60)  # we could not hear anyone for a minute
    assert table.expire(now=65) == [] and table.expire(now=70) == ["b"]


async def test_heartbeats_over_a_bus_drive_down_and_back() -> None:
    hub = Hub()
    a, b = PubSub("a", MemoryAdapter(hub)), PubSub("b", MemoryAdapter(hub))
    await a.start()
    await b.start()
    now = [0.0]
    downs: list[str] = []
    backs: list[str] = []
    watcher = Liveness(
        a, timeout=2, on_down=downs.append, on_back=backs.append, clock=lambda: now[0]
    )
    beater = Liveness(b, timeout=2, on_down=lambda _: None, on_back=lambda _: None)
    watcher.start()
    beater.start()
    beater.beat()
    await asyncio.sleep(0)
    assert watcher.alive("b") and watcher.alive("a")  # we are always alive to ourselves
    now[0] = 3
    watcher.check()
    assert downs == ["b"]
    beater.beat()
    await asyncio.sleep(0)
    assert backs == ["b"]
    beater.bye()
    await asyncio.sleep(0)
    assert downs == ["b", "b"] and not watcher.alive("b")
