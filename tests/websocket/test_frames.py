"""RFC 6455 framing: golden vectors, every violation, limits, split invariance."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Sequence
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Close as WsClose
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.streams import StreamReader

from sketchychat.websocket.frames import (
    BINARY,
    BYTES_PER_FRAME,
    CLOSE,
    CONT,
    MAX_CONTROL_PAYLOAD,
    PING,
    PONG,
    TEXT,
    BinaryMessage,
    CloseCode,
    CloseReceived,
    Event,
    FrameParser,
    Ping,
    Pong,
    ProtocolError,
    TextMessage,
    binary_frame,
    close_frame,
    encode_frame,
    pong_frame,
    text_frame,
)

MAX = 1 << 20
RFC_KEY = bytes((0x37, 0xFA, 0x21, 0x3D))


def client_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    key: bytes = RFC_KEY,
    rsv: int = 0,
    masked: bool = True,
    length_bytes: int | None = None,
) -> bytes:
    """A client frame, built byte by byte and independently of the parser.

    ``length_bytes`` forces the 0 (7-bit), 2 or 8-byte extended length form.
    """
    n = len(payload)
    if length_bytes is None:
        length_bytes = 0 if n < 126 else 2 if n < 65536 else 8
    head = bytearray([(0x80 if fin else 0) | rsv << 4 | opcode])
    mask_bit = 0x80 if masked else 0
    if length_bytes == 0:
        head.append(mask_bit | n)
    else:
        head.append(mask_bit | (126 if length_bytes == 2 else 127))
        head += n.to_bytes(length_bytes, "big")
    if not masked:
        return bytes(head) + payload
    return bytes(head) + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def run(parser: FrameParser, chunks: Iterable[bytes]) -> tuple[list[Event], int | None]:
    """Feed every chunk; return all events and the ProtocolError code, if any."""
    events: list[Event] = []
    code: int | None = None
    for chunk in chunks:
        try:
            events += parser.feed(chunk)
        except ProtocolError as exc:
            assert code is None, "a failed parser must ignore further input"
            code = exc.code
            events += exc.events
    return events, code


def parse(data: bytes, max_size: int = MAX) -> list[Event]:
    """Parse a whole stream that must be valid, fed at once and byte by byte."""
    at_once = FrameParser(max_size).feed(data)
    assert run(FrameParser(max_size), (data[i : i + 1] for i in range(len(data)))) == (
        at_once,
        None,
    )
    return at_once


def error_of(data: bytes, max_size: int = MAX) -> ProtocolError:
    """The error a stream raises when fed at once (and byte by byte, same code)."""
    with pytest.raises(ProtocolError) as info:
        FrameParser(max_size).feed(data)
    _, code = run(FrameParser(max_size), (data[i : i + 1] for i in range(len(data))))
    assert code == info.value.code
    return info.value


def splits(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (clamped, sorted, duplicates allowed)."""
    points = sorted(min(max(c, 0), len(data)) for c in cuts)
    return [data[a:b] for a, b in pairwise([0, *points, len(data)])]


# --- RFC 6455 §5.7 and §1.3 golden vectors ---------------------------------

RFC_MASKED_HELLO = bytes((0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58))
RFC_UNMASKED_HELLO = bytes((0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F))
RFC_FRAGMENTS = (bytes((0x01, 0x03, 0x48, 0x65, 0x6C)), bytes((0x80, 0x02, 0x6C, 0x6F)))
RFC_UNMASKED_PING = bytes((0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F))
RFC_MASKED_PONG = bytes((0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58))


def test_rfc_masked_hello() -> None:
    assert parse(RFC_MASKED_HELLO) == [TextMessage(b"Hello")]


def test_rfc_masked_pong() -> None:
    assert parse(RFC_MASKED_PONG) == [Pong(b"Hello")]


def test_rfc_unmasked_examples_are_what_we_send() -> None:
    assert text_frame(b"Hello") == RFC_UNMASKED_HELLO
    assert encode_frame(PING, b"Hello") == RFC_UNMASKED_PING
    assert pong_frame(b"Hello") == bytes((0x8A, 0x05)) + b"Hello"


