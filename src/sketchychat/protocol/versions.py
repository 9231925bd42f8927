"""Which serializer a client gets for its ``vsn`` (Phoenix ``negotiate_serializer``).

Kept apart from the serializer interface so that the serializers import the
interface and this module imports the serializers: no import circle.
"""

from __future__ import annotations

from sketchychat.protocol.serializer import Serializer
from sketchychat.protocol.v1_json import V1_JSON
from sketchychat.protocol.v2_json import V2_JSON

__all__ = ["negotiate"]


def negotiate(vsn: str | None) -> Serializer | None:
    """Pick the serializer for a ``vsn`` query value, as ``Phoenix.Socket`` does.

    Missing ``vsn`` means 1.0.0; ``~> 2.0.0`` selects V2 and ``~> 1.0.0`` V1.
    Anything else returns None (the server answers 403 before upgrading).
    """
    version = _parse(vsn if vsn is not None else "1.0.0")
    if version is None:
        return None
    major, minor, _patch = version
    if (major, minor) == (2, 0):
        return V2_JSON
    if (major, minor) == (1, 0):
        return V1_JSON
    return None


def _parse(vsn: str) -> tuple[int, int, int] | None:
    parts = vsn.split(".")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 6 for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])
