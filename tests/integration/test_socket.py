"""Contract §3: the Phoenix socket over a real WebSocket against a running server."""

from __future__ import annotations

import asyncio
import base64
import json
import signal

import pytest
import websockets

from tests.support.phx import PhxClient, new_room, new_session
from tests.support.server import ServerProcess


async def refused(srv: ServerProcess, query: str, **kw: object) -> int:
    with pytest.raises(websockets.InvalidStatus) as err:
        await websockets.connect(srv.ws_url + query, **kw)  # type: ignore[arg-type]
    status: int = err.value.response.status_code
    return status


async def test_missing_forged_and_tampered_tokens_get_403(shared_server: ServerProcess) -> None:
    session = await new_session(shared_server.url)
    body, sig = session["token"].split(".")
    assert await refused(shared_server, "?vsn=2.0.0") == 403
    assert await refused(shared_server, "?vsn=2.0.0&token=forged.token") == 403
    assert await refused(shared_server, f"?vsn=2.0.0&token={body}.{sig[:-2]}AA") == 403
    assert await refused(shared_server, f"?vsn=2.0.0&token={body[:-1]}x.{sig}") == 403
    assert await refused(shared_server, f"?vsn=9.0.0&token={session['token']}") == 403


async def test_an_expired_token_gets_403() -> None:
    with ServerProcess(env={"SKETCHYCHAT_TOKEN_TTL": "1"}) as srv:
        session = await new_session(srv.url)
        await asyncio.sleep(1.2)
        assert await refused(srv, f"?vsn=2.0.0&token={session['token']}") == 403


async def test_the_auth_token_subprotocol_is_accepted_and_phoenix_selected(
    shared_server: ServerProcess,
) -> None:
    session = await new_session(shared_server.url)
    b64 = base64.b64encode(session["token"].encode()).decode().rstrip("=")
    client = await PhxClient.connect(
        shared_server.ws_url, None, subprotocols=["phoenix", f"base64url.bearer.phx.{b64}"]
    )
    assert client.ws.subprotocol == "phoenix"
    ref = await client.push("phoenix", "heartbeat", {})
    assert (await client.reply(ref))[4] == {"status": "ok", "response": {}}
    await client.close()


async def test_a_bad_subprotocol_token_is_refused(shared_server: ServerProcess) -> None:
    bad = base64.b64encode(b"not-a-token").decode().rstrip("=")
    status = await refused(
        shared_server, "?vsn=2.0.0", subprotocols=["phoenix", f"base64url.bearer.phx.{bad}"]
    )
    assert status == 403


async def test_heartbeats_are_answered_at_once_with_the_ref_echoed(
    shared_server: ServerProcess,
) -> None:
    session = await new_session(shared_server.url)
    client = await PhxClient.connect(shared_server.ws_url, session["token"])
    for ref in ("1", "007", "abc", "9" * 40):
        await client.send(None, ref, "phoenix", "heartbeat", {})
        assert await client.reply(ref) == [
            None,
            ref,
            "phoenix",
            "phx_reply",
            {"status": "ok", "response": {}},
        ]
    await client.close()


async def test_unmatched_topics_get_an_error(shared_server: ServerProcess) -> None:
    session = await new_session(shared_server.url)
    client = await PhxClient.connect(shared_server.ws_url, session["token"])
    for topic in ("lobby", "rooms:lobby", "phoenix"):
        _ref, reply = await client.join(topic)
        assert reply[4] == {"status": "error", "response": {"reason": "unmatched topic"}}
    # Contract §4: every room: topic is a room topic; no such room is not_found (issue #19).
    for topic in ("room:lobby", "room:"):
        _ref, reply = await client.join(topic)
        assert reply[4]["status"] == "error"
        assert reply[4]["response"]["reason"] == "not_found"
    ref = await client.push("room:nothere", "new_msg", {"body": "hi"})
    assert (await client.reply(ref))[4]["response"] == {"reason": "unmatched topic"}
    await client.close()


async def test_the_101st_channel_is_refused(shared_server: ServerProcess) -> None:
    session = await new_session(shared_server.url)
    client = await PhxClient.connect(shared_server.ws_url, session["token"])
    codes = [await new_room(shared_server.url) for _ in range(101)]
    for code in codes[:100]:
        _ref, reply = await client.join(f"room:{code}")
        assert reply[4]["status"] == "ok"
    _ref, reply = await client.join(f"room:{codes[100]}")
    assert reply[4] == {"status": "error", "response": {"reason": "too many channels joined"}}
    await client.close()


