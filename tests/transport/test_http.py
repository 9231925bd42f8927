from __future__ import annotations

import pytest

from sketchychat.transport.http import HttpError, Request, Response, Router


async def ok(_: Request) -> Response:
    return Response(200)


def test_query_strings_keep_the_last_value_like_plug() -> None:
    req = Request.build("GET", "/socket/websocket?token=a&vsn=2.0.0&token=b", {}, b"")
    assert req.path == "/socket/websocket"
    assert req.query == {"token": "b", "vsn": "2.0.0"}


def test_json_bodies_need_the_json_content_type() -> None:
    req = Request("POST", "/", {}, {"content-type": "text/plain"}, b"{}")
    with pytest.raises(HttpError) as err:
        req.json()
    assert err.value.status == 400
    assert Request(
        "POST", "/", {}, {"content-type": "application/json; charset=utf-8"}, b'{"a":1}'
    ).json() == {"a": 1}


def test_malformed_json_is_a_400() -> None:
    req = Request("POST", "/", {}, {"content-type": "application/json"}, b"{")
    with pytest.raises(HttpError) as err:
        req.json()
    assert (err.value.status, err.value.code) == (400, "invalid_json")


def test_routes_capture_segments_and_paths() -> None:
    router = Router()
    router.add("GET", "/r/<code>", ok)
    router.add("GET", "/static/<path:path>", ok)
    assert router.resolve("GET", "/r/abc") == (ok, {"code": "abc"})
    assert router.resolve("GET", "/static/js/app.js") == (ok, {"path": "js/app.js"})
    assert router.resolve("HEAD", "/r/abc") == (ok, {"code": "abc"})
    missing = router.resolve("GET", "/r/abc/def")
    assert isinstance(missing, Response) and missing.status == 404


def test_a_wrong_method_is_405_with_allow() -> None:
    router = Router()
    router.add("POST", "/api/rooms", ok)
    resp = router.resolve("DELETE", "/api/rooms")
    assert isinstance(resp, Response) and resp.status == 405
    assert ("allow", "POST") in resp.headers


def test_responses_encode_status_length_and_safety_headers() -> None:
    raw = Response(201, b'{"a":1}').encode(keep_alive=True)
    head, body = raw.split(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 Created\r\n")
    assert b"content-length: 7" in head and b"connection: keep-alive" in head
    assert b"x-content-type-options: nosniff" in head and body == b'{"a":1}'
    assert Response(200, b"xyz").encode(keep_alive=False, head=True).endswith(b"\r\n\r\n")