@pytest.mark.parametrize("frame", [RFC_UNMASKED_HELLO, RFC_UNMASKED_PING, *RFC_FRAGMENTS])
def test_rfc_unmasked_examples_are_refused_from_a_client(frame: bytes) -> None:
    # §5.1: the §5.7 examples are server frames; from a client they fail the connection.
    assert error_of(frame).code == CloseCode.PROTOCOL_ERROR


def test_rfc_fragmented_hello_masked() -> None:
    # The §5.7 "Hel" + "lo" example, masked as a client must send it.
    stream = client_frame(TEXT, b"Hel", fin=False) + client_frame(CONT, b"lo")
    assert stream[0] == RFC_FRAGMENTS[0][0]
    assert parse(stream) == [TextMessage(b"Hello")]


def test_rfc_fragment_headers_match_our_helper() -> None:
    unmasked = client_frame(TEXT, b"Hel", fin=False, masked=False) + client_frame(
        CONT, b"lo", masked=False
    )
    assert unmasked == b"".join(RFC_FRAGMENTS)


def test_masked_ping() -> None:
    assert parse(client_frame(PING, b"Hello")) == [Ping(b"Hello")]


# --- Encoding ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, bytes((0x82, 0))),
        (125, bytes((0x82, 125))),
        (126, bytes((0x82, 126, 0, 126))),
        (256, bytes((0x82, 0x7E, 0x01, 0x00))),  # §5.7 "256 bytes binary message"
        (65535, bytes((0x82, 126, 0xFF, 0xFF))),
        (65536, bytes((0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0))),  # §5.7 "64KiB binary"
        (100_000, bytes((0x82, 127)) + (100_000).to_bytes(8, "big")),
    ],
)
def test_encode_length_forms(size: int, header: bytes) -> None:
    payload = bytes(i % 251 for i in range(size))
    assert binary_frame(payload) == header + payload


@pytest.mark.parametrize("opcode", [CONT, TEXT, BINARY, CLOSE, PING, PONG])
def test_encode_sets_fin_and_opcode(opcode: int) -> None:
    assert encode_frame(opcode, b"x") == bytes((0x80 | opcode, 1)) + b"x"


@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG])
def test_encode_refuses_long_control_frames(opcode: int) -> None:
    assert len(encode_frame(opcode, b"x" * 125)) == 127
    with pytest.raises(ValueError, match="125"):
        encode_frame(opcode, b"x" * 126)


def test_pong_frame_refuses_long_payload() -> None:
    with pytest.raises(ValueError, match="125"):
        pong_frame(b"x" * 126)


def test_close_frame_layout() -> None:
    assert close_frame(CloseCode.NORMAL) == bytes((0x88, 2, 0x03, 0xE8))
    assert close_frame(4000, "bye") == bytes((0x88, 5, 0x0F, 0xA0)) + b"bye"


def test_close_frame_truncates_on_utf8_boundary() -> None:
    # 61 two-byte characters = 122 bytes fit; the 62nd would need bytes 123-124.
    frame = close_frame(1000, "é" * 100)
    assert frame[1] == 2 + 122
    assert frame[4:].decode("utf-8") == "é" * 61
    exact = close_frame(1000, "a" * 123)
    assert exact[1] == 125
    assert exact[4:] == b"a" * 123
    assert close_frame(1000, "a" * 122 + "€")[4:] == b"a" * 122  # 3-byte char dropped whole
    assert close_frame(1000, "a" * 200)[4:] == b"a" * 123


def test_close_frame_survives_lone_surrogate() -> None:
    assert close_frame(1011, "bad \udcff")[4:] == b"bad ?"


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_close_frame_refuses_codes_not_for_the_wire(code: int) -> None:
    with pytest.raises(ValueError, match="close code"):
        close_frame(code)


def test_our_close_frames_parse_back() -> None:
    # Our own encoder mirrored through the client-side framing, masked.
    body = close_frame(CloseCode.GOING_AWAY, "server restart")[2:]
    assert parse(client_frame(CLOSE, body)) == [CloseReceived(1001, "server restart")]


