"""The HTTP/1.1 edge, in process: bytes in through a fake transport, bytes out.

No sockets: :class:`HttpProtocol` is an ``asyncio.Protocol``, so a recording
transport shows exactly what it writes, when it closes, and what it refuses.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from sketchychat.transport.http import Request, Response, json_response
from sketchychat.transport.server import HttpProtocol, HttpServerContext, Upgrade


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closed = False
        self.eof = False
        self.reading = True
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not (self.closed or self.eof), "write after close"
        self.out += data

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    @property
    def ended(self) -> bool:
        """We will write no more: closed, or half-closed while the client drains."""
        return self.closed or self.eof

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def responses(self) -> list[tuple[int, bytes]]:
        """Every response written: (status, body)."""
        found = []
        rest = bytes(self.out)
        while rest:
            head, _, rest = rest.partition(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            found.append((status, rest[:length]))
            rest = rest[length:]
        return found


seen: list[Request] = []


async def echo(request: Request) -> Response:
    seen.append(request)
    return json_response(200, {"path": request.path, "size": len(request.body)})


def refuse_upgrades(_: Request) -> Upgrade | Response:
    return json_response(400, {"error": "no"})


def serve(**options: Any) -> tuple[HttpProtocol, FakeTransport]:
    seen.clear()
    ctx = HttpServerContext(handle=echo, upgrade=refuse_upgrades, connections=set(), **options)
    protocol = HttpProtocol(ctx)
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_request_is_answered_and_the_connection_kept() -> None:
    protocol, transport = serve()
    protocol.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    await settle()
    assert transport.responses() == [(200, b'{"path":"/a","size":0}')]
    assert not transport.ended


async def test_pipelined_requests_are_answered_in_order() -> None:
    protocol, transport = serve()
    protocol.data_received(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
    await settle()
    assert [orjson.loads(body)["path"] for _, body in transport.responses()] == ["/1", "/2"]


async def test_an_oversized_content_length_is_refused_before_any_body_arrives() -> None:
    # The finding: a 100 MB body was read to the end before the 413.
    protocol, transport = serve(max_body=1024)
    protocol.data_received(
        b"POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
    )
    await settle()
    [(status, body)] = transport.responses()
    assert status == 413 and orjson.loads(body)["error"] == "too_large"
    assert transport.ended
    assert seen == []
    protocol.data_received(b"x" * 65536)  # whatever follows is not even parsed
    assert transport.responses() == [(status, body)]
    assert transport.eof and not transport.closed  # lingering: the client can read the 413
    protocol.eof_received()


async def test_a_refused_connection_closes_after_lingering() -> None:
    protocol, transport = serve(max_body=1)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n")
    await settle()
    assert transport.eof and not transport.closed
    loop = asyncio.get_running_loop()
    timers = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
    assert any(h.when() - loop.time() > 1.5 for h in timers)


async def test_a_content_length_at_the_limit_is_read() -> None:
    protocol, transport = serve(max_body=10)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
    await settle()
    assert transport.responses() == [(200, b'{"path":"/","size":10}')]


async def test_a_chunked_body_is_cut_at_the_limit() -> None:
    protocol, transport = serve(max_body=1000)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for _ in range(3):
        protocol.data_received(b"190\r\n" + b"y" * 400 + b"\r\n")  # 1,200 bytes in all
    await settle()
    [(status, _)] = transport.responses()
    assert status == 413 and transport.ended and seen == []
    assert len(protocol._body) == 0


async def test_a_refusal_waits_for_the_answers_queued_before_it() -> None:
    protocol, transport = serve(max_body=5)
    protocol.data_received(
        b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n"
    )
    await settle()
    assert [status for status, _ in transport.responses()] == [200, 413]
    assert transport.ended


async def test_a_long_url_is_414_and_big_headers_are_431() -> None:
    protocol, transport = serve()
    protocol.data_received(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")
    await settle()
    assert [s for s, _ in transport.responses()] == [414]
    protocol, transport = serve()
    protocol.data_received(b"GET / HTTP/1.1\r\n" + b"X-A: " + b"b" * 17000 + b"\r\n\r\n")
    await settle()
    assert [s for s, _ in transport.responses()] == [431]


async def test_garbage_is_a_400_and_the_end() -> None:
    protocol, transport = serve()
    protocol.data_received(b"\x16\x03\x01 not http at all\r\n\r\n")
    await settle()
    assert [s for s, _ in transport.responses()] == [400] and transport.ended


async def test_a_slow_request_head_gets_408_at_the_deadline() -> None:
    # The finding: a head sent at one byte per second was still connected after 80 s.
    protocol, transport = serve(request_timeout=0.2)
    for byte in b"GET / HTTP/1.1\r\nHost":
        protocol.data_received(bytes([byte]))
    await asyncio.sleep(0.3)
    assert [s for s, _ in transport.responses()] == [408]
    assert transport.ended


async def test_a_connection_that_sends_nothing_gets_408_at_the_deadline() -> None:
    _, transport = serve(request_timeout=0.1)
    await asyncio.sleep(0.2)
    assert [s for s, _ in transport.responses()] == [408] and transport.ended


async def test_the_deadline_counts_each_request_from_its_first_byte() -> None:
    protocol, transport = serve(request_timeout=0.2)
    protocol.data_received(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.3)  # idle between requests is the keep-alive's business
    protocol.data_received(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
    await settle()
    assert [s for s, _ in transport.responses()] == [200, 200] and not transport.ended
    protocol.data_received(b"GET /3 HTTP/1.1\r\n")
    await asyncio.sleep(0.3)
    assert [s for s, _ in transport.responses()] == [200, 200, 408] and transport.ended


async def test_a_slow_body_counts_too() -> None:
    protocol, transport = serve(request_timeout=0.2)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    await asyncio.sleep(0.3)
    assert [s for s, _ in transport.responses()] == [408] and seen == []


async def test_an_upgrade_stops_the_clock() -> None:
    protocol, transport = serve(request_timeout=0.1)

    class Quiet(asyncio.Protocol):
        pass

    protocol._ctx.upgrade = lambda _req: Upgrade(b"HTTP/1.1 101 OK\r\n\r\n", lambda _t: Quiet())
    protocol.data_received(
        b"GET /socket/websocket HTTP/1.1\r\nHost: x\r\n"
        b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )
    await asyncio.sleep(0.2)
    assert bytes(transport.out) == b"HTTP/1.1 101 OK\r\n\r\n"
    assert isinstance(transport.protocol, Quiet) and not transport.ended


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_head_answers_carry_no_body(method: str) -> None:
    protocol, transport = serve()
    protocol.data_received(f"{method} /x HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await settle()
    out = bytes(transport.out)
    assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"}") == (method == "GET")
