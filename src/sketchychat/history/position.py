"""Where a client is in a room's stream: an epoch and a sequence number.

Every message a room accepts gets the next ``seq`` of the room's stream; the
``epoch`` names that stream and changes whenever the stream was lost (a restart
of an ephemeral or memory room, a Redis that forgot it), so a position from an
older epoch can never be mistaken for one of the current stream.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["MAX_EPOCH", "Position", "PositionError", "new_epoch"]

#: Longest epoch a client may send back (ours are 12 characters).
MAX_EPOCH: Final = 64
#: Largest seq a client may send (JSON numbers past 2**53 lose precision in browsers).
_MAX_SEQ: Final = 2**53 - 1


class PositionError(ValueError):
    """A position that is not one: the join's error reply ``invalid_position``."""


def new_epoch() -> str:
    """A fresh stream name: 12 URL-safe characters (72 bits)."""
    return secrets.token_urlsafe(9)


@dataclass(frozen=True, slots=True)
class Position:
    epoch: str
    seq: int

    @classmethod
    def parse(cls, raw: Any) -> Position:
        """``{"epoch": "…", "seq": 41}`` from a join payload, or :class:`PositionError`."""
        if not isinstance(raw, dict):
            raise PositionError("position must be an object with epoch and seq")
        epoch, seq = raw.get("epoch"), raw.get("seq")
        if not isinstance(epoch, str) or not 0 < len(epoch) <= MAX_EPOCH:
            raise PositionError("position.epoch must be a short string")
        if type(seq) is not int or not 0 <= seq <= _MAX_SEQ:
            raise PositionError("position.seq must be a whole number, 0 or more")
        return cls(epoch, seq)

    def payload(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "seq": self.seq}