# --- Parsing valid traffic ---------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 100_003])
def test_lengths_roundtrip(size: int) -> None:
    payload = bytes((i * 7) % 256 for i in range(size))
    frame = client_frame(BINARY, payload, key=b"\xa1\xb2\xc3\xd4")
    assert FrameParser(MAX).feed(frame) == [BinaryMessage(payload)]


@pytest.mark.parametrize(("size", "length_bytes"), [(126, 2), (65536, 8)])
def test_extended_length_header_layout_parses(size: int, length_bytes: int) -> None:
    frame = client_frame(TEXT, b"a" * size)
    assert frame[1] & 0x7F == (126 if length_bytes == 2 else 127)
    assert parse(frame) == [TextMessage(b"a" * size)]


@pytest.mark.parametrize("length_bytes", [2, 8])
def test_non_minimal_length_tolerated(length_bytes: int) -> None:
    frame = client_frame(TEXT, b"hi", length_bytes=length_bytes)
    assert parse(frame) == [TextMessage(b"hi")]


# --- §8.1: text messages are UTF-8, or the connection fails with 1007 ----------


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe", b"[\xff]", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"a\xc0\xafb"],
    ids=["invalid-bytes", "in-json", "truncated", "surrogate", "above-u10ffff", "overlong"],
)
def test_text_that_is_not_utf8_fails_with_1007(payload: bytes) -> None:
    assert error_of(client_frame(TEXT, payload)).code == CloseCode.INVALID_DATA


def test_binary_messages_are_not_utf8_checked() -> None:
    assert parse(client_frame(BINARY, b"\xff\xfe")) == [BinaryMessage(b"\xff\xfe")]


def test_valid_utf8_split_inside_a_character_across_fragments() -> None:
    text = "naïve ☃ 𝄞".encode()
    stream = b"".join(
        client_frame(TEXT if i == 0 else CONT, text[i : i + 1], fin=i == len(text) - 1)
        for i in range(len(text))
    )
    assert parse(stream) == [TextMessage(text)]


def test_invalid_utf8_in_a_first_fragment_fails_before_the_message_ends() -> None:
    # §8.1 fail fast (Autobahn 6.4): no need to wait for the rest of the message.
    parser = FrameParser(MAX)
    with pytest.raises(ProtocolError) as info:
        parser.feed(client_frame(TEXT, "κόσμε".encode() + b"\xf4\x90\x80\x80", fin=False))
    assert info.value.code == CloseCode.INVALID_DATA


def test_a_fragmented_text_that_ends_inside_a_character_fails() -> None:
    stream = client_frame(TEXT, b"ok", fin=False) + client_frame(CONT, "é".encode()[:1])
    assert error_of(stream).code == CloseCode.INVALID_DATA


def test_messages_before_the_invalid_one_are_still_reported() -> None:
    parser = FrameParser(MAX)
    with pytest.raises(ProtocolError) as info:
        parser.feed(client_frame(TEXT, b"fine") + client_frame(TEXT, b"\xff"))
    assert info.value.events == [TextMessage(b"fine")]


# --- What a message in progress may cost ----------------------------------


def test_empty_continuations_cannot_keep_a_message_open_forever() -> None:
    # The finding: FIN=0 + endless empty continuations grew the server by 565 MB.
    limit = 4096
    stream = client_frame(TEXT, b"", fin=False) + client_frame(CONT, b"", fin=False) * (
        limit // BYTES_PER_FRAME
    )
    assert error_of(stream, max_size=limit).code == CloseCode.TOO_BIG


def test_a_message_may_use_one_frame_per_64_bytes_of_the_limit() -> None:
    limit = 4096
    frames = limit // BYTES_PER_FRAME
    ok = (
        client_frame(BINARY, b"x", fin=False)
        + client_frame(CONT, b"x", fin=False) * (frames - 2)
        + client_frame(CONT, b"x")
    )
    assert parse(ok, max_size=limit) == [BinaryMessage(b"x" * frames)]
    too_many = (
        client_frame(BINARY, b"x", fin=False)
        + client_frame(CONT, b"x", fin=False) * (frames - 1)
        + client_frame(CONT, b"x")
    )
    assert error_of(too_many, max_size=limit).code == CloseCode.TOO_BIG


