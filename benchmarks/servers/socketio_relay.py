"""Peer stack "python-socketio": a minimal chat room relay on python-socketio's AsyncServer.

It runs on aiohttp (with uvloop, as SketchyChat does) and implements the same minimal API as the
Node peers, so every stack does the same work per client:

* ``POST /api/session {"nickname"}`` -> ``200 {"token", "user_id", "nickname"}`` (kept in memory)
* ``POST /api/rooms`` -> ``201 {"code", "topic", "url"}``
* Socket.IO v4 over ``/socket.io/`` (websocket transport only), CONNECT auth ``{"token"}``;
  ``join {"room"}`` (ack ``{"ok": true, ...}``) enters the room; ``new_msg {"body"}`` (ack
  ``{"id"}``) emits ``new_msg {"id", "user_id", "nickname", "body", "at"}`` to the room.

Benchmark code only: listens on 127.0.0.1.
Usage: ``python -m benchmarks.servers.socketio_relay PORT``
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import sys
import time
from typing import Any

import socketio
from aiohttp import web

ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"

sio = socketio.AsyncServer(
    async_mode="aiohttp",
    transports=["websocket"],
    cors_allowed_origins=[],
    logger=False,
    engineio_logger=False,
)
sessions: dict[str, tuple[str, str]] = {}  # token -> (user_id, nickname)
rooms: set[str] = set()
conn_room: dict[str, str] = {}  # sid -> room code
conn_user: dict[str, tuple[str, str]] = {}  # sid -> (user_id, nickname)
_ids = itertools.count(1)


async def api_session(request: web.Request) -> web.Response:
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        return web.json_response({"error": "bad_request", "message": "Malformed JSON."}, status=400)
    nickname = str(body.get("nickname", "")).strip()
    if not nickname or len(nickname) > 32:
        return web.json_response(
            {"error": "invalid_nickname", "message": "Bad nickname."}, status=422
        )
    token = secrets.token_hex(24)
    user_id = secrets.token_hex(8)
    sessions[token] = (user_id, nickname)
    return web.json_response({"token": token, "user_id": user_id, "nickname": nickname})


async def api_rooms(request: web.Request) -> web.Response:
    code = "".join(secrets.choice(ALPHABET) for _ in range(10))
    while code in rooms:
        code = "".join(secrets.choice(ALPHABET) for _ in range(10))
    rooms.add(code)
    return web.json_response(
        {"code": code, "topic": f"room:{code}", "url": f"/r/{code}"}, status=201
    )


@sio.event
async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
    token = auth.get("token") if isinstance(auth, dict) else None
    user = sessions.get(token or "")
    if user is None:
        return False
    conn_user[sid] = user
    return True


@sio.event
async def disconnect(sid: str, reason: Any = None) -> None:
    conn_room.pop(sid, None)
    conn_user.pop(sid, None)


@sio.on("join")
async def on_join(sid: str, payload: Any) -> dict[str, Any]:
    code = payload.get("room") if isinstance(payload, dict) else None
    if code not in rooms:
        return {"ok": False, "reason": "not_found"}
    old = conn_room.get(sid)
    if old is not None:
        await sio.leave_room(sid, old)
    conn_room[sid] = code
    await sio.enter_room(sid, code)
    user_id, nickname = conn_user[sid]
    return {"ok": True, "user_id": user_id, "nickname": nickname}


@sio.on("new_msg")
async def on_new_msg(sid: str, payload: Any) -> dict[str, Any] | None:
    room = conn_room.get(sid)
    body = payload.get("body") if isinstance(payload, dict) else None
    if room is None or not isinstance(body, str):
        return None
    user_id, nickname = conn_user[sid]
    msg_id = format(next(_ids), "x")
    await sio.emit(
        "new_msg",
        {
            "id": msg_id,
            "user_id": user_id,
            "nickname": nickname,
            "body": body,
            "at": int(time.time() * 1000),
        },
        to=room,
    )
    return {"id": msg_id}


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 4603
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a product dependency
        pass
    app = web.Application()
    app.router.add_post("/api/session", api_session)
    app.router.add_post("/api/rooms", api_rooms)
    sio.attach(app)
    print(f"python-socketio relay listening on http://127.0.0.1:{port}", flush=True)
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        backlog=4096,
        access_log=None,
        print=None,
        handle_signals=True,
    )


if __name__ == "__main__":
    main()
