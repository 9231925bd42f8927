"""The edge holds (issue #19): each finding from outside, replayed over real sockets.

One socket must not be able to take the server's memory or time, whatever
it frames; RFC 6455 §8.1 holds for text; old Phoenix V1 clients work; every
``room:`` topic is a room topic; a token has one spelling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.http import get_json
from tests.support.phx import new_room, new_session
from tests.support.rawws import BINARY, CONT, PING, TEXT, RawWebSocket, mask_frame
from tests.support.server import ServerProcess


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


_open: list[RawWebSocket] = []


@pytest.fixture(autouse=True)
async def _close_sockets() -> AsyncIterator[None]:
    yield
    while _open:
        await _open.pop().aclose()


async def socket_for(srv: ServerProcess, vsn: str | None = "2.0.0") -> RawWebSocket:
    session = await new_session(srv.url)
    query = f"token={session['token']}" + (f"&vsn={vsn}" if vsn else "")
    ws = await RawWebSocket.connect(srv.port, query)
    _open.append(ws)
    return ws


# -- 1. what a message in progress may cost ---------------------------------------------


async def test_endless_empty_continuations_are_closed_with_1009(
    shared_server: ServerProcess,
) -> None:
    ws = await socket_for(shared_server)
    ws.send(TEXT, b"", fin=False)
    empty = mask_frame(CONT, b"", fin=False)
    for _ in range(20):  # 20,000 empty frames: more than 1 MiB / 64 allows
        ws.send_raw(empty * 1000)
        await ws.drain()
    assert await ws.close_code() == 1009
    assert await ws.closed_by_server()


async def test_tiny_fragments_end_at_the_frame_limit(shared_server: ServerProcess) -> None:
    ws = await socket_for(shared_server)
    ws.send(BINARY, b"ab", fin=False)
    ws.send_raw(mask_frame(CONT, b"cd", fin=False) * 17000)
    await ws.drain()
    assert await ws.close_code() == 1009


async def test_pings_inside_a_fragmented_message_count_as_its_frames(
    shared_server: ServerProcess,
) -> None:
    ws = await socket_for(shared_server)
    ws.send(BINARY, b"ab", fin=False)
    ws.send_raw(mask_frame(PING, b"") * 17000)
    await ws.drain()
    assert await ws.close_code() == 1009


async def test_a_message_in_progress_holds_its_bytes_and_gives_them_back() -> None:
    """Ten sockets each hold ~1 MB of an unfinished message: the process grows by about
    that, and shrinks back once they close (the finding: 565 MB, never returned)."""
    with ServerProcess() as srv:
        sockets = [await socket_for(srv) for _ in range(10)]
        await asyncio.sleep(0.5)
        before = rss_kb(srv.pid)
        chunk = b"z" * 4096
        for ws in sockets:
            ws.send(BINARY, chunk, fin=False)
            ws.send_raw(mask_frame(CONT, chunk, fin=False) * 240)  # 241 fragments, 987 KB
            await ws.drain()
        await asyncio.sleep(1.0)
        held = rss_kb(srv.pid) - before
        assert held < 10 * 1024 * 2.5, f"held {held} KB for 10 x 987 KB in progress"
        for ws in sockets:
            await ws.aclose()
        await asyncio.sleep(1.0)
        after = rss_kb(srv.pid) - before
        assert after < 10 * 1024 * 0.5, f"{after} KB still held after the sockets closed"


async def test_sockets_sending_tiny_fragments_cannot_grow_the_process() -> None:
    """The finding: 2-byte continuations held ~8x the bytes on the wire, per socket."""
    with ServerProcess() as srv:
        sockets = [await socket_for(srv) for _ in range(10)]
        await asyncio.sleep(0.5)
        before = rss_kb(srv.pid)
        tiny = mask_frame(CONT, b"xy", fin=False)
        for ws in sockets:
            ws.send(BINARY, b"xy", fin=False)
            ws.send_raw(tiny * 20_000)  # 140 KB on the wire each
            await ws.drain()
        codes = [await ws.close_code() for ws in sockets]
        grown = rss_kb(srv.pid) - before
        assert codes == [1009] * 10
        assert grown < 4 * 1024, f"grew by {grown} KB"


# -- 2, 3. the HTTP edge: a deadline, and early refusals ------------------------------------


async def test_a_head_sent_a_byte_at_a_time_is_cut_off_at_the_deadline() -> None:
    with ServerProcess(env={"SKETCHYCHAT_REQUEST_TIMEOUT": "1"}) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        started = time.monotonic()
        head = b"GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        answer = b""
        for byte in head:
            if reader.at_eof():
                break
            writer.write(bytes([byte]))
            with contextlib.suppress(TimeoutError):
                answer += await asyncio.wait_for(reader.read(4096), 0.1)
            if answer:
                break
        answer += await asyncio.wait_for(reader.read(), 3)
        assert answer.startswith(b"HTTP/1.1 408")
        assert 0.9 < time.monotonic() - started < 3.0
        writer.close()
        await writer.wait_closed()


async def test_an_oversized_content_length_is_refused_at_once(
    shared_server: ServerProcess,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", shared_server.port)
    writer.write(
        b"POST /api/rooms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000000\r\n\r\n"
    )
    answer = await asyncio.wait_for(reader.read(), 3)  # no body sent: the 413 comes anyway
    assert answer.startswith(b"HTTP/1.1 413")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"] == "too_large"
    writer.close()
    await writer.wait_closed()


async def test_an_endless_chunked_body_is_cut_at_the_limit(shared_server: ServerProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", shared_server.port)
    writer.write(
        b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    sent = 0
    answer = b""
    chunk = b"4000\r\n" + b"a" * 0x4000 + b"\r\n"
    for _ in range(2000):  # up to 32 MB; the answer comes once 64 KB are in
        writer.write(chunk)
        await writer.drain()
        sent += len(chunk)
        with contextlib.suppress(TimeoutError):
            answer += await asyncio.wait_for(reader.read(65536), 0.02)
        if answer:
            break
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert sent < 1024 * 1024
    assert await asyncio.wait_for(reader.read(), 5) == b""  # and then it closes
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


# -- 4. RFC 6455 §8.1: text is UTF-8, or the connection fails with 1007 ----------------------


async def test_text_that_is_not_utf8_fails_the_connection_with_1007(
    shared_server: ServerProcess,
) -> None:
    ws = await socket_for(shared_server)
    ws.send(TEXT, b'[null,"1","phoenix","heartbeat",{"x":"\xff"}]')
    assert await ws.close_code() == 1007
    assert await ws.closed_by_server()


async def test_a_fragmented_text_fails_as_soon_as_the_bad_byte_arrives(
    shared_server: ServerProcess,
) -> None:
    ws = await socket_for(shared_server)
    ws.send(TEXT, b'[null,"1","phoenix","heartbeat",{"x":"\xc0', fin=False)
    await ws.drain()  # the message never finishes: the close must not wait for it
    assert await ws.close_code(timeout=2) == 1007


# -- 5. Phoenix V1 parity -------------------------------------------------------------------


async def test_a_v1_client_sending_binary_frames_with_null_refs_chats(
    shared_server: ServerProcess,
) -> None:
    """What phx-events (PyPI) sends: V1 JSON objects in binary frames, ref null."""
    code = await new_room(shared_server.url)
    topic = f"room:{code}"
    ws = await socket_for(shared_server, vsn=None)
    join: dict[str, object] = {"topic": topic, "ref": None, "payload": {}, "event": "phx_join"}
    ws.send(BINARY, json.dumps(join).encode())
    reply = json.loads((await ws.recv()).payload)
    assert reply == {
        "topic": topic,
        "event": "phx_reply",
        "ref": None,
        "payload": {"status": "ok", "response": reply["payload"]["response"]},
    }
    assert reply["payload"]["response"]["nickname"] == "alice"
    state = json.loads((await ws.recv()).payload)
    assert state["event"] == "presence_state" and state["ref"] is None
    ws.send(
        BINARY,
        json.dumps(
            {"topic": topic, "event": "new_msg", "ref": "2", "payload": {"body": "from v1"}}
        ).encode(),
    )
    frames = [json.loads((await ws.recv()).payload) for _ in range(3)]
    by_event = {f["event"]: f for f in frames}
    assert by_event["phx_reply"]["ref"] == "2"
    assert by_event["phx_reply"]["payload"]["status"] == "ok"
    assert by_event["new_msg"]["payload"]["body"] == "from v1"
    ws.send(
        BINARY,
        json.dumps({"topic": "phoenix", "event": "heartbeat", "ref": "3", "payload": {}}).encode(),
    )
    beat = json.loads((await ws.recv()).payload)
    assert (beat["event"], beat["ref"], beat["payload"]["status"]) == ("phx_reply", "3", "ok")


# -- 6. every room: topic is a room topic -------------------------------------------------------


@pytest.mark.parametrize("code", ["zzzzzzzzzz", "ZZZ", "", "a" * 40, "k7m2p9qrstvw"])
async def test_a_malformed_or_unknown_room_code_is_not_found(
    shared_server: ServerProcess, code: str
) -> None:
    ws = await socket_for(shared_server)
    ws.send(TEXT, json.dumps(["1", "1", f"room:{code}", "phx_join", {}]).encode())
    reply = json.loads((await ws.recv()).payload)
    assert reply[3] == "phx_reply" and reply[4]["status"] == "error"
    assert reply[4]["response"]["reason"] == "not_found"
    ws.send(TEXT, json.dumps(["2", "2", "lobby:1", "phx_join", {}]).encode())
    other = json.loads((await ws.recv()).payload)
    assert other[4]["response"]["reason"] == "unmatched topic"


# -- 7. one spelling per token ------------------------------------------------------------


async def test_a_token_with_an_extra_padding_character_is_refused(
    shared_server: ServerProcess,
) -> None:
    token = (await new_session(shared_server.url))["token"]
    with pytest.raises(ConnectionRefusedError, match="HTTP 403"):
        await RawWebSocket.connect(shared_server.port, f"vsn=2.0.0&token={token}=")
    _open.append(await RawWebSocket.connect(shared_server.port, f"vsn=2.0.0&token={token}"))
    status, body = await get_json(
        f"{shared_server.url}/api/session", {"Authorization": f"Bearer {token}="}
    )
    assert status == 401 and body["error"] == "invalid_token"
