"""The per-TCP-connection HTTP/1.1 protocol (httptools) and the WebSocket hand-over.

Requests on one connection are answered in order, one at a time (reading
pauses while a handler runs). An upgrade request is answered by the
application with either an error response or a 101 plus the
:class:`asyncio.Protocol` that takes over the transport — after that this
object is dropped, so an idle WebSocket carries no HTTP state.

What a client can make this object hold is bounded: a URL (8 KiB, else 414),
headers (16 KiB and 100 lines, else 431), a body (``max_body``: a larger
``Content-Length`` is refused with 413 before a byte of the body is read, a
chunked body is cut at the limit), and time: a request, head and body,
must arrive whole within ``request_timeout`` of its first byte (of the
connection opening, for the first one), else 408 and the connection closes
(slowloris). A refused request ends the connection: nothing after it is read.
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

_MAX_URL_BYTES = 8192
#: How long a refused connection keeps draining the client's input before closing.
_LINGER_SECONDS = 2.0
_MAX_HEADER_BYTES = 16 * 1024
_MAX_HEADERS = 100


class _Refused(Exception):
    """Raised inside an httptools callback to stop parsing a request we refuse."""


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
    #: Seconds a client has to send one whole request (head and body).
    request_timeout: float = 10.0
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
        #: Requests (or refusals) waiting to be answered, in order, with keep-alive.
        self._queue: list[tuple[Request | Response, bool]] = []
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        #: Set by a callback that refuses the request being parsed.
        self._refusal: Response | None = None
        #: A request was refused: the connection ends once it is answered.
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None
        self.last_seen = time.monotonic()

    # -- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport, but is one.
        self._transport = cast(asyncio.Transport, transport)
        if self._ctx.connections is not None:
            self._ctx.connections.add(self)
        self._arm_deadline()  # the first request counts from the connection opening

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._disarm_deadline()
        if self._ctx.connections is not None:
            self._ctx.connections.discard(self)
        if self._worker is not None:
            self._worker.cancel()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the connection ends once the refusal is written
        self.last_seen = time.monotonic()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            offset = upgrade.args[0] if upgrade.args else len(data)
            self._upgrade(data[offset:])
        except httptools.HttpParserError:
            refusal, self._refusal = self._refusal, None
            self._refuse(
                refusal
                or error(400, "bad_request", "The server could not parse that HTTP request.")
            )

    # -- httptools callbacks -------------------------------------------------

    def on_message_begin(self) -> None:
        self._url.clear()
        self._headers = {}
        self._header_bytes = 0
        self._body.clear()
        if self._deadline is None:
            self._arm_deadline()

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > _MAX_URL_BYTES:
            self._stop(error(414, "uri_too_long", "That address is too long."))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > _MAX_HEADER_BYTES or len(self._headers) > _MAX_HEADERS:
            self._stop(error(431, "headers_too_large", "The request headers are too large."))
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self._headers.get(key)
        self._headers[key] = text if old is None else old + ", " + text

    def on_headers_complete(self) -> None:
        # Refuse a declared body over the limit now, before reading any of it.
        declared = self._headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._ctx.max_body:
            self._stop(_too_large())

    def on_body(self, body: bytes) -> None:
        if len(self._body) + len(body) > self._ctx.max_body:
            self._stop(_too_large())  # a chunked body is cut at the limit
        self._body += body

    def on_message_complete(self) -> None:
        self._disarm_deadline()
        if self._parser.should_upgrade():
            return  # answered in data_received once httptools raises HttpParserUpgrade
        method = self._parser.get_method().decode("ascii", "replace")
        request = Request.build(
            method, self._url.decode("latin-1"), self._headers, bytes(self._body)
        )
        self._body.clear()
        self._enqueue(request, self._parser.should_keep_alive())

    def _enqueue(self, item: Request | Response, keep_alive: bool) -> None:
        self._queue.append((item, keep_alive))
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        if len(self._queue) > 8 and self._transport is not None:
            self._transport.pause_reading()

    # -- refusing ------------------------------------------------------------

    def _stop(self, refusal: Response) -> None:
        """From a parser callback: refuse the request being read, stop parsing."""
        self._refusal = refusal
        raise _Refused

    def _refuse(self, refusal: Response) -> None:
        """Answer ``refusal`` after what is already queued, then close; read no more."""
        self._refused = True
        self._disarm_deadline()
        self._body.clear()
        self._enqueue(refusal, False)

    def _arm_deadline(self) -> None:
        self._deadline = asyncio.get_running_loop().call_later(
            self._ctx.request_timeout, self._too_slow
        )

    def _disarm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self._closing:
            self._refuse(
                error(408, "request_timeout", "The request did not arrive in time; send it whole.")
            )

    # -- handling ------------------------------------------------------------

    async def _work(self) -> None:
        try:
            while self._queue and not self._closing:
                item, keep_alive = self._queue.pop(0)
                if isinstance(item, Response):
                    self._write(item, keep_alive=False)
                    self._linger()
                    return
                response = await self._respond(item)
                self._write(response, keep_alive=keep_alive, head=item.method == "HEAD")
                if not keep_alive:
                    self._close()
                    return
                if (
                    self._transport is not None
                    and not self._transport.is_closing()
                    and not self._refused
                ):
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
        self._disarm_deadline()
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
        self._disarm_deadline()
        if self._transport is not None:
            self._transport.close()

    def _linger(self) -> None:
        """Close after a refusal so that the client can still read it.

        A client that is still sending (a body over the limit) would get a TCP
        reset from a plain close, which can destroy the response before it is
        read. So: half-close our side, drop what still arrives, and close once
        the client does, or after :data:`_LINGER_SECONDS` at most.
        """
        self._closing = True
        self._disarm_deadline()
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        transport.resume_reading()
        asyncio.get_running_loop().call_later(_LINGER_SECONDS, transport.close)

    def eof_received(self) -> bool | None:
        return None  # the client is done sending: let the transport close

    def close_idle(self) -> None:
        """Shutdown or keep-alive timeout: close unless a request is in progress."""
        if self._worker is None:
            self._close()


def _too_large() -> Response:
    return error(413, "too_large", "That request body is too large.")
