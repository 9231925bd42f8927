"""Contract §2 over real HTTP against a running server."""

from __future__ import annotations

import pytest

from tests.support.http import get_json, post_json, request
from tests.support.server import ServerProcess


async def test_healthz_says_ok(shared_server: ServerProcess) -> None:
    assert await get_json(shared_server.url + "/healthz") == (200, {"status": "ok"})


async def test_a_session_carries_token_user_id_and_trimmed_nickname(
    shared_server: ServerProcess,
) -> None:
    status, body = await post_json(shared_server.url + "/api/session", {"nickname": "  alice "})
    assert status == 200
    assert body["nickname"] == "alice"
    assert isinstance(body["token"], str) and isinstance(body["user_id"], str)
    status, who = await get_json(
        shared_server.url + "/api/session", {"authorization": f"Bearer {body['token']}"}
    )
    assert (status, who) == (200, {"user_id": body["user_id"], "nickname": "alice"})


@pytest.mark.parametrize("nickname", ["", "   ", "x" * 33, "bad\x07bell", None, 12])
async def test_invalid_nicknames_get_422_with_a_sentence(
    shared_server: ServerProcess, nickname: object
) -> None:
    status, body = await post_json(shared_server.url + "/api/session", {"nickname": nickname})
    assert status == 422
    assert body["error"] == "invalid_nickname"
    assert body["message"].endswith(".")


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"{not json", "application/json"),
        (b'{"nickname":"a"}', "text/plain"),
        (b"[1,2]", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"", ""),
    ],
)
async def test_malformed_bodies_are_400_never_500(
    shared_server: ServerProcess, body: bytes, ctype: str
) -> None:
    headers = {"content-type": ctype} if ctype else {}
    for path in ("/api/session", "/api/rooms"):
        status, hdrs, raw = await request("POST", shared_server.url + path, body, headers)
        if path == "/api/rooms" and body == b"":
            assert status == 201  # the body is optional there
            continue
        assert status == 400, (path, body, raw)
        assert hdrs["content-type"].startswith("application/json")
        assert b'"error"' in raw and b'"message"' in raw


async def test_a_token_is_checked_for_session_lookup(shared_server: ServerProcess) -> None:
    for header in ({}, {"authorization": "Bearer nope"}, {"authorization": "Basic abc"}):
        status, body = await get_json(shared_server.url + "/api/session", header)
        assert status == 401 and body["error"] == "invalid_token"


async def test_rooms_are_created_and_looked_up(shared_server: ServerProcess) -> None:
    status, room = await post_json(shared_server.url + "/api/rooms", {})
    assert status == 201
    code = room["code"]
    retention = {
        "kind": "ephemeral",
        "history": "joined",
        "summary": "Nothing is kept",
        "max_messages": 200,
        "max_age_seconds": 120,
    }
    assert room == {
        "code": code,
        "topic": f"room:{code}",
        "url": f"/r/{code}",
        "retention": retention,
    }
    assert await get_json(shared_server.url + f"/api/rooms/{code}") == (
        200,
        {"code": code, "topic": f"room:{code}", "online": 0, "retention": retention},
    )


@pytest.mark.parametrize("code", ["nope", "aaaaaaaaaaaa", "AAAAAAAAAAAA", "%00", "a" * 200])
async def test_unknown_rooms_are_404(shared_server: ServerProcess, code: str) -> None:
    status, body = await get_json(shared_server.url + f"/api/rooms/{code}")
    assert status == 404 and body["error"] == "not_found"


async def test_unknown_paths_and_methods_answer_json_errors(shared_server: ServerProcess) -> None:
    status, body = await get_json(shared_server.url + "/api/nothing")
    assert status == 404 and body["error"] == "not_found"
    status, hdrs, _ = await request("DELETE", shared_server.url + "/api/rooms")
    assert status == 405 and "POST" in hdrs["allow"]


async def test_rooms_expire_once_empty() -> None:
    with ServerProcess(env={"SKETCHYCHAT_ROOM_IDLE_TIMEOUT": "0.4"}) as srv:
        _, room = await post_json(srv.url + "/api/rooms", {})
        assert (await get_json(srv.url + f"/api/rooms/{room['code']}"))[0] == 200
        import asyncio

        await asyncio.sleep(1.2)
        status, body = await get_json(srv.url + f"/api/rooms/{room['code']}")
        assert (status, body["error"]) == (404, "not_found")


async def test_a_bad_http_request_gets_400(shared_server: ServerProcess) -> None:
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", shared_server.port)
    writer.write(b"BLAH / HTTP/9.9\r\n\x00\x01\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    assert data.startswith(b"HTTP/1.1 400")
    writer.close()
    await writer.wait_closed()


async def test_people_get_an_html_404_and_clients_a_json_one(shared_server: ServerProcess) -> None:
    status, hdrs, raw = await request("GET", shared_server.url + "/nope")
    assert status == 404 and hdrs["content-type"].startswith("text/html")
    assert b"There is nothing here" in raw and "content-security-policy" in hdrs
    status, hdrs, _ = await request("GET", shared_server.url + "/api/nope")
    assert status == 404 and hdrs["content-type"] == "application/json"


async def test_static_files_revalidate_with_their_etag(shared_server: ServerProcess) -> None:
    url = shared_server.url + "/static/css/app.css"
    status, hdrs, body = await request("GET", url)
    assert status == 200 and body and hdrs["cache-control"] == "no-cache"
    etag = hdrs["etag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        status, _, body = await request("GET", url, headers={"if-none-match": header})
        assert (status, body) == (304, b"")
    status, _, _ = await request("GET", url, headers={"if-none-match": '"other"'})
    assert status == 200


async def test_room_codes_are_case_insensitive_in_the_api(shared_server: ServerProcess) -> None:
    _, room = await post_json(shared_server.url + "/api/rooms", {})
    status, body = await get_json(shared_server.url + f"/api/rooms/{room['code'].upper()}")
    assert (status, body["code"]) == (200, room["code"])


async def test_a_non_websocket_request_to_the_socket_is_refused_clearly(
    shared_server: ServerProcess,
) -> None:
    status, hdrs, raw = await request("GET", shared_server.url + "/socket/websocket?vsn=2.0.0")
    assert (status, hdrs["upgrade"]) == (426, "websocket")
    assert b'"error":"upgrade_required"' in raw
