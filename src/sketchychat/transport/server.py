"""The per-TCP-connection HTTP/1.1 protocol (httptools) and the WebSocket hand-over.

Requests on one connection are answered in order, one at a time (reading
pauses while a handler runs). An upgrade request is answered by the
application with either an error response or a 101 plus the
:class:`asyncio.Protocol` that takes over the transport — after that this
object is dropped, so an idle WebSocket carries no HTTP state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

import httptools

from sketchychat.transport.http import HttpError, Request, Response, error

__all__ = ["HttpProtocol", "HttpServerContext", "Upgrade"]

log = logging.getLogger("sketchychat.http")

_MAX_HEADER_BYTES = 16 * 1024
_MAX_HEADERS = 100


@dataclass(slots=True)
class Upgrade:
    """A successful WebSocket handshake: the 101 bytes and the protocol to switch to."""

    response: bytes
    protocol_factory: Callable[[asyncio.Transport], asyncio.Protocol]


@dataclass(slots=True)
class HttpServerContext:
    handle: Callable[[Request], Awaitable[Response]]
    upgrade: Callable[[Request], Upgrade | Response]
    max_body: int = 64 * 1024
    connections: set[HttpProtocol] | None = None


class HttpProtocol(asyncio.Protocol):
    def __init__(self, ctx: HttpServerContext) -> None:
        self._ctx = ctx
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = bytearray()
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._body = bytearray()
        self._too_large = False
        self._queue: list[tuple[Request, bool]] = []
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        self.last_seen = time.monotonic()

    # -- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport, but is one.
        self._transport = cast(asyncio.Transport, transport)
        if self._ctx.connections is not None:
            self._ctx.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._ctx.connections is not None:
            self._ctx.connections.discard(self)
        if self._worker is not None:
            self._worker.cancel()

    def data_received(self, data: bytes) -> None:
        self.last_seen = time.monotonic()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = upgrade.args[0] if upgrade.args else len(data)
            self._upgrade(data[offset:])
        except httptools.HttpParserError:
            self._fail(400, "bad_request", "The server could not parse that HTTP request.")

    # -- httptools callbacks -------------------------------------------------

    def on_message_begin(self) -> None:
        self._url.clear()
        self._headers = {}
        self._header_bytes = 0
        self._body.clear()
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > 8192:
            raise httptools.HttpParserError("url too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > _MAX_HEADER_BYTES or len(self._headers) > _MAX_HEADERS:
            raise httptools.HttpParserError("headers too large")
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self._headers.get(key)
        self._headers[key] = text if old is None else old + ", " + text

    def on_body(self, body: bytes) -> None:
        if len(self._body) + len(body) > self._ctx.max_body:
            self._too_large = True
            return
        self._body += body

    def on_message_complete(self) -> None:
        if self._parser.should_upgrade():
            return  # answered in data_received once httptools raises HttpParserUpgrade
        method = self._parser.get_method().decode("ascii", "replace")
        request = Request.build(method, self._url.decode("latin-1"), self._headers,
                                bytes(self._body))
        keep_alive = self._parser.should_keep_alive() and not self._too_large
        if self._too_large:
            self._queue.append((request, False))
        else:
            self._queue.append((request, keep_alive))
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        if len(self._queue) > 8 and self._transport is not None:
            self._transport.pause_reading()

    # -- handling ------------------------------------------------------------

    async def _work(self) -> None:
        try:
            while self._queue and not self._closing:
                request, keep_alive = self._queue.pop(0)
                if not keep_alive and self._too_large:
                    response = error(413, "too_large", "That request body is too large.")
                else:
                    response = await self._respond(request)
                self._write(response, keep_alive=keep_alive, head=request.method == "HEAD")
                if not keep_alive:
                    self._close()
                    return
                if self._transport is not None and not self._transport.is_closing():
                    self._transport.resume_reading()
        finally:
            self._worker = None

    async def _respond(self, request: Request) -> Response:
        try:
            return await self._ctx.handle(request)
        except HttpError as exc:
            return exc.response()
        except Exception:
            log.exception("unhandled error answering %s %s", request.method, request.path)
            return error(500, "internal_error", "Something went wrong on our side.")

    def _upgrade(self, rest: bytes) -> None:
        transport = self._transport
        if transport is None or self._queue or self._worker is not None:
            self._fail(400, "bad_request", "Upgrade requests cannot be pipelined.")
            return
        method = self._parser.get_method().decode("ascii", "replace")
        request = Request.build(method, self._url.decode("latin-1"), self._headers, b"")
        try:
            result = self._ctx.upgrade(request)
        except Exception:
            log.exception("unhandled error during a WebSocket handshake")
            result = error(500, "internal_error", "Something went wrong on our side.")
        if isinstance(result, Response):
            self._write(result, keep_alive=False)
            self._close()
            return
        transport.write(result.response)
        protocol = result.protocol_factory(transport)
        if self._ctx.connections is not None:
            self._ctx.connections.discard(self)
        transport.set_protocol(protocol)
        self._closing = True
        if rest:
            protocol.data_received(rest)

    def _write(self, response: Response, *, keep_alive: bool, head: bool = False) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(response.encode(keep_alive=keep_alive, head=head))

    def _fail(self, status: int, code: str, message: str) -> None:
        self._write(error(status, code, message), keep_alive=False)
        self._close()

    def _close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def close_idle(self) -> None:
        """Shutdown or keep-alive timeout: close unless a request is in progress."""
        if self._worker is None:
            self._close()


