"""Clients that drop and come back: the recovery storm, and delivery under faults.

A :class:`Member` is a Phoenix V2 client that does what a careful client of
contract.md §5 does: it keeps the last position it saw, sends it back on every
rejoin, and checks every message it gets against it — the next position is the
only one it may see next. Anything else is counted: a duplicate (a position seen
already), a gap (positions skipped), a lost member (it ended short of the last).

The drivers run in the harness process, pinned to the generator's core; they are
asyncio + aiohttp, so they are slower than the C generator, and their own CPU
time is reported beside every figure.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

__all__ = ["Member", "Publisher", "Tally", "create_room", "sessions"]


@dataclass
class Tally:
    """What one member saw, judged against the positions."""

    duplicates: int = 0
    gaps: int = 0
    lost_epochs: int = 0
    rejoins: int = 0
    recovered: int = 0
    not_recovered: int = 0


async def create_room(http: aiohttp.ClientSession, base: str, retention: str) -> str:
    body = {} if retention == "ephemeral" else {"retention": retention}
    async with http.post(base + "/api/rooms", json=body) as resp:
        room = await resp.json()
        if resp.status != 201:
            raise RuntimeError(f"POST /api/rooms: {resp.status} {room}")
        return str(room["topic"])


async def sessions(http: aiohttp.ClientSession, base: str, n: int, conc: int = 50) -> list[str]:
    gate = asyncio.Semaphore(conc)

    async def one(i: int) -> str:
        async with gate, http.post(base + "/api/session", json={"nickname": f"r{i}"}) as resp:
            return str((await resp.json())["token"])

    return list(await asyncio.gather(*(one(i) for i in range(n))))


class Member:
    """One client of one room, rejoining with its position after every drop."""

    def __init__(self, http: aiohttp.ClientSession, ws_base: str, topic: str, token: str) -> None:
        self._http = http
        self._url = f"{ws_base}/socket/websocket?vsn=2.0.0&token={token}"
        self.topic = topic
        self.epoch: str | None = None
        self.last = 0
        self.tally = Tally()
        self.reached: dict[int, float] = {}  # target seq -> monotonic time it was reached
        self._targets: set[int] = set()
        self._refs = itertools.count(1)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._join_ref: str | None = None
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def expect(self, seq: int) -> None:
        """Note the time this member first holds every message up to ``seq``."""
        if self.last >= seq:
            self.reached[seq] = time.monotonic()
        else:
            self._targets.add(seq)

    async def join(self, timeout: float = 30.0) -> dict[str, Any]:
        """Connect and join, sending the last position seen (if any)."""
        self._ws = await self._http.ws_connect(self._url, timeout=aiohttp.ClientWSTimeout(timeout))
        self._reader = asyncio.get_running_loop().create_task(self._read(self._ws))
        payload: dict[str, Any] = {}
        if self.epoch is not None:
            payload["position"] = {"epoch": self.epoch, "seq": self.last}
        ref = str(next(self._refs))
        self._join_ref = ref
        reply = await self._call(ref, "phx_join", payload, ref, timeout)
        if reply.get("status") != "ok":
            raise RuntimeError(f"join refused: {reply}")
        response = reply["response"]
        replay = response.get("replay", {})
        if "recovered" in replay:
            self.tally.rejoins += 1
            if replay["recovered"]:
                self.tally.recovered += 1
            else:
                self.tally.not_recovered += 1
        if self.epoch is None and not replay.get("count"):
            # Nothing replayed: we are at the room's top (the web app does the same).
            self.epoch = response["position"]["epoch"]
            self.last = max(self.last, int(response["position"]["seq"]))
        return dict(response)

    async def push(self, event: str, payload: dict[str, Any], timeout: float = 30.0) -> Any:
        ref = str(next(self._refs))
        return await self._call(ref, event, payload, self._join_ref, timeout)

    async def _call(
        self, ref: str, event: str, payload: dict[str, Any], join_ref: str | None, timeout: float
    ) -> dict[str, Any]:
        assert self._ws is not None
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[ref] = fut
        await self._ws.send_str(orjson.dumps([join_ref, ref, self.topic, event, payload]).decode())
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._replies.pop(ref, None)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            join_ref, ref, _topic, event, payload = orjson.loads(msg.data)
            if event == "phx_reply":
                fut = self._replies.get(ref)
                if fut is not None and not fut.done():
                    fut.set_result(payload)
            elif event == "new_msg" and (join_ref is None or join_ref == self._join_ref):
                self._take(payload)

    def _take(self, message: dict[str, Any]) -> None:
        seq, epoch = message["seq"], message["epoch"]
        if epoch != self.epoch:
            if self.epoch is not None:
                self.tally.lost_epochs += 1
            self.epoch, self.last = epoch, seq
        elif seq <= self.last:
            self.tally.duplicates += 1
            return
        elif seq != self.last + 1:
            self.tally.gaps += seq - self.last - 1
        self.last = seq
        if self._targets:
            now = time.monotonic()
            for target in [t for t in self._targets if t <= seq]:
                self._targets.discard(target)
                self.reached[target] = now

    def cut(self) -> None:
        """The network goes: no close frame, no goodbye (TCP reset)."""
        if self._reader is not None:
            self._reader.cancel()
        ws, self._ws = self._ws, None
        if ws is not None:
            sock = ws.get_extra_info("socket")
            if sock is not None:  # close now sends a reset, as a dropped network would
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection = ws._response.connection
            if connection is not None and connection.transport is not None:
                connection.transport.abort()
        for fut in self._replies.values():
            if not fut.done():
                fut.cancel()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()


@dataclass
class Publisher:
    """Sends numbered messages and counts the acknowledgements."""

    member: Member
    acked: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    top: int = 0

    async def say(self, body: str) -> None:
        reply = await self.member.push("new_msg", {"body": body})
        if reply.get("status") == "ok":
            self.acked += 1
            self.top = max(self.top, int(reply["response"]["seq"]))
        else:
            reason = str(reply.get("response", {}).get("reason"))
            self.refused[reason] = self.refused.get(reason, 0) + 1

    async def burst(self, n: int, window: int = 16) -> None:
        gate = asyncio.Semaphore(window)

        async def one(i: int) -> None:
            async with gate:
                await self.say(f"burst {i}")

        await asyncio.gather(*(one(i) for i in range(n)))

    async def paced(self, rate: float, seconds: float) -> int:
        """``rate`` messages/s for ``seconds`` without waiting for replies; the count sent."""
        sent = 0
        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate) + 1
            while sent < due:
                task = asyncio.get_running_loop().create_task(self.say(f"paced {sent}"))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(0.005)
        if tasks:
            await asyncio.gather(*tasks)
        return sent


async def join_all(members: list[Member], conc: int) -> list[float]:
    """Join (or rejoin) every member, ``conc`` at a time; each one's seconds to join."""
    gate = asyncio.Semaphore(conc)

    async def one(m: Member) -> float:
        async with gate:
            t = time.monotonic()
            await m.join()
            return time.monotonic() - t

    return list(await asyncio.gather(*(one(m) for m in members)))


async def wait_all(members: list[Member], seq: int, timeout: float) -> bool:
    """Until every member holds every message up to ``seq`` (False on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(m.last >= seq for m in members):
            return True
        await asyncio.sleep(0.01)
    return False


def pick(members: list[Member], share: float, rnd: random.Random) -> list[Member]:
    return rnd.sample(members, max(1, int(len(members) * share)))
