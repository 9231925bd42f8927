"""The V2 serializer (``vsn=2.0.0``): JSON arrays and binary frames.

Text frames are ``[join_ref, ref, topic, event, payload]`` (protocol.md §2.1);
a ``bytes`` payload travels in the asymmetric V2 binary layouts (§2.3).

Output is compact JSON with non-ASCII kept as raw UTF-8, as Phoenix's Jason
emits it. The reply wrapper is written ``{"status", "response"}`` as in the
traced frames; Phoenix's own key order there is not fixed (an Erlang map).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from sketchychat.protocol.message import PHX_REPLY, Frame, Message, Payload
from sketchychat.protocol.serializer import DecodeError

__all__ = ["V2_JSON", "V2JSONSerializer"]

# Kind bytes of the V2 binary layouts (protocol.md §2.3).
_PUSH: Final = 0
_REPLY: Final = 1
_BROADCAST: Final = 2

_MAX_FIELD: Final = 255
_CLIENT_PUSH_HEADER: Final = 5

_dumps = orjson.dumps
_loads = orjson.loads
# ``_new_tuple(Frame, (binary, data))`` builds a Frame without going through the
# NamedTuple's Python-level ``__new__``: ~0.2 µs, a quarter of a small encode.
_new_tuple = tuple.__new__


class V2JSONSerializer:
    """Phoenix ``V2.JSONSerializer``: what the phoenix.js 1.8 client speaks."""

    __slots__ = ()

    vsn = "2.0.0"

    def decode(self, data: bytes, *, binary: bool) -> Message:
        """Decode one client frame; anything malformed raises :class:`DecodeError`."""
        if binary:
            return _decode_binary(data)
        return _decode_text(data)

    def encode_reply(
        self,
        join_ref: str | None,
        ref: str | None,
        topic: str,
        status: str,
        response: Payload,
    ) -> Frame:
        """``[join_ref, ref, topic, "phx_reply", {"status", "response"}]`` or binary kind 1."""
        if isinstance(response, bytes):
            return _binary_reply(join_ref, ref, topic, status, response)
        data = _dumps([join_ref, ref, topic, PHX_REPLY, {"status": status, "response": response}])
        return _new_tuple(Frame, (False, data))

    def encode_push(
        self,
        join_ref: str | None,
        ref: str | None,
        topic: str,
        event: str,
        payload: Payload,
    ) -> Frame:
        """``[join_ref, ref, topic, event, payload]`` or binary kind 0.

        The server→client binary push has no ref field (§2.3), so ``ref`` is
        dropped for a ``bytes`` payload, exactly as Phoenix does.
        """
        if isinstance(payload, bytes):
            return _binary_push(join_ref, topic, event, payload)
        return _new_tuple(Frame, (False, _dumps([join_ref, ref, topic, event, payload])))

    def encode_broadcast(self, topic: str, event: str, payload: Payload) -> Frame:
        """``[null, null, topic, event, payload]`` or binary kind 2."""
        if isinstance(payload, bytes):
            return _binary_broadcast(topic, event, payload)
        return _new_tuple(Frame, (False, _dumps([None, None, topic, event, payload])))


V2_JSON: Final = V2JSONSerializer()


# -- decoding ---------------------------------------------------------------


def _decode_text(data: bytes) -> Message:
    # Phoenix matches ``[join_ref, ref, topic, event, payload | _]`` (§2.1):
    # five elements at least, extra trailing ones ignored.
    try:
        decoded = _loads(data)
    except orjson.JSONDecodeError:
        raise DecodeError("malformed_json") from None
    if type(decoded) is list and len(decoded) >= 5:
        join_ref, ref, topic, event, payload = decoded[:5]
        if (
            (join_ref is None or type(join_ref) is str)
            and (ref is None or type(ref) is str)
            and type(topic) is str
            and topic
            and type(event) is str
            and event
            and type(payload) is dict
        ):
            return Message(join_ref, ref, topic, event, payload)
    raise _invalid_array(decoded)


def _invalid_array(decoded: Any) -> DecodeError:
    """An ``invalid_message`` error carrying whichever refs/topic are strings."""
    if type(decoded) is not list:
        return DecodeError("invalid_message")
    fields: list[str | None] = [item if type(item) is str else None for item in decoded[:3]]
    fields.extend([None] * (3 - len(fields)))
    return DecodeError("invalid_message", join_ref=fields[0], ref=fields[1], topic=fields[2])


def _decode_binary(data: bytes) -> Message:
    # Client→server kind 0: 5-byte header, then join_ref | ref | topic | event | payload
    # (§2.3). Empty join_ref/ref stay "" (Phoenix does not turn them into nil).
    size = len(data)
    if size < _CLIENT_PUSH_HEADER or data[0] != _PUSH:
        raise DecodeError("invalid_message")
    join_ref_end = _CLIENT_PUSH_HEADER + data[1]
    ref_end = join_ref_end + data[2]
    topic_end = ref_end + data[3]
    event_end = topic_end + data[4]
    join_ref = _text_field(data, _CLIENT_PUSH_HEADER, join_ref_end)
    ref = _text_field(data, join_ref_end, ref_end)
    topic = _text_field(data, ref_end, topic_end)
    event = _text_field(data, topic_end, event_end)
    if join_ref is None or ref is None or not topic or not event:
        raise DecodeError("invalid_message", join_ref=join_ref, ref=ref, topic=topic)
    return Message(join_ref, ref, topic, event, data[event_end:])


def _text_field(data: bytes, start: int, end: int) -> str | None:
    """The UTF-8 field ``data[start:end]``, or None if truncated or not UTF-8."""
    if end > len(data):
        return None
    try:
        return str(data[start:end], "utf-8")
    except UnicodeDecodeError:
        return None


# -- binary encoding ----------------------------------------------------------


def _field(value: str, name: str) -> bytes:
    encoded = value.encode()
    if len(encoded) > _MAX_FIELD:
        raise ValueError(
            f"{name} is {len(encoded)} bytes in UTF-8; V2 binary frames allow at most {_MAX_FIELD}"
        )
    return encoded


def _binary_push(join_ref: str | None, topic: str, event: str, payload: bytes) -> Frame:
    # kind 0, len(join_ref), len(topic), len(event): 4-byte header, no ref (§2.3).
    join_ref_b = _field(join_ref or "", "join_ref")
    topic_b = _field(topic, "topic")
    event_b = _field(event, "event")
    header = bytes((_PUSH, len(join_ref_b), len(topic_b), len(event_b)))
    return _new_tuple(Frame, (True, b"".join((header, join_ref_b, topic_b, event_b, payload))))


def _binary_reply(
    join_ref: str | None, ref: str | None, topic: str, status: str, response: bytes
) -> Frame:
    # kind 1, len(join_ref), len(ref), len(topic), len(status): 5-byte header (§2.3).
    join_ref_b = _field(join_ref or "", "join_ref")
    ref_b = _field(ref or "", "ref")
    topic_b = _field(topic, "topic")
    status_b = _field(status, "status")
    header = bytes((_REPLY, len(join_ref_b), len(ref_b), len(topic_b), len(status_b)))
    data = b"".join((header, join_ref_b, ref_b, topic_b, status_b, response))
    return _new_tuple(Frame, (True, data))


def _binary_broadcast(topic: str, event: str, payload: bytes) -> Frame:
    # kind 2, len(topic), len(event): 3-byte header (§2.3).
    topic_b = _field(topic, "topic")
    event_b = _field(event, "event")
    header = bytes((_BROADCAST, len(topic_b), len(event_b)))
    return _new_tuple(Frame, (True, b"".join((header, topic_b, event_b, payload))))
