"""Requests, responses and routing for our small HTTP/1.1 edge (no I/O here)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson

__all__ = ["Request", "Response", "Router", "error", "json_response"]


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, method: str, target: str, headers: dict[str, str], body: bytes) -> Request:
        path, _, raw_query = target.partition("?")
        # Plug semantics (protocol.md §5.2): when a key repeats, the LAST value wins.
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        return cls(method, unquote(path), query, headers, body)

    def json(self) -> Any:
        """The body as JSON; raises :class:`HttpError` 400/415 with a clear message."""
        ctype = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not self.body:
            return None
        if ctype != "application/json":
            # Contract §2: a wrong content type is a 400, like malformed JSON.
            raise HttpError(400, "unsupported_media_type", "Send the body as application/json.")
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            raise HttpError(400, "invalid_json", "The request body is not valid JSON.") from None


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    def encode(self, *, keep_alive: bool, head: bool = False) -> bytes:
        phrase = _PHRASES.get(self.status, "Unknown")
        lines = [
            f"HTTP/1.1 {self.status} {phrase}",
            f"content-length: {len(self.body)}",
            "connection: " + ("keep-alive" if keep_alive else "close"),
            "x-content-type-options: nosniff",
            "referrer-policy: no-referrer",
        ]
        if self.content_type:
            lines.append(f"content-type: {self.content_type}")
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head_bytes if head else head_bytes + self.body


class HttpError(Exception):
    """Raised by handlers for a 4xx with the contract's JSON error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        return error(self.status, self.code, self.message)


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(
        status,
        orjson.dumps(obj),
        "application/json",
        [("cache-control", "no-store"), *(headers or [])],
    )


def error(status: int, code: str, message: str) -> Response:
    """Contract §2: ``{"error": code, "message": sentence}``."""
    return json_response(status, {"error": code, "message": message})


Handler = Callable[[Request], Awaitable[Response]]


class Router:
    """Method + path pattern → handler; ``<name>`` is one segment, ``<name:path>`` the rest."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(
            r"<(\w+)(:path)?>",
            lambda m: f"(?P<{m[1]}>{'.+' if m[2] else '[^/]+'})",
            pattern,
        )
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | Response:
        allowed: list[str] = []
        for route_method, regex, handler in self._routes:
            match = regex.match(path)
            if match is None:
                continue
            if route_method == method or (method == "HEAD" and route_method == "GET"):
                return handler, match.groupdict()
            allowed.append(route_method)
        if allowed:
            resp = error(405, "method_not_allowed", f"Use {', '.join(sorted(set(allowed)))}.")
            resp.headers.append(("allow", ", ".join(sorted(set(allowed)))))
            return resp
        return error(404, "not_found", "There is nothing at this address.")


_PHRASES = {s.value: s.phrase for s in HTTPStatus}
