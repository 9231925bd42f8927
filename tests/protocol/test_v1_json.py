"""V1 serializer: JSON objects in, objects without join_ref out (protocol.md §2.2)."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sketchychat.protocol.message import Message
from sketchychat.protocol.serializer import DecodeError, Serializer
from sketchychat.protocol.v1_json import V1_JSON, V1JSONSerializer


def decode_error(data: bytes, *, binary: bool = False) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        V1_JSON.decode(data, binary=binary)
    return info.value


def test_v1_serializer_announces_vsn_1_0_0() -> None:
    assert V1_JSON.vsn == "1.0.0"
    assert isinstance(V1_JSON, V1JSONSerializer)


def test_v1_serializer_satisfies_the_serializer_protocol() -> None:
    serializer: Serializer = V1_JSON
    assert serializer.vsn == "1.0.0"


# -- encoding -----------------------------------------------------------------------


def test_reply_is_an_object_without_join_ref() -> None:
    frame = V1_JSON.encode_reply("6", "7", "room:lobby", "ok", {"hello": "world"})
    assert frame.binary is False
    assert frame.data == (
        b'{"topic":"room:lobby","event":"phx_reply",'
        b'"payload":{"status":"ok","response":{"hello":"world"}},"ref":"7"}'
    )


def test_push_is_an_object_without_join_ref() -> None:
    frame = V1_JSON.encode_push("6", None, "room:lobby", "direct", {"body": "push"})
    assert frame.data == (
        b'{"topic":"room:lobby","event":"direct","payload":{"body":"push"},"ref":null}'
    )


def test_phx_close_keeps_the_join_ref_only_as_ref() -> None:
    frame = V1_JSON.encode_push("14", "14", "room:lobby", "phx_close", {})
    assert frame.data == b'{"topic":"room:lobby","event":"phx_close","payload":{},"ref":"14"}'


def test_broadcast_has_a_null_ref() -> None:
    frame = V1_JSON.encode_broadcast("room:lobby", "shout", {"body": "broadcast"})
    assert frame.binary is False
    assert frame.data == (
        b'{"topic":"room:lobby","event":"shout","payload":{"body":"broadcast"},"ref":null}'
    )


def test_heartbeat_reply_in_v1() -> None:
    frame = V1_JSON.encode_reply(None, "9", "phoenix", "ok", {})
    assert frame.data == (
        b'{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"9"}'
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: V1_JSON.encode_reply("1", "2", "t", "ok", b"bin"),
        lambda: V1_JSON.encode_push("1", None, "t", "e", b"bin"),
        lambda: V1_JSON.encode_broadcast("t", "e", b"bin"),
    ],
)
def test_bytes_payloads_cannot_be_encoded_in_v1(call: Any) -> None:
    with pytest.raises(ValueError, match="binary"):
        call()


# -- decoding -----------------------------------------------------------------------


def test_a_message_with_every_field_decodes() -> None:
    raw = b'{"topic":"room:lobby","event":"ping","payload":{"n":1},"ref":"10","join_ref":"6"}'
    assert V1_JSON.decode(raw, binary=False) == Message("6", "10", "room:lobby", "ping", {"n": 1})


def test_a_message_without_join_ref_has_a_null_join_ref() -> None:
    raw = b'{"topic":"room:lobby","event":"ping","payload":{},"ref":"10"}'
    assert V1_JSON.decode(raw, binary=False) == Message(None, "10", "room:lobby", "ping", {})


def test_a_join_without_join_ref_uses_its_ref_as_join_ref() -> None:
    raw = b'{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1"}'
    assert V1_JSON.decode(raw, binary=False) == Message("1", "1", "room:lobby", "phx_join", {})


def test_a_join_with_null_join_ref_uses_its_ref_as_join_ref() -> None:
    # Phoenix's channel server takes ``join_ref || ref``.
    raw = b'{"topic":"t","event":"phx_join","payload":{},"ref":"1","join_ref":null}'
    assert V1_JSON.decode(raw, binary=False) == Message("1", "1", "t", "phx_join", {})


def test_a_join_with_its_own_join_ref_keeps_it() -> None:
    raw = b'{"topic":"t","event":"phx_join","payload":{},"ref":"2","join_ref":"1"}'
    assert V1_JSON.decode(raw, binary=False) == Message("1", "2", "t", "phx_join", {})


def test_a_null_ref_is_allowed_when_the_key_is_present() -> None:
    raw = b'{"topic":"t","event":"e","payload":{},"ref":null}'
    assert V1_JSON.decode(raw, binary=False) == Message(None, None, "t", "e", {})


def test_a_heartbeat_in_v1_decodes() -> None:
    raw = b'{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"}'
    assert V1_JSON.decode(raw, binary=False) == Message(None, "3", "phoenix", "heartbeat", {})


def test_unknown_keys_are_ignored() -> None:
    raw = b'{"topic":"t","event":"e","payload":{},"ref":"1","extra":[1]}'
    assert V1_JSON.decode(raw, binary=False) == Message(None, "1", "t", "e", {})


def test_json_in_a_binary_frame_decodes_like_text() -> None:
    # Phoenix's V1 serializer ignores the frame type; phx-events (PyPI) sends every
    # message as a binary frame, a join with a null ref included.
    raw = b'{"topic":"room:x","ref":null,"payload":{},"event":"phx_join"}'
    assert V1_JSON.decode(raw, binary=True) == V1_JSON.decode(raw, binary=False)
    assert V1_JSON.decode(raw, binary=True) == Message(None, None, "room:x", "phx_join", {})


def test_a_binary_frame_that_is_not_json_is_malformed_json() -> None:
    error = decode_error(b"\x00\x01\x01\x01\x01" + b"12te", binary=True)
    assert error.reason == "malformed_json"


@pytest.mark.parametrize(
    "raw", [b"", b"nope", b'{"topic":', b"\xff", b'{"topic":"\xc3"}', b'{"x":"\\udc00"}']
)
def test_text_that_is_not_json_or_not_utf8_is_malformed_json(raw: bytes) -> None:
    assert decode_error(raw).reason == "malformed_json"


def test_a_v2_array_sent_to_v1_is_an_invalid_message() -> None:
    error = decode_error(b'["1","2","t","e",{}]')
    assert (error.reason, error.join_ref, error.ref, error.topic) == (
        "invalid_message",
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("raw", "join_ref", "ref", "topic"),
    [
        (b"{}", None, None, None),
        (b'{"event":"e","payload":{},"ref":"1"}', None, "1", None),
        (b'{"topic":"t","payload":{},"ref":"1"}', None, "1", "t"),
        (b'{"topic":"t","event":"e","ref":"1"}', None, "1", "t"),
        (b'{"topic":"t","event":"e","payload":{}}', None, None, "t"),
        (b'{"topic":"t","event":"e","payload":{},"join_ref":"5"}', "5", None, "t"),
        (b'{"topic":"","event":"e","payload":{},"ref":"1"}', None, "1", ""),
        (b'{"topic":1,"event":"e","payload":{},"ref":"1"}', None, "1", None),
        (b'{"topic":"t","event":"","payload":{},"ref":"1"}', None, "1", "t"),
        (b'{"topic":"t","event":2,"payload":{},"ref":"1"}', None, "1", "t"),
        (b'{"topic":"t","event":"e","payload":[],"ref":"1"}', None, "1", "t"),
        (b'{"topic":"t","event":"e","payload":"m","ref":"1"}', None, "1", "t"),
        (b'{"topic":"t","event":"e","payload":{},"ref":1}', None, None, "t"),
        (b'{"topic":"t","event":"e","payload":{},"ref":"1","join_ref":6}', None, "1", "t"),
    ],
)
def test_missing_keys_and_wrong_types_are_invalid_but_keep_readable_refs(
    raw: bytes, join_ref: str | None, ref: str | None, topic: str | None
) -> None:
    error = decode_error(raw)
    assert error.reason == "invalid_message"
    assert (error.join_ref, error.ref, error.topic) == (join_ref, ref, topic)


# -- properties -------------------------------------------------------------------------

utf8_text = st.text(st.characters(codec="utf-8"), max_size=20)
names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)
payloads = st.dictionaries(utf8_text, st.none() | st.integers(-(2**53), 2**53) | utf8_text)


@given(ref=st.none() | utf8_text, topic=names, event=names, payload=payloads)
def test_pushes_decode_back_without_their_join_ref(
    ref: str | None, topic: str, event: str, payload: dict[str, Any]
) -> None:
    frame = V1_JSON.encode_push("join", ref, topic, event, payload)
    assert orjson.loads(frame.data) == {
        "topic": topic,
        "event": event,
        "payload": payload,
        "ref": ref,
    }
    decoded = V1_JSON.decode(frame.data, binary=False)
    expected_join_ref = ref if event == "phx_join" else None
    assert decoded == Message(expected_join_ref, ref, topic, event, payload)


@given(data=st.binary(max_size=200), as_binary=st.booleans())
def test_decoding_arbitrary_bytes_raises_nothing_but_decode_error(
    data: bytes, as_binary: bool
) -> None:
    with contextlib.suppress(DecodeError):
        V1_JSON.decode(data, binary=as_binary)
