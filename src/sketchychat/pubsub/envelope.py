"""The versioned message that travels between nodes (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["VERSION", "Envelope", "EnvelopeError"]

VERSION = 1


class EnvelopeError(ValueError):
    """Bytes from the bus that are not an envelope this version understands."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """``node`` is the sender (receivers drop their own echoes); ``target``,
    when set, limits delivery to one node (Phoenix ``direct_broadcast``)."""

    node: str
    topic: str
    kind: str
    data: dict[str, Any]
    target: str | None = None

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "v": VERSION,
                "n": self.node,
                "t": self.topic,
                "k": self.kind,
                "d": self.data,
                "to": self.target,
            }
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Envelope:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError("not JSON") from exc
        if not isinstance(obj, dict) or obj.get("v") != VERSION:
            raise EnvelopeError("unknown envelope version")
        node, topic, kind, data, target = (obj.get(k) for k in ("n", "t", "k", "d", "to"))
        if not (
            isinstance(node, str)
            and isinstance(topic, str)
            and isinstance(kind, str)
            and isinstance(data, dict)
            and (target is None or isinstance(target, str))
        ):
            raise EnvelopeError("malformed envelope")
        return cls(node, topic, kind, data, target)