async def test_malformed_frames_get_an_error_and_the_connection_goes_on(
    shared_server: ServerProcess,
) -> None:
    session = await new_session(shared_server.url)
    client = await PhxClient.connect(shared_server.ws_url, session["token"])
    await client.ws.send("this is not json")
    notice = await client.event("phoenix", "error")
    assert notice[4]["reason"] == "malformed_json" and notice[4]["message"]
    await client.ws.send(json.dumps([None, "77", "room:x", "new_msg"]))  # four elements
    reply = await client.reply("77")
    assert reply[4]["status"] == "error" and reply[4]["response"]["reason"] == "invalid_message"
    await client.ws.send(json.dumps({"topic": "x"}))
    await client.ws.send(b"\xff\xfe binary junk")
    await client.ws.send(json.dumps([None, "78", "room:x", "new_msg", "not an object"]))
    assert (await client.reply("78"))[4]["response"]["reason"] == "invalid_message"
    ref = await client.push("phoenix", "heartbeat", {})
    assert (await client.reply(ref))[4]["status"] == "ok"
    await client.close()


async def test_text_that_is_not_utf8_fails_the_connection_with_1007(
    shared_server: ServerProcess,
) -> None:
    """RFC 6455 §8.1 (issue #19): invalid UTF-8 in a text message is fatal, with 1007."""
    session = await new_session(shared_server.url)
    client = await PhxClient.connect(shared_server.ws_url, session["token"])
    # Bypass the client library's UTF-8 check: a raw text frame with invalid bytes.
    from websockets.frames import Frame, Opcode

    client.ws.protocol.send_frame(Frame(Opcode.TEXT, b"[\xff]"))
    client.ws.send_data()
    code, _reason = await asyncio.wait_for(client.closed, 5)
    assert code == 1007
    await client.close()


async def test_a_frame_over_the_size_limit_closes_with_1009() -> None:
    with ServerProcess(env={"SKETCHYCHAT_MAX_FRAME_SIZE": "2048"}) as srv:
        session = await new_session(srv.url)
        client = await PhxClient.connect(srv.ws_url, session["token"])
        await client.ws.send(json.dumps([None, "1", "phoenix", "heartbeat", {"x": "y" * 4096}]))
        code, _reason = await asyncio.wait_for(client.closed, 5)
        assert code == 1009


async def test_a_silent_connection_is_closed_but_not_with_1000() -> None:
    with ServerProcess(env={"SKETCHYCHAT_IDLE_TIMEOUT": "0.5"}) as srv:
        session = await new_session(srv.url)
        client = await PhxClient.connect(srv.ws_url, session["token"])
        code, _reason = await asyncio.wait_for(client.closed, 5)
        assert code is not None and code != 1000


async def test_shutdown_closes_sockets_with_1012() -> None:
    srv = ServerProcess().start()
    session = await new_session(srv.url)
    client = await PhxClient.connect(srv.ws_url, session["token"])
    await asyncio.to_thread(srv.stop, signal.SIGTERM)
    code, _reason = await asyncio.wait_for(client.closed, 5)
    assert code == 1012
    assert srv.stop() == 0


async def test_v1_clients_speak_json_objects_without_join_ref(
    shared_server: ServerProcess,
) -> None:
    session = await new_session(shared_server.url)
    code = await new_room(shared_server.url)
    for vsn in ("1.0.0", None):
        client = await PhxClient.connect(shared_server.ws_url, session["token"], vsn=vsn)
        await client.ws.send(
            json.dumps({"topic": f"room:{code}", "event": "phx_join", "payload": {}, "ref": "3"})
        )
        raw = await client.wait(lambda f: isinstance(f, dict) and f.get("ref") == "3")
        assert {k: raw[k] for k in ("topic", "event", "ref")} == {
            "topic": f"room:{code}",
            "event": "phx_reply",
            "ref": "3",
        }
        assert raw["payload"]["status"] == "ok"
        response = raw["payload"]["response"]
        assert (response["user_id"], response["nickname"]) == (session["user_id"], "alice")
        await client.close()