def test_control_frames_inside_a_message_count_towards_its_frames() -> None:
    limit = 4096
    pings = client_frame(PING, b"") * (limit // BYTES_PER_FRAME)
    stream = client_frame(TEXT, b"a", fin=False) + pings + client_frame(CONT, b"b")
    assert error_of(stream, max_size=limit).code == CloseCode.TOO_BIG


def test_tiny_fragments_are_held_as_their_bytes_not_as_objects() -> None:
    # The finding: 1-byte continuations held ~8x the bytes sent. Joined into one
    # bytearray, what is held is the payload itself.
    parser = FrameParser(MAX)
    wire = client_frame(BINARY, b"a", fin=False) + client_frame(CONT, b"b", fin=False) * 9000
    assert parser.feed(wire) == []
    assert parser.buffered == 9001
    assert parser._open is not None and isinstance(parser._open.data, bytearray)


def test_a_failed_parser_lets_go_of_what_it_held() -> None:
    parser = FrameParser(MAX)
    cont = client_frame(CONT, b"y", fin=False)
    parser.feed(client_frame(BINARY, b"x" * 50_000, fin=False) + cont[:3])
    assert parser.buffered > 50_000
    with pytest.raises(ProtocolError):
        parser.feed(cont[3:] + client_frame(TEXT, b"interleaved"))
    assert parser.buffered == 0


def test_empty_messages() -> None:
    stream = (
        client_frame(TEXT, b"")
        + client_frame(BINARY, b"")
        + client_frame(TEXT, b"", fin=False)
        + client_frame(CONT, b"", fin=False)
        + client_frame(CONT, b"")
        + client_frame(PING, b"")
        + client_frame(PONG, b"")
    )
    assert parse(stream) == [
        TextMessage(b""),
        BinaryMessage(b""),
        TextMessage(b""),
        Ping(b""),
        Pong(b""),
    ]


def test_fragmented_binary_with_interleaved_control_frames() -> None:
    # §5.4: control frames MAY be injected in the middle of a fragmented message.
    stream = (
        client_frame(BINARY, b"\x00\x01", fin=False)
        + client_frame(PING, b"p1")
        + client_frame(CONT, b"\x02", fin=False)
        + client_frame(PONG, b"p2")
        + client_frame(PING, b"p3")
        + client_frame(CONT, b"\x03\x04")
        + client_frame(TEXT, b"after")
    )
    assert parse(stream) == [
        Ping(b"p1"),
        Pong(b"p2"),
        Ping(b"p3"),
        BinaryMessage(b"\x00\x01\x02\x03\x04"),
        TextMessage(b"after"),
    ]


def test_many_frames_in_one_read_and_a_tail() -> None:
    parser = FrameParser(MAX)
    frames = [client_frame(TEXT, str(i).encode()) for i in range(50)]
    stream = b"".join(frames)
    assert parser.feed(stream[:-3]) == [TextMessage(str(i).encode()) for i in range(49)]
    assert parser.feed(stream[-3:]) == [TextMessage(b"49")]


def test_close_without_body() -> None:
    assert parse(client_frame(CLOSE, b"")) == [CloseReceived(None, "")]


def test_close_with_code_and_utf8_reason() -> None:
    body = (1000).to_bytes(2, "big") + "au revoir ✓".encode()
    assert parse(client_frame(CLOSE, body)) == [CloseReceived(1000, "au revoir ✓")]


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
)
def test_close_codes_allowed_on_the_wire(code: int) -> None:
    assert parse(client_frame(CLOSE, code.to_bytes(2, "big"))) == [CloseReceived(code, "")]


