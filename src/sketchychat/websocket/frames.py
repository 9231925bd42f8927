"""Sans-I/O RFC 6455 framing for the server side of a WebSocket.

Nothing here touches sockets, event loops or clocks: the transport hands raw
bytes to :meth:`FrameParser.feed` and writes the bytes returned by the
``*_frame`` helpers.  That keeps the per-connection state down to one small
slotted object and lets one encoded frame be shared by every recipient of a
broadcast (server frames are never masked, RFC 6455 §5.1).
"""

from __future__ import annotations

import codecs
import functools
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, TypeAlias

__all__ = [
    "BINARY",
    "BYTES_PER_FRAME",
    "CLOSE",
    "CONT",
    "MAX_CONTROL_PAYLOAD",
    "PING",
    "PONG",
    "TEXT",
    "BinaryMessage",
    "CloseCode",
    "CloseReceived",
    "Event",
    "FrameParser",
    "Ping",
    "Pong",
    "ProtocolError",
    "TextMessage",
    "binary_frame",
    "close_frame",
    "encode_frame",
    "pong_frame",
    "text_frame",
]

# Opcodes, RFC 6455 §5.2 / §11.8.
CONT: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA

#: Largest payload a control frame may carry (RFC 6455 §5.5).
MAX_CONTROL_PAYLOAD: Final = 125

#: A message may span at most one frame per this many bytes of the message limit
#: (16,384 frames at the default 1 MiB), control frames sent in its middle included.
#: Empty or tiny fragments cost a frame each, so they cannot grow a message forever.
BYTES_PER_FRAME: Final = 64

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class CloseCode(IntEnum):
    """Close status codes we send or expect (RFC 6455 §7.4.1, IANA registry §11.7)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED = 1003
    INVALID_DATA = 1007
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013


def _close_code_allowed(code: int) -> bool:
    """Whether ``code`` may appear in a Close frame on the wire.

    RFC 6455 §7.4.1 forbids sending 1004-1006 and 1015, and §7.4.2 leaves
    0-999 unused and 1016-2999 reserved for future RFCs; 1012-1014 were
    later registered with IANA (§11.7), 3000-4999 belong to libraries and
    applications.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


# ---------------------------------------------------------------------------
# Encoding (server -> client)
# ---------------------------------------------------------------------------

_PACK16 = struct.Struct("!BBH").pack
_PACK64 = struct.Struct("!BBQ").pack

# Every 2-byte header for an unfragmented frame of 0-125 bytes, per opcode:
# an index is about twice as fast as building the header for the small
# frames that dominate chat traffic.
_SHORT_HEADERS: Final = tuple(
    tuple(bytes((0x80 | opcode, n)) for n in range(MAX_CONTROL_PAYLOAD + 1))
    for opcode in range(PONG + 1)
)


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """Build one unmasked, final (FIN) frame.

    Servers must not mask (RFC 6455 §5.1) and we never fragment what we
    send, so the header is FIN + opcode and the shortest of the 7-, 16- or
    64-bit payload lengths (§5.2).  ``opcode`` must be one of the module
    constants; a control frame over 125 bytes raises :class:`ValueError`
    (§5.5), checked only on the long-frame branch to keep the hot path lean.
    """
    n = len(payload)
    if n <= MAX_CONTROL_PAYLOAD:
        return _SHORT_HEADERS[opcode][n] + payload
    if opcode >= CLOSE:
        raise ValueError("control frame payload exceeds 125 bytes (RFC 6455 §5.5)")
    if n < 0x10000:
        return _PACK16(0x80 | opcode, 126, n) + payload
    return _PACK64(0x80 | opcode, 127, n) + payload


def text_frame(data: bytes) -> bytes:
    """Text data frame (§5.6); ``data`` must already be valid UTF-8."""
    return encode_frame(TEXT, data)


def binary_frame(data: bytes) -> bytes:
    """Binary data frame (§5.6)."""
    return encode_frame(BINARY, data)


def pong_frame(data: bytes) -> bytes:
    """Pong echoing a Ping's application data (§5.5.3)."""
    return encode_frame(PONG, data)


