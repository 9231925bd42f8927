"""V2 serializer: golden frames (exact bytes), decoding, and round trips.

Frames as ``docs/protocol.md`` §2.1 quotes them (the traced
session between phoenix.js 1.8.16 and a test server) are used verbatim.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sketchychat.protocol.message import Frame, Message
from sketchychat.protocol.serializer import DecodeError, Serializer
from sketchychat.protocol.v2_json import V2_JSON, V2JSONSerializer

# -- helpers ------------------------------------------------------------------


def text(frame: Frame) -> bytes:
    assert frame.binary is False
    return frame.data


def binary(frame: Frame) -> bytes:
    assert frame.binary is True
    return frame.data


def client_binary_push(join_ref: str, ref: str, topic: str, event: str, payload: bytes) -> bytes:
    """Build a client→server kind 0 frame the way phoenix.js ``binaryEncode`` does."""
    fields = [f.encode() for f in (join_ref, ref, topic, event)]
    return bytes([0, *(len(f) for f in fields)]) + b"".join(fields) + payload


def decode_error(data: bytes, *, binary: bool = False) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        V2_JSON.decode(data, binary=binary)
    return info.value


def parse_server_binary(data: bytes) -> dict[str, Any]:
    """Read a server→client binary frame the way phoenix.js ``binaryDecode`` does."""
    kind = data[0]
    names: tuple[str, ...]
    if kind == 0:  # decodePush: kind, len join_ref, len topic, len event
        sizes, offset, names = data[1:4], 4, ("join_ref", "topic", "event")
    elif kind == 1:  # decodeReply: kind, len join_ref, len ref, len topic, len status
        sizes, offset, names = data[1:5], 5, ("join_ref", "ref", "topic", "status")
    elif kind == 2:  # decodeBroadcast: kind, len topic, len event
        sizes, offset, names = data[1:3], 3, ("topic", "event")
    else:
        raise AssertionError(f"unknown kind {kind}")
    out: dict[str, Any] = {"kind": kind}
    for name, size in zip(names, sizes, strict=True):
        out[name] = data[offset : offset + size].decode()
        offset += size
    out["payload"] = data[offset:]
    return out


# -- the serializer as a whole ------------------------------------------------------


def test_v2_serializer_announces_vsn_2_0_0() -> None:
    assert V2_JSON.vsn == "2.0.0"
    assert isinstance(V2_JSON, V2JSONSerializer)


def test_v2_serializer_satisfies_the_serializer_protocol() -> None:
    serializer: Serializer = V2_JSON
    assert serializer.vsn == "2.0.0"


# -- golden text frames -----------------------------------------------------------


def test_join_reply_matches_the_traced_frame() -> None:
    frame = V2_JSON.encode_reply("6", "6", "room:lobby", "ok", {"hello": "world"})
    assert text(frame) == (
        b'["6","6","room:lobby","phx_reply",{"status":"ok","response":{"hello":"world"}}]'
    )


def test_push_reply_matches_the_traced_frame() -> None:
    frame = V2_JSON.encode_reply("6", "10", "room:lobby", "ok", {"pong": {"n": 1}})
    assert text(frame) == (
        b'["6","10","room:lobby","phx_reply",{"status":"ok","response":{"pong":{"n":1}}}]'
    )


def test_heartbeat_reply_matches_the_traced_frame() -> None:
    frame = V2_JSON.encode_reply(None, "9", "phoenix", "ok", {})
    assert text(frame) == b'[null,"9","phoenix","phx_reply",{"status":"ok","response":{}}]'


def test_error_reply_matches_the_traced_frame() -> None:
    frame = V2_JSON.encode_reply("9", "9", "room:bad", "error", {"reason": "unauthorized"})
    assert text(frame) == (
        b'["9","9","room:bad","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]'
    )


def test_leave_reply_matches_the_traced_frame() -> None:
    frame = V2_JSON.encode_reply("14", "18", "room:lobby", "ok", {})
    assert text(frame) == b'["14","18","room:lobby","phx_reply",{"status":"ok","response":{}}]'


def test_unmatched_topic_reply_has_a_null_join_ref() -> None:
    frame = V2_JSON.encode_reply(None, "3", "nope", "error", {"reason": "unmatched topic"})
    assert text(frame) == (
        b'[null,"3","nope","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]'
    )


def test_channel_push_matches_the_traced_frame() -> None:
    frame = V2_JSON.encode_push("6", None, "room:lobby", "direct", {"body": "push"})
    assert text(frame) == b'["6",null,"room:lobby","direct",{"body":"push"}]'


def test_presence_state_push_matches_the_traced_frame() -> None:
    state = {"u1": {"metas": [{"phx_ref": "AAAA", "online_at": 1}]}}
    frame = V2_JSON.encode_push("6", None, "room:lobby", "presence_state", state)
    assert text(frame) == (
        b'["6",null,"room:lobby","presence_state",'
        b'{"u1":{"metas":[{"phx_ref":"AAAA","online_at":1}]}}]'
    )


def test_broadcast_matches_the_traced_frame() -> None:
    frame = V2_JSON.encode_broadcast("room:lobby", "shout", {"body": "broadcast"})
    assert text(frame) == b'[null,null,"room:lobby","shout",{"body":"broadcast"}]'


def test_presence_diff_broadcast_has_both_refs_null() -> None:
    diff: dict[str, Any] = {"joins": {"u2": {"metas": []}}, "leaves": {}}
    frame = V2_JSON.encode_broadcast("room:lobby", "presence_diff", diff)
    assert text(frame) == (
        b'[null,null,"room:lobby","presence_diff",{"joins":{"u2":{"metas":[]}},"leaves":{}}]'
    )


def test_phx_close_carries_the_join_ref_as_both_refs() -> None:
    frame = V2_JSON.encode_push("14", "14", "room:lobby", "phx_close", {})
    assert text(frame) == b'["14","14","room:lobby","phx_close",{}]'


def test_phx_error_matches_the_traced_frame() -> None:
    frame = V2_JSON.encode_push("6", "6", "room:lobby", "phx_error", {"reason": "channel_crash"})
    assert text(frame) == b'["6","6","room:lobby","phx_error",{"reason":"channel_crash"}]'


def test_text_frames_are_compact_and_keep_non_ascii_as_raw_utf8() -> None:
    frame = V2_JSON.encode_broadcast("room:café", "new_msg", {"body": "héllo 🎉", "n": [1, 2]})
    assert text(frame) == (
        '[null,null,"room:café","new_msg",{"body":"héllo 🎉","n":[1,2]}]'.encode()
    )


def test_refs_are_echoed_as_the_exact_strings_given() -> None:
    frame = V2_JSON.encode_reply("007", " 7", "t", "ok", {})
    assert text(frame) == b'["007"," 7","t","phx_reply",{"status":"ok","response":{}}]'


def test_reply_status_may_be_any_string() -> None:
    frame = V2_JSON.encode_reply("1", "2", "t", "timeout", {})
    assert text(frame) == b'["1","2","t","phx_reply",{"status":"timeout","response":{}}]'


def test_an_unserializable_payload_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        V2_JSON.encode_push("1", None, "t", "e", {"x": object()})


# -- golden binary frames ------------------------------------------------------------


def test_binary_push_has_a_four_byte_header_and_no_ref() -> None:
    frame = V2_JSON.encode_push("6", "99", "room:lobby", "binpush", b"hi")
    assert (
        binary(frame)
        == bytes(
            [
                0x00,  # kind: push
                0x01,  # len(join_ref) = len("6")
                0x0A,  # len(topic) = len("room:lobby")
                0x07,  # len(event) = len("binpush")
            ]
        )
        + b"6"
        + b"room:lobby"
        + b"binpush"
        + b"hi"
    )


def test_binary_push_with_null_join_ref_has_an_empty_join_ref_field() -> None:
    frame = V2_JSON.encode_push(None, None, "t", "e", b"\x00\xff")
    assert (
        binary(frame)
        == bytes(
            [
                0x00,  # kind: push
                0x00,  # len(join_ref): null is sent as ""
                0x01,  # len(topic)
                0x01,  # len(event)
            ]
        )
        + b"t"
        + b"e"
        + b"\x00\xff"
    )


def test_binary_reply_has_a_five_byte_header_with_ref_and_status() -> None:
    frame = V2_JSON.encode_reply("6", "11", "room:lobby", "ok", b"\x01\x02\x03")
    assert (
        binary(frame)
        == bytes(
            [
                0x01,  # kind: reply
                0x01,  # len(join_ref) = len("6")
                0x02,  # len(ref) = len("11")
                0x0A,  # len(topic) = len("room:lobby")
                0x02,  # len(status) = len("ok")
            ]
        )
        + b"6"
        + b"11"
        + b"room:lobby"
        + b"ok"
        + b"\x01\x02\x03"
    )


def test_binary_reply_with_null_refs_and_error_status() -> None:
    frame = V2_JSON.encode_reply(None, None, "t", "error", b"")
    assert (
        binary(frame)
        == bytes(
            [
                0x01,  # kind: reply
                0x00,  # len(join_ref): null
                0x00,  # len(ref): null
                0x01,  # len(topic)
                0x05,  # len(status) = len("error")
            ]
        )
        + b"t"
        + b"error"
    )


def test_binary_broadcast_has_a_three_byte_header() -> None:
    frame = V2_JSON.encode_broadcast("room:lobby", "shout", b"\xde\xad")
    assert (
        binary(frame)
        == bytes(
            [
                0x02,  # kind: broadcast
                0x0A,  # len(topic) = len("room:lobby")
                0x05,  # len(event) = len("shout")
            ]
        )
        + b"room:lobby"
        + b"shout"
        + b"\xde\xad"
    )


def test_binary_field_lengths_count_utf8_bytes_not_characters() -> None:
    frame = V2_JSON.encode_broadcast("room:café", "🎉", b"")
    assert (
        binary(frame)
        == bytes(
            [
                0x02,  # kind: broadcast
                0x0A,  # len(topic): "room:" is 5 bytes, "café" is 5 bytes
                0x04,  # len(event): one 4-byte emoji
            ]
        )
        + "room:café".encode()
        + "🎉".encode()
    )


def test_binary_fields_of_255_bytes_are_accepted() -> None:
    topic = "t" * 255
    frame = V2_JSON.encode_broadcast(topic, "e", b"x")
    assert binary(frame)[:3] == bytes([0x02, 0xFF, 0x01])


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("topic", lambda big: V2_JSON.encode_broadcast(big, "e", b"")),
        ("event", lambda big: V2_JSON.encode_broadcast("t", big, b"")),
        ("join_ref", lambda big: V2_JSON.encode_push(big, None, "t", "e", b"")),
        ("topic", lambda big: V2_JSON.encode_push("1", None, big, "e", b"")),
        ("event", lambda big: V2_JSON.encode_push("1", None, "t", big, b"")),
        ("join_ref", lambda big: V2_JSON.encode_reply(big, "1", "t", "ok", b"")),
        ("ref", lambda big: V2_JSON.encode_reply("1", big, "t", "ok", b"")),
        ("topic", lambda big: V2_JSON.encode_reply("1", "1", big, "ok", b"")),
        ("status", lambda big: V2_JSON.encode_reply("1", "1", "t", big, b"")),
    ],
)
def test_binary_fields_over_255_utf8_bytes_raise_value_error(field: str, call: Any) -> None:
    # 128 two-byte characters: 128 characters but 256 bytes.
    with pytest.raises(ValueError, match=field):
        call("é" * 128)


# -- decoding text frames ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b'["6","6","room:lobby","phx_join",{"user":"alice"}]',
            Message("6", "6", "room:lobby", "phx_join", {"user": "alice"}),
        ),
        (b'["9","9","room:bad","phx_join",{}]', Message("9", "9", "room:bad", "phx_join", {})),
        (
            b'["6","10","room:lobby","ping",{"n":1}]',
            Message("6", "10", "room:lobby", "ping", {"n": 1}),
        ),
        (
            b'["9","12","room:bad","phx_leave",{}]',
            Message("9", "12", "room:bad", "phx_leave", {}),
        ),
        (b'["6","13","room:lobby","crash",{}]', Message("6", "13", "room:lobby", "crash", {})),
        (b'[null,"9","phoenix","heartbeat",{}]', Message(None, "9", "phoenix", "heartbeat", {})),
        (
            b'["14","14","room:lobby","phx_join",{"user":"alice"}]',
            Message("14", "14", "room:lobby", "phx_join", {"user": "alice"}),
        ),
        (b'["3","6","room:x","phx_leave",{}]', Message("3", "6", "room:x", "phx_leave", {})),
        (
            b'["7","7","room:x","phx_join",{"n":2}]',
            Message("7", "7", "room:x", "phx_join", {"n": 2}),
        ),
    ],
)
def test_traced_client_frames_decode_to_messages(raw: bytes, expected: Message) -> None:
    assert V2_JSON.decode(raw, binary=False) == expected


def test_both_refs_may_be_null() -> None:
    assert V2_JSON.decode(b'[null,null,"t","e",{}]', binary=False) == Message(
        None, None, "t", "e", {}
    )


def test_extra_trailing_elements_are_tolerated_as_phoenix_does() -> None:
    raw = b'["1","2","t","e",{"a":1},"extra",null,[1]]'
    assert V2_JSON.decode(raw, binary=False) == Message("1", "2", "t", "e", {"a": 1})


def test_whitespace_around_the_json_is_accepted() -> None:
    raw = b' \n[ "1" , "2" , "t" , "e" , { } ]\t'
    assert V2_JSON.decode(raw, binary=False) == Message("1", "2", "t", "e", {})


def test_non_ascii_fields_decode_from_utf8() -> None:
    raw = '["1","2","room:ünï","émoji🎉",{"body":"ç"}]'.encode()
    assert V2_JSON.decode(raw, binary=False) == Message(
        "1", "2", "room:ünï", "émoji🎉", {"body": "ç"}
    )


def test_escaped_characters_in_fields_are_unescaped() -> None:
    raw = b'["1","2","room:\\u00e9","e\\n",{}]'
    assert V2_JSON.decode(raw, binary=False) == Message("1", "2", "room:é", "e\n", {})


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'["1","2","t","e",{}',
        b'["1","2","t","e",{}] trailing',
        b"[NaN]",
        b'["1",\'2\',"t","e",{}]',
        b"[" * 2000 + b"]" * 2000,
    ],
)
def test_text_that_is_not_json_is_malformed_json(raw: bytes) -> None:
    error = decode_error(raw)
    assert error.reason == "malformed_json"
    assert (error.join_ref, error.ref, error.topic) == (None, None, None)


@pytest.mark.parametrize(
    "raw",
    [
        b'["1","2","t","e",{"body":"\xff"}]',
        b'["1","2","t\xc3","e",{}]',
        b'["1","2","t","e",{"x":"\xed\xa0\x80"}]',
        b'["1","2","t","e",{"x":"\\ud800"}]',
    ],
)
def test_text_that_is_not_utf8_is_malformed_json(raw: bytes) -> None:
    assert decode_error(raw).reason == "malformed_json"


@pytest.mark.parametrize("raw", [b"{}", b'{"topic":"t"}', b'"str"', b"1", b"null", b"true"])
def test_json_that_is_not_an_array_is_an_invalid_message(raw: bytes) -> None:
    error = decode_error(raw)
    assert error.reason == "invalid_message"
    assert (error.join_ref, error.ref, error.topic) == (None, None, None)


@pytest.mark.parametrize(
    ("raw", "join_ref", "ref", "topic"),
    [
        (b"[]", None, None, None),
        (b'["1"]', "1", None, None),
        (b'["1","2"]', "1", "2", None),
        (b'["1","2","t"]', "1", "2", "t"),
        (b'["1","2","t","e"]', "1", "2", "t"),
    ],
)
def test_arrays_shorter_than_five_are_invalid_but_keep_readable_refs(
    raw: bytes, join_ref: str | None, ref: str | None, topic: str | None
) -> None:
    error = decode_error(raw)
    assert error.reason == "invalid_message"
    assert (error.join_ref, error.ref, error.topic) == (join_ref, ref, topic)


@pytest.mark.parametrize(
    ("raw", "join_ref", "ref", "topic"),
    [
        # join_ref / ref must be strings or null: a number 6 is not "6" (§2.1)
        (b'[6,"6","t","e",{}]', None, "6", "t"),
        (b'["6",6,"t","e",{}]', "6", None, "t"),
        (b'[true,"6","t","e",{}]', None, "6", "t"),
        (b'[["6"],"6","t","e",{}]', None, "6", "t"),
        (b'["6",{"r":1},"t","e",{}]', "6", None, "t"),
        # topic and event: non-empty strings
        (b'["1","2",null,"e",{}]', "1", "2", None),
        (b'["1","2",7,"e",{}]', "1", "2", None),
        (b'["1","2","","e",{}]', "1", "2", ""),
        (b'["1","2","t",null,{}]', "1", "2", "t"),
        (b'["1","2","t",1,{}]', "1", "2", "t"),
        (b'["1","2","t","",{}]', "1", "2", "t"),
        # payload: a JSON object
        (b'["1","2","t","e",[]]', "1", "2", "t"),
        (b'["1","2","t","e","m"]', "1", "2", "t"),
        (b'["1","2","t","e",null]', "1", "2", "t"),
        (b'["1","2","t","e",1]', "1", "2", "t"),
        (b'["1","2","t","e",false]', "1", "2", "t"),
    ],
)
def test_wrong_types_are_invalid_but_keep_readable_refs(
    raw: bytes, join_ref: str | None, ref: str | None, topic: str | None
) -> None:
    error = decode_error(raw)
    assert error.reason == "invalid_message"
    assert (error.join_ref, error.ref, error.topic) == (join_ref, ref, topic)


def test_decode_error_is_a_value_error_whose_message_is_the_reason() -> None:
    error = decode_error(b"[]")
    assert isinstance(error, ValueError)
    assert str(error) == "invalid_message"


# -- decoding binary frames -------------------------------------------------------------


def test_traced_binary_client_push_decodes() -> None:
    # §8: 00 01 02 0a 07 "6" "11" "room:lobby" "binpush" "hi"
    raw = bytes([0x00, 0x01, 0x02, 0x0A, 0x07]) + b"6" + b"11" + b"room:lobby" + b"binpush" + b"hi"
    assert V2_JSON.decode(raw, binary=True) == Message("6", "11", "room:lobby", "binpush", b"hi")


def test_binary_client_push_payload_is_raw_bytes_including_non_utf8() -> None:
    raw = client_binary_push("1", "2", "t", "e", b"\xff\x00\xfe")
    message = V2_JSON.decode(raw, binary=True)
    assert message.payload == b"\xff\x00\xfe"
    assert type(message.payload) is bytes


def test_binary_client_push_may_have_an_empty_payload() -> None:
    raw = client_binary_push("1", "2", "t", "e", b"")
    assert V2_JSON.decode(raw, binary=True) == Message("1", "2", "t", "e", b"")


def test_binary_client_push_with_non_ascii_fields_decodes_utf8() -> None:
    raw = client_binary_push("ü1", "€2", "room:café", "émoji🎉", b"data")
    assert raw[1:5] == bytes([3, 4, 10, 10])  # UTF-8 byte lengths, not characters
    assert V2_JSON.decode(raw, binary=True) == Message("ü1", "€2", "room:café", "émoji🎉", b"data")


def test_binary_client_push_keeps_empty_refs_as_empty_strings() -> None:
    # Phoenix reads zero-length fields as "" (not nil); so do we.
    raw = client_binary_push("", "", "t", "e", b"x")
    assert V2_JSON.decode(raw, binary=True) == Message("", "", "t", "e", b"x")


def test_binary_client_push_with_255_byte_fields_decodes() -> None:
    big = "x" * 255
    raw = client_binary_push(big, big, big, big, b"p")
    assert V2_JSON.decode(raw, binary=True) == Message(big, big, big, big, b"p")


@pytest.mark.parametrize("kind", [1, 2, 3, 0x7F, 0xFF])
def test_binary_frames_of_any_kind_but_push_are_invalid(kind: int) -> None:
    raw = bytes([kind]) + client_binary_push("1", "2", "t", "e", b"x")[1:]
    error = decode_error(raw, binary=True)
    assert error.reason == "invalid_message"
    assert (error.join_ref, error.ref, error.topic) == (None, None, None)


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\x00\x01\x01\x01"])
def test_binary_frames_shorter_than_the_header_are_invalid(raw: bytes) -> None:
    assert decode_error(raw, binary=True).reason == "invalid_message"


@pytest.mark.parametrize(
    ("cut", "join_ref", "ref", "topic"),
    [
        (5, None, None, None),  # header only
        (6, "1", None, None),  # join_ref complete, ref missing
        (7, "1", None, None),  # ref cut short
        (8, "1", "22", None),  # topic missing
        (10, "1", "22", None),  # topic cut short
        (12, "1", "22", "ttt"),  # event cut short
    ],
)
def test_truncated_binary_frames_are_invalid_but_keep_complete_fields(
    cut: int, join_ref: str | None, ref: str | None, topic: str | None
) -> None:
    raw = client_binary_push("1", "22", "ttt", "eee", b"")
    assert len(raw) == 14
    error = decode_error(raw[:cut], binary=True)
    assert error.reason == "invalid_message"
    assert (error.join_ref, error.ref, error.topic) == (join_ref, ref, topic)


def test_binary_fields_that_are_not_utf8_are_invalid() -> None:
    raw = bytes([0, 1, 1, 2, 1]) + b"1" + b"2" + b"\xc3\x28" + b"e" + b"payload"
    error = decode_error(raw, binary=True)
    assert error.reason == "invalid_message"
    assert (error.join_ref, error.ref, error.topic) == ("1", "2", None)


def test_binary_event_that_is_not_utf8_is_invalid() -> None:
    raw = bytes([0, 1, 1, 1, 1]) + b"1" + b"2" + b"t" + b"\xff"
    error = decode_error(raw, binary=True)
    assert (error.reason, error.topic) == ("invalid_message", "t")


@pytest.mark.parametrize(
    ("topic", "event"), [("", "e"), ("t", ""), ("", "")], ids=["topic", "event", "both"]
)
def test_binary_push_with_empty_topic_or_event_is_invalid(topic: str, event: str) -> None:
    error = decode_error(client_binary_push("1", "2", topic, event, b""), binary=True)
    assert (error.reason, error.join_ref, error.ref) == ("invalid_message", "1", "2")


def test_text_bytes_sent_as_a_binary_frame_are_invalid() -> None:
    # '[' is 0x5b: not kind 0.
    assert decode_error(b'["1","2","t","e",{}]', binary=True).reason == "invalid_message"


def test_a_binary_push_sent_as_a_text_frame_is_malformed_json() -> None:
    raw = client_binary_push("1", "2", "t", "e", b"x")
    assert decode_error(raw, binary=False).reason == "malformed_json"


# -- properties -------------------------------------------------------------------------

utf8_text = st.text(st.characters(codec="utf-8"), max_size=20)
names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)
refs = st.none() | utf8_text
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | utf8_text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(utf8_text, inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(utf8_text, json_values, max_size=5)


def short(max_bytes: int = 255) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8"), max_size=40).filter(
        lambda s: len(s.encode()) <= max_bytes
    )


@given(join_ref=refs, ref=refs, topic=names, event=names, payload=json_objects)
def test_text_push_round_trips_through_decode(
    join_ref: str | None, ref: str | None, topic: str, event: str, payload: dict[str, Any]
) -> None:
    frame = V2_JSON.encode_push(join_ref, ref, topic, event, payload)
    assert V2_JSON.decode(frame.data, binary=False) == Message(join_ref, ref, topic, event, payload)


@given(join_ref=refs, ref=refs, topic=names, status=names, response=json_objects)
def test_text_reply_is_the_phoenix_reply_array(
    join_ref: str | None, ref: str | None, topic: str, status: str, response: dict[str, Any]
) -> None:
    frame = V2_JSON.encode_reply(join_ref, ref, topic, status, response)
    assert orjson.loads(text(frame)) == [
        join_ref,
        ref,
        topic,
        "phx_reply",
        {"status": status, "response": response},
    ]


@given(topic=names, event=names, payload=json_objects)
def test_text_broadcast_round_trips_with_null_refs(
    topic: str, event: str, payload: dict[str, Any]
) -> None:
    frame = V2_JSON.encode_broadcast(topic, event, payload)
    assert V2_JSON.decode(text(frame), binary=False) == Message(None, None, topic, event, payload)


@given(
    join_ref=short(),
    ref=short(),
    topic=short().filter(bool),
    event=short().filter(bool),
    payload=st.binary(max_size=64),
)
def test_binary_client_push_round_trips(
    join_ref: str, ref: str, topic: str, event: str, payload: bytes
) -> None:
    raw = client_binary_push(join_ref, ref, topic, event, payload)
    assert V2_JSON.decode(raw, binary=True) == Message(join_ref, ref, topic, event, payload)


@given(join_ref=st.none() | short(), topic=short(), event=short(), payload=st.binary(max_size=64))
def test_binary_push_is_read_back_by_the_client_layout(
    join_ref: str | None, topic: str, event: str, payload: bytes
) -> None:
    frame = V2_JSON.encode_push(join_ref, "ignored", topic, event, payload)
    assert parse_server_binary(binary(frame)) == {
        "kind": 0,
        "join_ref": join_ref or "",
        "topic": topic,
        "event": event,
        "payload": payload,
    }


@given(
    join_ref=st.none() | short(),
    ref=st.none() | short(),
    topic=short(),
    status=short(),
    response=st.binary(max_size=64),
)
def test_binary_reply_is_read_back_by_the_client_layout(
    join_ref: str | None, ref: str | None, topic: str, status: str, response: bytes
) -> None:
    frame = V2_JSON.encode_reply(join_ref, ref, topic, status, response)
    assert parse_server_binary(binary(frame)) == {
        "kind": 1,
        "join_ref": join_ref or "",
        "ref": ref or "",
        "topic": topic,
        "status": status,
        "payload": response,
    }


@given(topic=short(), event=short(), payload=st.binary(max_size=64))
def test_binary_broadcast_is_read_back_by_the_client_layout(
    topic: str, event: str, payload: bytes
) -> None:
    frame = V2_JSON.encode_broadcast(topic, event, payload)
    assert parse_server_binary(binary(frame)) == {
        "kind": 2,
        "topic": topic,
        "event": event,
        "payload": payload,
    }


@given(data=st.binary(max_size=300), as_binary=st.booleans())
def test_decoding_arbitrary_bytes_raises_nothing_but_decode_error(
    data: bytes, as_binary: bool
) -> None:
    try:
        message = V2_JSON.decode(data, binary=as_binary)
    except DecodeError:
        return
    assert isinstance(message, Message)


@given(value=json_values)
def test_decoding_arbitrary_json_raises_nothing_but_decode_error(value: Any) -> None:
    reason = None
    try:
        message = V2_JSON.decode(orjson.dumps(value), binary=False)
    except DecodeError as error:
        reason = error.reason
    else:
        assert isinstance(message.topic, str)
        assert isinstance(message.payload, dict)
    assert reason in (None, "invalid_message")


@given(prefix=st.lists(json_values, max_size=6))
def test_decode_errors_only_carry_strings_read_from_the_frame(prefix: list[Any]) -> None:
    try:
        V2_JSON.decode(orjson.dumps(prefix), binary=False)
    except DecodeError as error:
        padded = [*prefix, None, None, None]
        for got, source in zip((error.join_ref, error.ref, error.topic), padded, strict=False):
            assert got == (source if isinstance(source, str) else None)
