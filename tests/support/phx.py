"""A tiny V2 Phoenix client over a real WebSocket, for integration tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from tests.support.http import post_json

__all__ = ["PhxClient", "new_room", "new_session"]

Frame = Any  # a V2 array (list) or a V1 object (dict)


async def new_session(base_url: str, nickname: str = "alice") -> dict[str, Any]:
    status, body = await post_json(base_url + "/api/session", {"nickname": nickname})
    assert status == 200, body
    session: dict[str, Any] = body
    return session


async def new_room(base_url: str) -> str:
    status, body = await post_json(base_url + "/api/rooms", {})
    assert status == 201, body
    code: str = body["code"]
    return code


class PhxClient:
    """Sends V2 arrays, keeps every frame it receives, waits for the ones asked for."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[Frame] = []
        self._ref = 0
        self._new = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.closed: asyncio.Future[tuple[int | None, str]] = (
            asyncio.get_running_loop().create_future()
        )

    @classmethod
    async def connect(
        cls,
        ws_url: str,
        token: str | None,
        *,
        vsn: str | None = "2.0.0",
        subprotocols: list[str] | None = None,
        extra: str = "",
    ) -> PhxClient:
        query = []
        if token is not None:
            query.append(f"token={token}")
        if vsn is not None:
            query.append(f"vsn={vsn}")
        url = ws_url + "?" + "&".join(query) + extra
        offered = [Subprotocol(p) for p in subprotocols] if subprotocols is not None else None
        ws = await websockets.connect(url, subprotocols=offered, max_size=None, ping_interval=None)
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw) if isinstance(raw, str) else ["binary", raw])
                self._new.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            rcvd = self.ws.protocol.close_rcvd
            if not self.closed.done():
                self.closed.set_result((rcvd.code if rcvd else None, rcvd.reason if rcvd else ""))
            self._new.set()

    def next_ref(self) -> str:
        self._ref += 1
        return str(self._ref + 5)  # like phoenix.js: refs are strings and do not start at 1

    async def send(
        self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any
    ) -> None:
        await self.ws.send(json.dumps([join_ref, ref, topic, event, payload]))

    async def push(self, topic: str, event: str, payload: Any, join_ref: str | None = None) -> str:
        ref = self.next_ref()
        await self.send(join_ref, ref, topic, event, payload)
        return ref

    async def join(self, topic: str, payload: Any | None = None) -> tuple[str, Frame]:
        ref = self.next_ref()
        await self.send(ref, ref, topic, "phx_join", payload if payload is not None else {})
        reply = await self.reply(ref)
        return ref, reply

    async def wait(
        self, pred: Callable[[Frame], bool], timeout: float = 5.0, start: int = 0
    ) -> Frame:
        async with asyncio.timeout(timeout):
            seen = start
            while True:
                while seen < len(self.frames):
                    frame = self.frames[seen]
                    seen += 1
                    if pred(frame):
                        return frame
                if self.closed.done() and seen >= len(self.frames):
                    raise ConnectionError(f"closed {self.closed.result()} before a match")
                self._new.clear()
                await self._new.wait()

    async def reply(self, ref: str, timeout: float = 5.0) -> Frame:
        return await self.wait(lambda f: f[3] == "phx_reply" and f[1] == ref, timeout)

    async def event(self, topic: str, event: str, timeout: float = 5.0, start: int = 0) -> Frame:
        return await self.wait(lambda f: f[2] == topic and f[3] == event, timeout, start)

    def events(self, topic: str, event: str) -> list[Frame]:
        return [f for f in self.frames if f[0] != "binary" and f[2] == topic and f[3] == event]

    async def quiet(self, seconds: float = 0.3) -> None:
        await asyncio.sleep(seconds)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