def close_frame(code: int, reason: str = "") -> bytes:
    """Close frame with a status code and a UTF-8 reason (§5.5.1).

    The reason is cut to 123 bytes (125 minus the code) without splitting a
    UTF-8 sequence, because a peer must fail the connection on invalid UTF-8
    in a close reason (§8.1).  Codes that may not be sent (§7.4.1, §7.4.2)
    raise :class:`ValueError`; an unencodable lone surrogate becomes ``?``
    so building a close frame while handling an error cannot itself fail.
    """
    if not _close_code_allowed(code):
        raise ValueError(f"close code {code} may not be sent (RFC 6455 §7.4)")
    raw = reason.encode("utf-8", "replace")
    if len(raw) > MAX_CONTROL_PAYLOAD - 2:
        # Dropping the partial trailing sequence is the only error 'ignore' can see.
        raw = raw[: MAX_CONTROL_PAYLOAD - 2].decode("utf-8", "ignore").encode("utf-8")
    return encode_frame(CLOSE, code.to_bytes(2, "big") + raw)


# ---------------------------------------------------------------------------
# Events and errors (client -> server)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A complete text message (§5.6), reassembled if fragmented (§5.4).

    The bytes are valid UTF-8: the parser fails the connection with 1007
    otherwise (§8.1), as soon as an invalid sequence arrives.
    """

    data: bytes


@dataclass(frozen=True, slots=True)
class BinaryMessage:
    """A complete binary message (§5.6), reassembled if fragmented (§5.4)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """A Ping (§5.5.2); the caller answers with :func:`pong_frame`."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """A Pong (§5.5.3), solicited or not."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The peer's Close frame (§5.5.1); the parser ignores everything after it.

    ``code`` is None for an empty close body, which the closing handshake
    reports as 1005 "no status received" (§7.1.5) but which must never be
    echoed on the wire.
    """

    code: int | None
    reason: str


Event: TypeAlias = TextMessage | BinaryMessage | Ping | Pong | CloseReceived


class ProtocolError(Exception):
    """The client broke RFC 6455; fail the connection with ``code`` (§7.1.7).

    ``reason`` is short ASCII, fit for :func:`close_frame`.  ``events``
    holds the valid events decoded from the same :meth:`FrameParser.feed`
    call before the violation, so the outcome does not depend on how the
    stream was split into reads; callers may deliver or drop them.
    """

    code: CloseCode
    reason: str
    events: list[Event]

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
        self.events = []

    def __str__(self) -> str:
        return f"{self.reason} ({int(self.code)})"


def _close_event(payload: bytes) -> CloseReceived:
    """Decode a Close frame body (§5.5.1), rejecting what §7.4 forbids."""
    if not payload:
        return CloseReceived(None, "")
    if len(payload) == 1:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "close frame body of 1 byte")
    code = (payload[0] << 8) | payload[1]
    if not _close_code_allowed(code):
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "close code not allowed on the wire")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        # §5.5.1: the reason is UTF-8; §8.1: invalid UTF-8 fails the connection.
        raise ProtocolError(CloseCode.INVALID_DATA, "close reason is not UTF-8") from None
    return CloseReceived(code, reason)


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _limits(max_message_size: int) -> tuple[int, int]:
    """``(bytes, frames)`` a message may use; shared by every parser of a node."""
    return max_message_size, max(16, max_message_size // BYTES_PER_FRAME)


class _Message:
    """A fragmented message in progress (§5.4): only exists while one is open."""

    __slots__ = ("data", "frames", "opcode", "utf8")

    def __init__(self, opcode: int, payload: bytes) -> None:
        self.data = bytearray(payload)  # joined as it arrives: never a list of pieces
        self.opcode = opcode  # TEXT or BINARY
        self.frames = 1  # frames received since it opened, control frames included
        # §8.1 read as Autobahn 6.4 does: a text message fails on its first invalid
        # sequence, not once it is whole.
        self.utf8 = _Utf8Decoder() if opcode == TEXT else None
        if self.utf8 is not None:
            _check_utf8(self.utf8, payload, False)


class FrameParser:
    """Incremental parser for the frames a client sends (RFC 6455 §5).

    One instance per connection, so it holds only scalars until a frame is
    split across reads; then a bytearray keeps the unconsumed tail until the
    whole frame is there.  Complete frames in a read are parsed straight
    from the caller's bytes.  Results never depend on how the byte stream is
    split into :meth:`feed` calls.

    What a connection can make it hold is bounded whatever the framing
    (:attr:`buffered`): the payload of an open fragmented message is joined
    into one growing bytearray (never a list of small objects), a message
    may not exceed ``max_message_size`` bytes nor span more than
    ``max_message_size // BYTES_PER_FRAME`` frames (control frames in its
    middle and empty continuations count), and a partial frame is kept only
    up to its declared length, which the header check has already bounded.
    An idle parser is four slots: every idle connection has one.
    """

    __slots__ = ("_buf", "_limits", "_need", "_open")

    _buf: bytearray | None
    _limits: tuple[int, int]
    _need: int
    _open: _Message | None

    def __init__(self, max_message_size: int) -> None:
        """``max_message_size`` bounds a whole message, fragments included (§10.4)."""
        self._limits = _limits(max_message_size)
        self._buf = None  # unconsumed bytes of a frame split across reads
        self._need = 0  # length _buf must reach to progress; -1 once done for good
        self._open = None  # a fragmented message in progress (§5.4)

    @property
    def buffered(self) -> int:
        """Bytes held for the client right now: a partial frame and an open message."""
        message = self._open
        return len(self._buf or b"") + (0 if message is None else len(message.data))

    def feed(self, data: bytes) -> list[Event]:
        """Consume one read and return the events it completes, in order.

        Raises :class:`ProtocolError` on the first violation.  After that, or
        after a :class:`CloseReceived`, all input is ignored: §5.5.1 says no
        data follows a Close, and §7.1.7 says nothing more is processed once
        the connection is being failed.
        """
        if self._need < 0:
            return []
        buf = self._buf
        chunk: bytes | bytearray = data
        if buf is not None:
            buf += data
            if len(buf) < self._need:
                return []
            chunk = buf
            self._buf = None
        events: list[Event] = []
        try:
            pos = self._parse(chunk, events)
        except ProtocolError as exc:
            self._finish()
            exc.events = events
            raise
        if pos < len(chunk):
            if chunk is buf:
                del buf[:pos]
                self._buf = buf
            else:
                self._buf = bytearray(chunk[pos:])
        return events

    def close(self) -> None:
        """The connection is gone: drop whatever was buffered, parse nothing more."""
        self._finish()

    def _finish(self) -> None:
        """Stop parsing for good and drop whatever was buffered."""
        self._need = -1
        self._buf = None
        self._open = None

    def _parse(self, data: bytes | bytearray, events: list[Event]) -> int:
        """Append the events of every complete frame in ``data``; return bytes used.

        On a partial frame it records in ``_need`` how many bytes, counted
        from the returned offset, must arrive before trying again.  Header
        checks run as soon as their bytes are present, so an oversized length
        is refused before any of its body is buffered (§10.4).  A data frame
        whose length is not in the minimal form §5.2 asks for is tolerated:
        it is unambiguous and costs nothing extra to accept.
        """
        end = len(data)
        pos = 0
        max_size, max_frames = self._limits
        while True:
            avail = end - pos
            if avail < 2:
                self._need = 2
                return pos
            b0 = data[pos]
            b1 = data[pos + 1]
            if not b1 & 0x80:
                # §5.1: a server MUST close on an unmasked client frame.
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "client frame is not masked")
            if b0 & 0x70:
                # §5.2: RSV1-3 MUST be 0 unless an extension says otherwise; we offer none.
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits set")
            opcode = b0 & 0x0F
            length = b1 & 0x7F
            message = self._open
            if opcode >= CLOSE:
                if opcode > PONG:
                    # §5.2: reserved control opcodes 0xB-0xF fail the connection.
                    raise ProtocolError(CloseCode.PROTOCOL_ERROR, "unknown opcode")
                if not b0 & 0x80:
                    # §5.5: control frames MUST NOT be fragmented.
                    raise ProtocolError(CloseCode.PROTOCOL_ERROR, "fragmented control frame")
                if length > MAX_CONTROL_PAYLOAD:
                    # §5.5: control payloads are at most 125 bytes (so the 7-bit form).
                    raise ProtocolError(CloseCode.PROTOCOL_ERROR, "control frame too long")
                header = 6
            else:
                if opcode > BINARY:
                    # §5.2: reserved data opcodes 0x3-0x7 fail the connection.
                    raise ProtocolError(CloseCode.PROTOCOL_ERROR, "unknown opcode")
                if opcode == CONT:
                    if message is None:
                        # §5.4: a continuation needs an open fragmented message.
                        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "nothing to continue")
                elif message is not None:
                    # §5.4: fragments of one message are not interleaved with another.
                    raise ProtocolError(CloseCode.PROTOCOL_ERROR, "message still fragmented")
                if length == 126:
                    if avail < 4:
                        self._need = 4
                        return pos
                    length = (data[pos + 2] << 8) | data[pos + 3]
                    header = 8
                elif length == 127:
                    if avail < 10:
                        self._need = 10
                        return pos
                    length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                    if length >> 63:
                        # §5.2: the most significant bit of a 64-bit length MUST be 0.
                        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "invalid 64-bit length")
                    header = 14
                else:
                    header = 6
                if length + (0 if message is None else len(message.data)) > max_size:
                    # §7.4.1 1009: refuse before buffering a byte of the body (§10.4).
                    raise ProtocolError(CloseCode.TOO_BIG, "message too big")
            total = header + length
            if avail < total:
                self._need = total
                return pos
            if message is not None:
                # Every frame inside an open message counts, control frames and empty
                # continuations included: tiny frames must not make a message endless.
                message.frames += 1
                if message.frames > max_frames:
                    raise ProtocolError(CloseCode.TOO_BIG, "message in too many frames")
            start = pos + header
            pos += total
            if length:
                # §5.3: payload XOR the repeated 4-byte key, done as one big-int XOR.
                # CPython 3.11 timeit: 0.81 us / 100 B and 134 us / 64 KiB, against
                # 0.89 / 158 us big-endian, 1.85 / 131-155 us for four strided
                # bytes.translate() passes, 8.7 / 5400 us per byte in a generator.
                key = data[start - 4 : start]
                payload = (
                    int.from_bytes(data[start:pos], "little")
                    ^ int.from_bytes((key * ((length >> 2) + 1))[:length], "little")
                ).to_bytes(length, "little")
            else:
                payload = b""

            if opcode == CONT:
                assert message is not None  # checked with the header
                fin = bool(b0 & 0x80)
                if message.utf8 is not None:
                    _check_utf8(message.utf8, payload, fin)
                message.data += payload
                if fin:
                    whole = bytes(message.data)
                    events.append(
                        TextMessage(whole) if message.opcode == TEXT else BinaryMessage(whole)
                    )
                    self._open = None
            elif opcode < CLOSE:  # TEXT or BINARY
                if b0 & 0x80:
                    if opcode == TEXT:
                        if not payload.isascii():
                            # §8.1: invalid UTF-8 in a text message fails the connection.
                            _check_utf8(None, payload, True)
                        events.append(TextMessage(payload))
                    else:
                        events.append(BinaryMessage(payload))
                else:
                    self._open = _Message(opcode, payload)
            elif opcode == PING:
                events.append(Ping(payload))
            elif opcode == PONG:
                events.append(Pong(payload))
            else:
                events.append(_close_event(payload))
                self._finish()
                return end


def _check_utf8(decoder: codecs.IncrementalDecoder | None, data: bytes, final: bool) -> None:
    """Raise 1007 when ``data`` is not (the start of) valid UTF-8 (§5.6, §8.1)."""
    try:
        if decoder is None:
            data.decode("utf-8")
        else:
            decoder.decode(data, final)
    except UnicodeDecodeError:
        raise ProtocolError(CloseCode.INVALID_DATA, "text is not valid UTF-8") from None
