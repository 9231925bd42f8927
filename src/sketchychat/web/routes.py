"""HTTP routes: the JSON API (contract.md §2), the pages and static files."""

from __future__ import annotations

import time
from typing import Any

from sketchychat.auth.nicknames import NicknameError, clean_nickname
from sketchychat.auth.tokens import Identity, TokenError, TokenSigner, new_user_id
from sketchychat.history.base import StoreUnavailable
from sketchychat.history.retention import Retention, RetentionError, RetentionPolicy
from sketchychat.rooms.codes import is_well_formed
from sketchychat.rooms.history import BACKLOG, MAX_PAGE
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
    policy: RetentionPolicy | None = None,
) -> Router:
    router = Router()
    policy = policy or RetentionPolicy()

    def identity(request: Request) -> Identity:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HttpError(401, "invalid_token", "Send Authorization: Bearer <token>.")
        try:
            return signer.verify(token.strip(), now=time.time())
        except TokenError:
            raise HttpError(401, "invalid_token", "That token is invalid or has expired.") from None

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
        ident = identity(request)
        return json_response(200, {"user_id": ident.user_id, "nickname": ident.nickname})

    async def create_room(request: Request) -> Response:
        body = _json_object(request, required=False)
        try:
            room = await registry.create_room(Retention.parse(body))
        except RetentionError as exc:
            return error(422, exc.code, exc.message)
        except StoreUnavailable:
            return error(
                503,
                "store_unavailable",
                "Rooms that keep messages cannot be created right now; try again.",
            )
        return json_response(
            201,
            {
                "code": room.code,
                "topic": room.topic,
                "url": f"/r/{room.code}",
                "retention": policy.describe(room.retention),
            },
            headers=[("location", f"/api/rooms/{room.code}")],
        )

    async def show_room(request: Request) -> Response:
        code = request.params["code"].lower()
        online = await registry.online(code) if is_well_formed(code) else None
        retention = registry.retention_of(code) if online is not None else None
        if online is None or retention is None:
            return error(404, "not_found", "This room does not exist or has expired.")
        return json_response(
            200,
            {
                "code": code,
                "topic": f"room:{code}",
                "online": online,
                "retention": policy.describe(retention),
            },
        )

    async def room_messages(request: Request) -> Response:
        """contract.md §5: scroll-back over HTTP, for whoever holds a token."""
        ident = identity(request)
        code = request.params["code"].lower()
        before = _int_param(request, "before", 1, 2**53 - 1)
        limit = _int_param(request, "limit", 1, MAX_PAGE)
        if not is_well_formed(code) or not await registry.exists(code):
            return error(404, "not_found", "This room does not exist or has expired.")
        retention = registry.retention_of(code)
        if retention is None or not retention.keeps_history:
            return error(404, "no_history", "This room keeps nothing: there is no history.")
        room = registry.find_for_join(code)
        if room is None:
            return error(404, "not_found", "This room does not exist or has expired.")
        try:
            page = await room.page(ident.user_id, before, limit or BACKLOG)
        except LookupError:
            return error(404, "not_found", "This room does not exist or has expired.")
        except StoreUnavailable:
            return error(503, "store_unavailable", "This room's messages cannot be read now.")
        return json_response(
            200, {"messages": page.messages, "more": page.more, "position": room.history.position()}
        )

    async def home(_: Request) -> Response:
        return _page(
            200,
            pages.render(
                "index.html",
                retentions=",".join(sorted(registry.allowed)),
                persistent_summary=policy.summary(Retention("persistent", "shared")),
            ),
        )

    async def room_page(request: Request) -> Response:
        code = request.params["code"].lower()
        retention = registry.retention_of(code) if is_well_formed(code) else None
        if retention is not None and await registry.exists(code):
            return _page(
                200,
                pages.render(
                    "room.html",
                    room_code=code,
                    retention_kind=retention.kind,
                    retention_summary=policy.summary(retention),
                ),
            )
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
    router.add("GET", "/api/rooms/<code>/messages", room_messages)
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


def _int_param(request: Request, name: str, low: int, high: int) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 16) or not low <= int(raw) <= high:
        raise HttpError(
            400, "invalid_request", f"{name} must be a whole number from {low} to {high}."
        )
    return int(raw)


def _json_object(request: Request, *, required: bool) -> dict[str, Any]:
    body = request.json()
    if body is None:
        if required:
            raise HttpError(400, "invalid_json", "Send a JSON object body.")
        return {}
    if not isinstance(body, dict):
        raise HttpError(400, "invalid_json", "The body must be a JSON object.")
    return body
