"""RFC 6455 opening handshake and the phoenix.js authToken subprotocol."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri
from websockets.utils import accept_key as ws_accept_key

from sketchychat.websocket.frames import FrameParser, Ping, TextMessage, text_frame
from sketchychat.websocket.handshake import (
    PHOENIX_TOKEN_PREFIX,
    UpgradeError,
    accept_key,
    auth_token_from_subprotocols,
    split_subprotocols,
    switching_protocols_response,
    validate_upgrade,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
# RFC 6455 §1.3 spells out SHA-1 b37a4f2c...b2bec4ea, i.e. this value.
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

CHROME_HEADERS = {
    "host": "chat.example.com",
    "connection": "Upgrade",
    "pragma": "no-cache",
    "upgrade": "websocket",
    "origin": "https://chat.example.com",
    "sec-websocket-version": "13",
    "sec-websocket-key": RFC_KEY,
    "sec-websocket-protocol": "phoenix, base64url.bearer.phx.czNjcjN0LXRva2Vu",
    "sec-websocket-extensions": "permessage-deflate; client_max_window_bits",
}


def headers_with(**changes: str | None) -> dict[str, str]:
    """The Chrome-like request with header ``a_b`` set to a value or removed (None)."""
    headers = dict(CHROME_HEADERS)
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    return headers


# --- accept_key ---------------------------------------------------------------


def test_accept_key_rfc_example() -> None:
    # RFC 6455 §1.3.
    assert accept_key(RFC_KEY) == RFC_ACCEPT
    digest = bytes.fromhex("b37a4f2cc0624f1690f64606cf385945b2bec4ea")
    assert base64.b64decode(accept_key(RFC_KEY)) == digest


def test_accept_key_ignores_surrounding_whitespace() -> None:
    assert accept_key(f" \t{RFC_KEY} ") == RFC_ACCEPT


@given(st.binary(min_size=16, max_size=16))
def test_accept_key_matches_websockets(nonce: bytes) -> None:
    key = base64.b64encode(nonce).decode()
    assert accept_key(key) == ws_accept_key(key)


# --- validate_upgrade -----------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"connection": "keep-alive, Upgrade"},  # Firefox
        {"connection": "UPGRADE"},
        {"connection": "close,upgrade , keep-alive"},
        {"upgrade": "WebSocket"},
        {"upgrade": "h2c, websocket"},
        {"sec_websocket_version": " 13 "},
        {"sec_websocket_key": f" {RFC_KEY}\t"},
        {"sec_websocket_protocol": None, "origin": None, "sec_websocket_extensions": None},
    ],
)
def test_valid_handshakes(changes: dict[str, str | None]) -> None:
    assert validate_upgrade("GET", headers_with(**changes)) is None


@pytest.mark.parametrize("method", ["POST", "HEAD", "get", "CONNECT"])
def test_method_must_be_get(method: str) -> None:
    assert validate_upgrade(method, CHROME_HEADERS) == UpgradeError(
        405, "WebSocket handshake must use GET", (("Allow", "GET"),)
    )


@pytest.mark.parametrize("host", [None, "", "  "])
def test_host_required(host: str | None) -> None:
    error = validate_upgrade("GET", headers_with(host=host))
    assert error is not None
    assert error.status == 400


@pytest.mark.parametrize("upgrade", [None, "", "h2c", "websockets", "web socket"])
def test_upgrade_must_name_websocket(upgrade: str | None) -> None:
    assert validate_upgrade("GET", headers_with(upgrade=upgrade)) == UpgradeError(
        426,
        "expected Upgrade: websocket",
        (("Upgrade", "websocket"), ("Connection", "Upgrade")),
    )


@pytest.mark.parametrize("connection", [None, "", "keep-alive", "upgrade-insecure-requests"])
def test_connection_must_carry_upgrade_token(connection: str | None) -> None:
    error = validate_upgrade("GET", headers_with(connection=connection))
    assert error == UpgradeError(400, "Connection header lacks the upgrade token")


@pytest.mark.parametrize("version", [None, "", "8", "12", "13, 8", "<script>"])
def test_wrong_version_asks_for_13(version: str | None) -> None:
    error = validate_upgrade("GET", headers_with(sec_websocket_version=version))
    assert error is not None
    assert error.status == 426
    assert ("Sec-WebSocket-Version", "13") in error.headers
    assert ("Upgrade", "websocket") in error.headers
    assert "<script>" not in error.reason  # never echoes request data


@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "dGhlIHNhbXBsZSBub25jZQ",  # unpadded
        "dGhlIHNhbXBsZSBub25j",  # 15 bytes
        base64.b64encode(b"x" * 17).decode(),
        "dGhlIHNhbXBsZSBub25jZQ==dGhl",  # data after padding
        "dGhlIHNhbXBsZSBub25jZQ!!",
        "dGhlIHNhbXBs ZSBub25jZQ==",
        "dGhlIHNhbXBsZSBub25jZé==",
    ],
)
def test_key_must_be_base64_of_16_bytes(key: str | None) -> None:
    error = validate_upgrade("GET", headers_with(sec_websocket_key=key))
    assert error is not None
    assert error.status == 400
    assert error.headers == ()


def test_checks_follow_rfc_order() -> None:
    # Everything wrong: the method is reported first (§4.2.1 item 1).
    error = validate_upgrade("POST", {})
    assert error is not None
    assert error.status == 405


# --- subprotocols -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        (" , ,", []),
        ("phoenix", ["phoenix"]),
        (
            "phoenix, base64url.bearer.phx.czNjcjN0LXRva2Vu",
            ["phoenix", "base64url.bearer.phx.czNjcjN0LXRva2Vu"],
        ),
        ("a,b,,\tc ,  d", ["a", "b", "c", "d"]),
    ],
)
def test_split_subprotocols(value: str | None, expected: list[str]) -> None:
    assert split_subprotocols(value) == expected


def test_phoenix_auth_token_reference_case() -> None:
    offered = split_subprotocols(CHROME_HEADERS["sec-websocket-protocol"])
    assert auth_token_from_subprotocols(offered) == "s3cr3t-token"


def phoenix_offer(token: str, *, urlsafe: bool = False) -> str:
    """What phoenix.js 1.8 sends: btoa(token) minus '=' (btoa is standard base64)."""
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return PHOENIX_TOKEN_PREFIX + encode(token.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "s3cr3t-token",
        "a",  # "YQ", two padding characters removed
        "ab",  # "YWI", one removed
        "abc",  # "YWJj", none
        "SFMyNTY.gab?ab>~",  # btoa gives 'U0ZNeU5UWS5nYWI/YWI+fg', with '/' and '+'
        "jwt.é€.🔑",
    ],
)
@pytest.mark.parametrize("urlsafe", [False, True])
def test_phoenix_auth_token_roundtrip(token: str, urlsafe: bool) -> None:
    assert auth_token_from_subprotocols(["phoenix", phoenix_offer(token, urlsafe=urlsafe)]) == token


def test_phoenix_offer_alphabets_differ() -> None:
    # Guards the test above: the token really exercises '+' / '/' vs '-' / '_'.
    assert phoenix_offer("SFMyNTY.gab?ab>~") == PHOENIX_TOKEN_PREFIX + "U0ZNeU5UWS5nYWI/YWI+fg"
    urlsafe = phoenix_offer("SFMyNTY.gab?ab>~", urlsafe=True)
    assert urlsafe == PHOENIX_TOKEN_PREFIX + "U0ZNeU5UWS5nYWI_YWI-fg"


@given(st.text(min_size=1))
def test_phoenix_auth_token_property(token: str) -> None:
    assert auth_token_from_subprotocols(["phoenix", phoenix_offer(token)]) == token
    assert auth_token_from_subprotocols([phoenix_offer(token, urlsafe=True)]) == token


def test_phoenix_token_with_padding_kept() -> None:
    offer = PHOENIX_TOKEN_PREFIX + base64.b64encode(b"a").decode()
    assert auth_token_from_subprotocols([offer]) == "a"


@pytest.mark.parametrize(
    "offered",
    [
        [],
        ["phoenix"],
        ["czNjcjN0LXRva2Vu"],
        [PHOENIX_TOKEN_PREFIX],  # empty token
        [PHOENIX_TOKEN_PREFIX + "!!!!"],
        [PHOENIX_TOKEN_PREFIX + "czNjc"],  # 5 characters: not base64 of anything
        [PHOENIX_TOKEN_PREFIX + "cz=Njcj"],
        [PHOENIX_TOKEN_PREFIX + "czNj cjN0"],
        [PHOENIX_TOKEN_PREFIX + base64.b64encode(b"\xff\xfe").decode().rstrip("=")],  # not UTF-8
        [PHOENIX_TOKEN_PREFIX + "6Q"],  # btoa("é") is Latin-1, not UTF-8
        ["Base64url.Bearer.Phx.czNjcjN0LXRva2Vu"],  # subprotocols are case-sensitive
    ],
)
def test_phoenix_auth_token_absent_or_invalid(offered: list[str]) -> None:
    assert auth_token_from_subprotocols(offered) is None


def test_phoenix_first_token_entry_wins() -> None:
    offered = [phoenix_offer("first"), "phoenix", phoenix_offer("second")]
    assert auth_token_from_subprotocols(offered) == "first"


def test_phoenix_invalid_first_token_entry_means_no_token() -> None:
    offered = [PHOENIX_TOKEN_PREFIX + "!!", phoenix_offer("second")]
    assert auth_token_from_subprotocols(offered) is None


# --- 101 response ---------------------------------------------------------------


def test_switching_protocols_response() -> None:
    assert switching_protocols_response(RFC_ACCEPT, None) == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"\r\n"
    )


def test_switching_protocols_response_with_subprotocol() -> None:
    assert switching_protocols_response(RFC_ACCEPT, "phoenix") == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: phoenix\r\n"
        b"\r\n"
    )


@pytest.mark.parametrize("subprotocol", ["", "a b", "phoenix\r\nSet-Cookie: x=1", "a,b", "é"])
def test_switching_protocols_refuses_non_token_subprotocol(subprotocol: str) -> None:
    with pytest.raises(ValueError, match="token"):
        switching_protocols_response(RFC_ACCEPT, subprotocol)


@pytest.mark.parametrize("accept", ["", RFC_ACCEPT[:-1], RFC_ACCEPT[:-1] + "\n", "x" * 27 + "é"])
def test_switching_protocols_refuses_bad_accept(accept: str) -> None:
    with pytest.raises(ValueError, match="accept"):
        switching_protocols_response(accept, None)


# --- End to end against the websockets sans-I/O client ---------------------------


def test_websockets_client_handshake_and_frames() -> None:
    client = ClientProtocol(
        parse_uri("ws://chat.example.com/socket/websocket?vsn=2.0.0"),
        subprotocols=[Subprotocol("phoenix"), Subprotocol(phoenix_offer("s3cr3t-token"))],
    )
    request = client.connect()
    client.send_request(request)
    assert client.data_to_send()  # the request bytes; their parsing is httptools' job

    headers = {name.lower(): ", ".join(request.headers.get_all(name)) for name in request.headers}
    assert validate_upgrade("GET", headers) is None
    offered = split_subprotocols(headers.get("sec-websocket-protocol"))
    assert auth_token_from_subprotocols(offered) == "s3cr3t-token"
    chosen = "phoenix" if "phoenix" in offered else None

    client.receive_data(
        switching_protocols_response(accept_key(headers["sec-websocket-key"]), chosen)
    )
    [response] = client.events_received()
    assert isinstance(response, Response)
    assert response.status_code == 101
    assert client.state is State.OPEN
    assert client.subprotocol == "phoenix"

    client.send_text(b'["1","1","room:lobby","phx_join",{}]')
    client.send_ping(b"hb")
    parser = FrameParser(1 << 20)
    events = [event for chunk in client.data_to_send() for event in parser.feed(chunk)]
    assert events == [TextMessage(b'["1","1","room:lobby","phx_join",{}]'), Ping(b"hb")]

    client.receive_data(text_frame(b'["1","1","room:lobby","phx_reply",{}]'))
    [frame] = client.events_received()
    assert isinstance(frame, WsFrame)
    assert frame.opcode is WsOpcode.TEXT
    assert frame.data == b'["1","1","room:lobby","phx_reply",{}]'
