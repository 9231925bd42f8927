"""HTTP routes: the JSON API (contract.md §2), the pages and static files."""

from __future__ import annotations

import time
from typing import Any

from sketchychat.auth.nicknames import NicknameError, clean_nickname
from sketchychat.auth.tokens import TokenError, TokenSigner, new_user_id
from sketchychat.rooms.codes import is_well_formed
from sketchychat.rooms.registry import RoomRegistry
from sketchychat.transport.http import (
    HttpError,
    Request,
    Response,
    Router,
    error,
    json_response,
)
from sketchychat.web import pages

__all__ = ["Health", "build_router", "not_found_page"]


class Health:
    """``/healthz``: ok while this node can serve; extra checks may degrade it."""

    def __init__(self) -> None:
        self.checks: dict[str, Any] = {}

    def report(self) -> tuple[int, dict[str, Any]]:
        problems = {name: check() for name, check in self.checks.items()}
        failing = {name: why for name, why in problems.items() if why}
        if failing:
            return 503, {"status": "degraded", "problems": failing}
        return 200, {"status": "ok"}


def build_router(
    *,
    signer: TokenSigner,
    registry: RoomRegistry,
    health: Health,
) -> Router:
    router = Router()

    async def healthz(_: Request) -> Response:
        status, body = health.report()
        return json_response(status, body)

    async def create_session(request: Request) -> Response:
        body = _json_object(request, required=True)
        try:
            nickname = clean_nickname(body.get("nickname"))
        except NicknameError as exc:
            return error(422, "invalid_nickname", str(exc))
        user_id = new_user_id()
        token = signer.issue(user_id, nickname, now=time.time())
        return json_response(200, {"token": token, "user_id": user_id, "nickname": nickname})

    async def check_session(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return error(401, "invalid_token", "Send Authorization: Bearer <token>.")
        try:
            ident = signer.verify(token.strip(), now=time.time())
        except TokenError:
            return error(401, "invalid_token", "That token is invalid or has expired.")
        return json_response(200, {"user_id": ident.user_id, "nickname": ident.nickname})

    async def create_room(request: Request) -> Response:
        _json_object(request, required=False)
        room = await registry.create_room()
        return json_response(
            201,
            {"code": room.code, "topic": room.topic, "url": f"/r/{room.code}"},
            headers=[("location", f"/api/rooms/{room.code}")],
        )

    async def show_room(request: Request) -> Response:
        code = request.params["code"].lower()
        online = await registry.online(code) if is_well_formed(code) else None
        if online is None:
            return error(404, "not_found", "This room does not exist or has expired.")
        return json_response(200, {"code": code, "topic": f"room:{code}", "online": online})

    async def home(_: Request) -> Response:
        return _page(200, pages.render("index.html"))

    async def room_page(request: Request) -> Response:
        code = request.params["code"].lower()
        live = registry.get(code) is not None
        if live or registry.revivable(code):
            return _page(200, pages.render("room.html", room_code=code))
        return _page(404, pages.render("gone.html", **_EXPIRED))

    async def static(request: Request) -> Response:
        asset = pages.static_asset(request.params["path"])
        if asset is None:
            return error(404, "not_found", "There is no such file.")
        content_type, body, etag = asset
        # no-cache + ETag: revalidate every time (cheap 304s), so a deploy never mixes
        # old and new ES modules in one page.
        headers = [("etag", etag), ("cache-control", "no-cache")]
        if _etag_matches(request.headers.get("if-none-match", ""), etag):
            return Response(304, b"", "", headers)
        return Response(200, body, content_type, headers)

    async def socket_without_upgrade(_: Request) -> Response:
        resp = error(426, "upgrade_required", "Connect with a WebSocket (a Phoenix client).")
        resp.headers.extend([("upgrade", "websocket"), ("sec-websocket-version", "13")])
        return resp

    router.add("GET", "/healthz", healthz)
    router.add("GET", "/socket/websocket", socket_without_upgrade)
    router.add("POST", "/api/session", create_session)
    router.add("GET", "/api/session", check_session)
    router.add("POST", "/api/rooms", create_room)
    router.add("GET", "/api/rooms/<code>", show_room)
    router.add("GET", "/", home)
    router.add("GET", "/r/<code>", room_page)
    router.add("GET", "/static/<path:path>", static)
    return router


def not_found_page() -> Response:
    """A 404 a person can read (API paths keep their JSON errors)."""
    return _page(404, pages.render("gone.html", **_NOT_FOUND))


_EXPIRED = {
    "title": "Room expired",
    "heading": "This room has expired",
    "text": "It may never have existed, or it vanished a while after everyone left. "
    "Nothing said in it is kept.",
}
_NOT_FOUND = {
    "title": "Not found",
    "heading": "There is nothing here",
    "text": "This address does not lead to a page. To talk, create a room or open the link "
    "someone shared with you.",
}


def _etag_matches(header: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison, a list of tags, or ``*``."""
    if header.strip() == "*":
        return True
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag.removeprefix("W/") in tags


def _page(status: int, html: bytes) -> Response:
    return Response(
        status,
        html,
        "text/html; charset=utf-8",
        [
            ("content-security-policy", pages.CSP),
            ("cache-control", "no-store"),
            ("x-frame-options", "DENY"),
        ],
    )


def _json_object(request: Request, *, required: bool) -> dict[str, Any]:
    body = request.json()
    if body is None:
        if required:
            raise HttpError(400, "invalid_json", "Send a JSON object body.")
        return {}
    if not isinstance(body, dict):
        raise HttpError(400, "invalid_json", "The body must be a JSON object.")
    return body