def test_close_in_the_middle_of_a_fragmented_message() -> None:
    stream = client_frame(TEXT, b"half", fin=False) + client_frame(CLOSE, b"\x03\xe8")
    assert parse(stream) == [CloseReceived(1000, "")]


def test_input_after_close_is_ignored() -> None:
    parser = FrameParser(MAX)
    stream = (
        client_frame(TEXT, b"before")
        + client_frame(CLOSE, b"\x03\xe8")
        + client_frame(TEXT, b"after")
        + b"\x00garbage"
    )
    assert parser.feed(stream) == [TextMessage(b"before"), CloseReceived(1000, "")]
    assert parser.feed(client_frame(TEXT, b"later")) == []
    assert parser.feed(b"\xff\xff") == []
    assert parser._buf is None


# --- Violations -------------------------------------------------------------


def test_unmasked_frame() -> None:
    exc = error_of(client_frame(TEXT, b"hi", masked=False))
    assert exc.code == CloseCode.PROTOCOL_ERROR
    assert int(exc.code) == 1002


@pytest.mark.parametrize("rsv", [1, 2, 4, 7])
def test_reserved_bits(rsv: int) -> None:
    assert error_of(client_frame(TEXT, b"hi", rsv=rsv)).code == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcode(opcode: int) -> None:
    assert error_of(client_frame(opcode, b"")).code == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG])
def test_control_frame_too_long(opcode: int) -> None:
    exc = error_of(client_frame(opcode, b"\x03\xe8" + b"x" * 124))
    assert exc.code == CloseCode.PROTOCOL_ERROR
    assert exc.reason == "control frame too long"


def test_control_frame_too_long_refused_from_the_header_alone() -> None:
    # A 16-bit length form is already > 125; nothing beyond byte 2 is needed.
    assert error_of(bytes((0x89, 0xFE))).code == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG])
def test_fragmented_control_frame(opcode: int) -> None:
    exc = error_of(client_frame(opcode, b"", fin=False))
    assert exc.code == CloseCode.PROTOCOL_ERROR
    assert exc.reason == "fragmented control frame"


@pytest.mark.parametrize("fin", [True, False])
def test_continuation_with_nothing_to_continue(fin: bool) -> None:
    exc = error_of(client_frame(CONT, b"lo", fin=fin))
    assert exc.code == CloseCode.PROTOCOL_ERROR
    assert exc.reason == "nothing to continue"


def test_continuation_after_a_finished_message() -> None:
    stream = client_frame(TEXT, b"Hel", fin=False) + client_frame(CONT, b"lo")
    assert error_of(stream + client_frame(CONT, b"!")).reason == "nothing to continue"


@pytest.mark.parametrize("first", [TEXT, BINARY])
@pytest.mark.parametrize("second", [TEXT, BINARY])
def test_new_data_frame_while_fragmented(first: int, second: int) -> None:
    stream = client_frame(first, b"a", fin=False) + client_frame(second, b"b")
    exc = error_of(stream)
    assert exc.code == CloseCode.PROTOCOL_ERROR
    assert exc.reason == "message still fragmented"


def test_64_bit_length_with_high_bit_set() -> None:
    header = bytes((0x82, 0xFF)) + (1 << 63).to_bytes(8, "big")
    assert error_of(header).code == CloseCode.PROTOCOL_ERROR


