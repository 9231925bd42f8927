"""The legacy V1 serializer (``vsn=1.0.0``): one JSON object per frame.

In: ``{"topic", "event", "payload", "ref", "join_ref"?}``; out:
``{"topic", "event", "payload", "ref"}`` with no join_ref (protocol.md §2.2),
keys in that order (Phoenix's order is an Erlang map's, so not fixed).
V1 has no binary layouts: a binary frame carries the same JSON as a text one.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from sketchychat.protocol.message import PHX_JOIN, PHX_REPLY, Frame, Message, Payload
from sketchychat.protocol.serializer import DecodeError

__all__ = ["V1_JSON", "V1JSONSerializer"]

_dumps = orjson.dumps
_loads = orjson.loads
# Builds a Frame without the NamedTuple's Python-level ``__new__`` (see v2_json).
_new_tuple = tuple.__new__


class V1JSONSerializer:
    """Phoenix ``V1.JSONSerializer``, for clients that still send objects."""

    __slots__ = ()

    vsn = "1.0.0"

    def decode(self, data: bytes, *, binary: bool) -> Message:
        """Decode one client frame; anything malformed raises :class:`DecodeError`.

        Phoenix's V1 serializer decodes the JSON whatever the frame type, and
        older clients (``phx-events`` on PyPI, for one) send every message as a
        binary frame, so ``binary`` changes nothing here (protocol.md §2.2).
        """
        try:
            decoded = _loads(data)
        except orjson.JSONDecodeError:
            raise DecodeError("malformed_json") from None
        if type(decoded) is not dict:
            raise DecodeError("invalid_message")
        # ``Message.from_map!``: topic, event, payload and ref are required keys
        # (ref may be null), join_ref is optional (§2.2).
        topic = decoded.get("topic")
        event = decoded.get("event")
        payload = decoded.get("payload")
        ref = decoded.get("ref")
        join_ref = decoded.get("join_ref")
        if (
            type(topic) is str
            and topic
            and type(event) is str
            and event
            and type(payload) is dict
            and (ref is None or type(ref) is str)
            and "ref" in decoded
            and (join_ref is None or type(join_ref) is str)
        ):
            if join_ref is None and event == PHX_JOIN:
                # Phoenix's channel server uses ``join_ref || ref`` for the join.
                join_ref = ref
            return Message(join_ref, ref, topic, event, payload)
        raise DecodeError(
            "invalid_message",
            join_ref=_str_or_none(join_ref),
            ref=_str_or_none(ref),
            topic=_str_or_none(topic),
        )

    def encode_reply(
        self,
        join_ref: str | None,
        ref: str | None,
        topic: str,
        status: str,
        response: Payload,
    ) -> Frame:
        """``{"topic", "event": "phx_reply", "payload": {"status", "response"}, "ref"}``."""
        _require_json(response)
        data = _dumps(
            {
                "topic": topic,
                "event": PHX_REPLY,
                "payload": {"status": status, "response": response},
                "ref": ref,
            }
        )
        return _new_tuple(Frame, (False, data))

    def encode_push(
        self,
        join_ref: str | None,
        ref: str | None,
        topic: str,
        event: str,
        payload: Payload,
    ) -> Frame:
        """``{"topic", "event", "payload", "ref"}``; ``join_ref`` is not sent in V1."""
        _require_json(payload)
        data = _dumps({"topic": topic, "event": event, "payload": payload, "ref": ref})
        return _new_tuple(Frame, (False, data))

    def encode_broadcast(self, topic: str, event: str, payload: Payload) -> Frame:
        """``{"topic", "event", "payload", "ref": null}``."""
        _require_json(payload)
        data = _dumps({"topic": topic, "event": event, "payload": payload, "ref": None})
        return _new_tuple(Frame, (False, data))


V1_JSON: Final = V1JSONSerializer()


def _require_json(payload: Payload) -> None:
    if isinstance(payload, bytes):
        raise ValueError("V1 (vsn 1.0.0) has no binary frames; bytes payloads need vsn 2.0.0")


def _str_or_none(value: Any) -> str | None:
    return value if type(value) is str else None
