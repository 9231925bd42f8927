"""Which Redis channel layout? One cluster channel against per-room channels.

K receiver processes each run what a node runs for every envelope from the bus
(redis-py ``get_message``, :meth:`Envelope.decode`, a topic lookup), hosting
either every room (``--workers`` on one box: a room's members land on every
worker) or 1/K of them (rooms sticky to nodes). One publisher sends M envelopes
over R rooms as fast as Redis takes them. We record the receivers' CPU per
*useful* envelope and Redis's own CPU: the price each layout pays.

    python -m benchmarks.cluster.layout [--receivers 4] [--rooms 64] [--messages 40000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import time
from typing import Any

import redis
import redis.asyncio as aredis

from sketchychat.pubsub.envelope import Envelope

URL = os.environ.get("SKETCHYCHAT_REDIS_URL", "redis://127.0.0.1:6379")


def channel_of(layout: str, ns: str, topic: str) -> str:
    return f"{ns}:bus" if layout == "cluster" else f"{ns}:t:{topic}"


def hosted(index: int, receivers: int, rooms: int, spread: str) -> list[str]:
    return [f"room:r{r}" for r in range(rooms) if spread == "all" or r % receivers == index]


def receiver(layout: str, ns: str, topics: list[str], expected: int, ready: Any, out: Any) -> None:
    async def main() -> None:
        client = aredis.Redis.from_url(URL)
        ps = client.pubsub()
        channels = sorted({channel_of(layout, ns, t) for t in topics})
        await ps.subscribe(*channels)
        for _ in channels:  # wait until Redis confirmed every subscription
            while await ps.get_message(timeout=1.0) is None:
                pass
        handlers = dict.fromkeys(topics, True)
        ready.put(1)
        useful = seen = 0
        cpu0 = time.process_time()
        idle_since = time.monotonic()
        while useful < expected and time.monotonic() - idle_since < 5.0:
            msg = await ps.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is None:
                continue  # a subscribe confirmation or a quiet second
            idle_since = time.monotonic()
            env = Envelope.decode(msg["data"])
            seen += 1
            if handlers.get(env.topic):
                useful += 1
        out.put({"useful": useful, "seen": seen, "cpu": time.process_time() - cpu0})
        await ps.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()

    asyncio.run(main())


def run(layout: str, spread: str, receivers: int, rooms: int, messages: int) -> dict[str, Any]:
    ns = f"bench{os.getpid()}{layout}{spread}"
    ready: Any = mp.Queue()
    out: Any = mp.Queue()
    per_room = messages // rooms
    procs = []
    for i in range(receivers):
        topics = hosted(i, receivers, rooms, spread)
        p = mp.Process(
            target=receiver, args=(layout, ns, topics, per_room * len(topics), ready, out)
        )
        p.start()
        procs.append(p)
    for _ in procs:
        ready.get(timeout=30)
    sync = redis.Redis.from_url(URL)
    cpu = sync.info("cpu")
    redis_cpu0 = cpu["used_cpu_user"] + cpu["used_cpu_sys"]
    body = {
        "event": "new_msg",
        "payload": {
            "id": "n1",
            "user_id": "u1",
            "nickname": "alice",
            "body": "hello " * 8,
            "at": 1700000000000,
        },
    }
    started = time.perf_counter()
    pipe = sync.pipeline(transaction=False)
    for i in range(per_room * rooms):
        topic = f"room:r{i % rooms}"
        pipe.publish(channel_of(layout, ns, topic), Envelope("pub", topic, "msg", body).encode())
        if len(pipe) >= 500:
            pipe.execute()
    pipe.execute()
    results = [out.get(timeout=120) for _ in procs]
    wall = time.perf_counter() - started
    cpu = sync.info("cpu")
    redis_cpu = cpu["used_cpu_user"] + cpu["used_cpu_sys"] - redis_cpu0
    for p in procs:
        p.join(10)
    useful = sum(r["useful"] for r in results)
    seen = sum(r["seen"] for r in results)
    recv_cpu = sum(r["cpu"] for r in results)
    return {
        "layout": layout,
        "spread": spread,
        "receivers": receivers,
        "rooms": rooms,
        "published": per_room * rooms,
        "useful": useful,
        "decoded": seen,
        "wall_s": round(wall, 2),
        "useful_per_s": round(useful / wall),
        "receiver_cpu_us_per_useful": round(recv_cpu / max(useful, 1) * 1e6, 2),
        "redis_cpu_us_per_publish": round(redis_cpu / (per_room * rooms) * 1e6, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivers", type=int, default=4)
    parser.add_argument("--rooms", type=int, default=64)
    parser.add_argument("--messages", type=int, default=40000)
    args = parser.parse_args()
    rows = [
        run(layout, spread, args.receivers, args.rooms, args.messages)
        for spread in ("all", "sharded")
        for layout in ("cluster", "rooms")
    ]
    for row in rows:
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