def test_close_body_of_one_byte() -> None:
    assert error_of(client_frame(CLOSE, b"\x03")).code == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize(
    "code", [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_close_code_not_allowed(code: int) -> None:
    exc = error_of(client_frame(CLOSE, code.to_bytes(2, "big") + b"why"))
    assert exc.code == CloseCode.PROTOCOL_ERROR


@pytest.mark.parametrize("reason", [b"\xff", b"\xc3", b"caf\xc3", b"\xed\xa0\x80"])
def test_close_reason_not_utf8(reason: bytes) -> None:
    exc = error_of(client_frame(CLOSE, b"\x03\xe8" + reason))
    assert exc.code == CloseCode.INVALID_DATA


def test_error_keeps_events_decoded_before_it_and_stops() -> None:
    parser = FrameParser(MAX)
    stream = client_frame(TEXT, b"ok") + client_frame(PING, b"p") + client_frame(9, b"", rsv=1)
    with pytest.raises(ProtocolError) as info:
        parser.feed(stream)
    assert info.value.events == [TextMessage(b"ok"), Ping(b"p")]
    assert parser.feed(client_frame(TEXT, b"ignored")) == []
    assert parser._buf is None


def test_protocol_error_is_printable_and_fits_a_close_frame() -> None:
    exc = error_of(client_frame(TEXT, b"x", masked=False))
    assert str(exc) == "client frame is not masked (1002)"
    assert close_frame(exc.code, exc.reason)[4:] == b"client frame is not masked"


# --- Size limits ------------------------------------------------------------


def test_message_of_exactly_max_size() -> None:
    assert parse(client_frame(BINARY, b"x" * 1000), max_size=1000) == [BinaryMessage(b"x" * 1000)]


@pytest.mark.parametrize("size", [1001, 70_000])
def test_single_frame_over_max_size(size: int) -> None:
    frame = client_frame(BINARY, b"x" * size)
    header = frame[: len(frame) - size - 4]  # length only, no mask key, no body
    assert error_of(header, max_size=1000).code == CloseCode.TOO_BIG


def test_declared_2gb_length_fails_immediately() -> None:
    parser = FrameParser(MAX)
    header = bytes((0x82, 0xFF)) + (2 << 30).to_bytes(8, "big")
    with pytest.raises(ProtocolError) as info:
        parser.feed(header)  # no mask key, no body: nothing worth waiting for
    assert info.value.code == CloseCode.TOO_BIG
    assert parser._buf is None


def test_fragmented_message_over_max_size() -> None:
    stream = (
        client_frame(TEXT, b"x" * 400, fin=False)
        + client_frame(PING, b"control frames do not count")
        + client_frame(CONT, b"x" * 400, fin=False)
    )
    parser = FrameParser(1000)
    assert parser.feed(stream) == [Ping(b"control frames do not count")]
    with pytest.raises(ProtocolError) as info:
        parser.feed(client_frame(CONT, b"x" * 201)[:4])  # header only
    assert info.value.code == CloseCode.TOO_BIG


def test_fragmented_message_of_exactly_max_size() -> None:
    stream = client_frame(TEXT, b"x" * 600, fin=False) + client_frame(CONT, b"y" * 400)
    assert parse(stream, max_size=1000) == [TextMessage(b"x" * 600 + b"y" * 400)]


def test_limit_resets_between_messages() -> None:
    one = client_frame(TEXT, b"x" * 300, fin=False) + client_frame(CONT, b"x" * 300)
    assert parse(one * 5, max_size=600) == [TextMessage(b"x" * 600)] * 5


# --- Memory footprint -------------------------------------------------------


def test_parser_is_small_and_buffers_only_split_frames() -> None:
    parser = FrameParser(MAX)
    assert not hasattr(parser, "__dict__")
    assert sys.getsizeof(parser) <= 64  # four slots: every idle connection has one
    assert parser._limits is FrameParser(MAX)._limits  # shared, not per connection
    frame = client_frame(TEXT, b"hello")
    assert parser.feed(frame * 3) == [TextMessage(b"hello")] * 3
    assert parser._buf is None
    assert parser.feed(frame[:4]) == []
    assert parser._buf == frame[:4]
    assert parser.feed(frame[4:]) == [TextMessage(b"hello")]
    assert parser._buf is None


# --- Split invariance and fuzzing ------------------------------------------


def stretch(seed: bytes, size: int) -> bytes:
    """A ``size``-byte payload from a short seed: Hypothesis draws at most a few KB."""
    return (seed * (size // len(seed) + 1))[:size]


masks = st.binary(min_size=4, max_size=4)
small_payloads = st.binary(max_size=200)
# Around the 7-bit / 16-bit / 64-bit length boundaries of §5.2, and beyond.
big_payloads = st.builds(
    stretch,
    st.binary(min_size=1, max_size=16),
    st.sampled_from([125, 126, 127, 65535, 65536, 65537]) | st.integers(126, 70_000),
)
payloads = small_payloads | big_payloads


def stretch_text(seed: str, size: int) -> bytes:
    """About ``size`` bytes of valid UTF-8 from a short seed (whole characters only)."""
    return (
        (seed * (size // max(1, len(seed.encode())) + 1))
        .encode()[: max(size, 0)]
        .decode("utf-8", "ignore")
        .encode()
    )


small_texts = st.text(max_size=120).map(str.encode)
big_texts = st.builds(
    stretch_text,
    st.text(min_size=1, max_size=8),
    st.sampled_from([125, 126, 127, 65535, 65536, 65537]) | st.integers(126, 70_000),
)
#: Text messages must be UTF-8 (§8.1); their fragments may still split characters.
texts = small_texts | big_texts
control_frames = st.tuples(st.sampled_from([PING, PONG]), st.binary(max_size=125), masks)


@st.composite
def client_streams(draw: st.DrawFn, *, big: bool = True) -> tuple[bytes, list[Event]]:
    """Random messages, randomly fragmented, with control frames between fragments."""
    stream = bytearray()
    expected: list[Event] = []
    for _ in range(draw(st.integers(0, 6))):
        opcode = draw(st.sampled_from([TEXT, BINARY]))
        if opcode == TEXT:
            payload = draw(texts if big else small_texts)
        else:
            payload = draw(payloads if big else small_payloads)
        pieces = splits(payload, draw(st.lists(st.integers(0, len(payload)), max_size=4)))
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            stream += client_frame(opcode if index == 0 else CONT, piece, fin=last, key=draw(masks))
            if not last:
                for control, data, key in draw(st.lists(control_frames, max_size=2)):
                    stream += client_frame(control, data, key=key)
                    expected.append(Ping(data) if control == PING else Pong(data))
        expected.append(TextMessage(payload) if opcode == TEXT else BinaryMessage(payload))
    if draw(st.booleans()):
        code = draw(st.sampled_from([1000, 1001, 1011, 3000, 4999]))
        reason = draw(st.text(max_size=20))
        stream += client_frame(CLOSE, code.to_bytes(2, "big") + reason.encode(), key=draw(masks))
        expected.append(CloseReceived(code, reason))
        stream += draw(st.binary(max_size=20))  # ignored after the close
    return bytes(stream), expected


@given(client_streams(), st.lists(st.integers(0, 1 << 17), max_size=12))
def test_any_split_gives_the_same_messages(
    case: tuple[bytes, list[Event]], cuts: list[int]
) -> None:
    stream, expected = case
    assert run(FrameParser(1 << 17), [stream]) == (expected, None)
    assert run(FrameParser(1 << 17), splits(stream, cuts)) == (expected, None)


@given(client_streams(big=False))
def test_byte_at_a_time_gives_the_same_messages(case: tuple[bytes, list[Event]]) -> None:
    stream, expected = case
    chunks = [stream[i : i + 1] for i in range(len(stream))]
    assert run(FrameParser(1 << 17), chunks) == (expected, None)


garbage_frames = st.builds(
    lambda opcode, payload, fin, rsv, masked, key: client_frame(
        opcode, payload, fin=fin, rsv=rsv, masked=masked, key=key
    ),
    st.integers(0, 15),
    st.binary(max_size=140),
    st.booleans(),
    st.sampled_from([0, 0, 0, 0, 1]),
    st.sampled_from([True, True, True, True, False]),
    masks,
)


@given(
    st.lists(garbage_frames | st.binary(max_size=12), max_size=8),
    st.lists(st.integers(0, 2000), max_size=10),
    st.integers(0, 300),
)
def test_arbitrary_input_outcome_does_not_depend_on_splits(
    parts: list[bytes], cuts: list[int], max_size: int
) -> None:
    stream = b"".join(parts)
    whole = run(FrameParser(max_size), [stream])
    assert run(FrameParser(max_size), splits(stream, cuts)) == whole
    assert run(FrameParser(max_size), [stream[i : i + 1] for i in range(len(stream))]) == whole


@given(
    st.lists(garbage_frames | st.binary(max_size=12), max_size=40),
    st.lists(st.integers(0, 6000), max_size=20),
    st.integers(0, 3000),
)
def test_memory_held_is_bounded_by_bytes_received_and_the_message_limit(
    parts: list[bytes], cuts: list[int], max_size: int
) -> None:
    """Whatever the framing: held <= bytes received, and <= one message plus one frame."""
    parser = FrameParser(max_size)
    received = 0
    for chunk in splits(b"".join(parts), cuts):
        received += len(chunk)
        with contextlib.suppress(ProtocolError):
            parser.feed(chunk)
        assert parser.buffered <= received
        assert parser.buffered <= max_size + 14 + MAX_CONTROL_PAYLOAD + 6


# --- Cross-check against the websockets library (test-only dependency) ------


def ws_client_frame(opcode: WsOpcode, data: bytes, *, fin: bool = True) -> bytes:
    return WsFrame(opcode, data, fin=fin).serialize(mask=True)


@given(st.data(), st.lists(st.integers(0, 70_000), max_size=3), st.booleans())
def test_websockets_client_frames_parse(data: st.DataObject, cuts: list[int], text: bool) -> None:
    opcode = WsOpcode.TEXT if text else WsOpcode.BINARY
    payload = data.draw(texts if text else payloads)
    pieces = splits(payload, cuts)
    stream = b"".join(
        ws_client_frame(opcode if i == 0 else WsOpcode.CONT, piece, fin=i == len(pieces) - 1)
        for i, piece in enumerate(pieces)
    )
    stream += ws_client_frame(WsOpcode.PING, b"ping") + WsFrame(
        WsOpcode.CLOSE, WsClose(1001, "going away ✓").serialize()
    ).serialize(mask=True)
    expected: Event = TextMessage(payload) if text else BinaryMessage(payload)
    assert FrameParser(MAX).feed(stream) == [
        expected,
        Ping(b"ping"),
        CloseReceived(1001, "going away ✓"),
    ]


def ws_parse(data: bytes) -> WsFrame:
    """Parse one server frame with websockets' own (client-side) reader."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = WsFrame.parse(reader.read_exact, mask=False, max_size=None)
    with pytest.raises(StopIteration) as done:
        next(parser)
    frame: WsFrame = done.value.value
    assert not reader.buffer, "exactly one frame"
    return frame


@given(payloads)
def test_websockets_reads_our_data_frames(payload: bytes) -> None:
    for opcode, frame_bytes in ((WsOpcode.TEXT, text_frame), (WsOpcode.BINARY, binary_frame)):
        frame = ws_parse(frame_bytes(payload))
        assert (frame.opcode, frame.fin, bytes(frame.data)) == (opcode, True, payload)


@given(st.binary(max_size=125))
def test_websockets_reads_our_pongs(payload: bytes) -> None:
    frame = ws_parse(pong_frame(payload))
    assert (frame.opcode, frame.fin, bytes(frame.data)) == (WsOpcode.PONG, True, payload)


@given(
    st.sampled_from([c.value for c in CloseCode]) | st.integers(3000, 4999), st.text(max_size=200)
)
def test_websockets_reads_our_close_frames(code: int, reason: str) -> None:
    frame = ws_parse(close_frame(code, reason))
    assert frame.opcode == WsOpcode.CLOSE
    close = WsClose.parse(bytes(frame.data))
    assert close.code == code
    assert reason.encode("utf-8", "replace").startswith(close.reason.encode())


def test_closing_the_parser_drops_a_message_in_progress() -> None:
    parser = FrameParser(MAX)
    parser.feed(client_frame(BINARY, b"x" * 10_000, fin=False) + client_frame(CONT, b"y")[:4])
    assert parser.buffered > 10_000
    parser.close()
    assert parser.buffered == 0
    assert parser.feed(client_frame(TEXT, b"after")) == []
