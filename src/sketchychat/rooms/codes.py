"""Room codes: short, unguessable, and checkable without any stored state.

A code is 9 random characters (31-letter alphabet without look-alikes:
44.6 bits) followed by 3 check characters, an HMAC of the random part and the
room's retention under the node secret. The check lets a node that restarted
with the same secret, or any node of a cluster, tell a code it issued (a room
people may still be in) from a typo or a guess, and know what the room keeps,
without storing anything.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable

from sketchychat.auth.tokens import derive_key
from sketchychat.history.retention import Retention

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "ROOM_TOPIC_PREFIX",
    "RoomCodes",
    "is_well_formed",
    "topic_code",
]

#: Digits and lowercase letters without 0/1/i/l/o (look-alikes).
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_RANDOM_LEN = 9
_CHECK_LEN = 3
CODE_LENGTH = _RANDOM_LEN + _CHECK_LEN
_WELL_FORMED = re.compile(f"^[{ALPHABET}]{{{CODE_LENGTH}}}$")
#: Every topic with this prefix is a room topic (contract.md §4), whatever follows.
ROOM_TOPIC_PREFIX = "room:"


def is_well_formed(code: str) -> bool:
    return bool(_WELL_FORMED.match(code))


def topic_code(topic: str) -> str | None:
    """``room:<code>`` → ``<code>`` for a well-formed code, else None."""
    if topic.startswith(ROOM_TOPIC_PREFIX):
        code = topic[len(ROOM_TOPIC_PREFIX) :]
        if is_well_formed(code):
            return code
    return None


class RoomCodes:
    """Mints and checks codes under one secret."""

    __slots__ = ("_key", "_randbelow")

    def __init__(self, secret: str, randbelow: Callable[[int], int] = secrets.randbelow) -> None:
        self._key = derive_key(secret, "room-code/v1")
        self._randbelow = randbelow

    def mint(self, retention: Retention | None = None) -> str:
        """A fresh code; its check also carries the room's retention."""
        body = "".join(ALPHABET[self._randbelow(len(ALPHABET))] for _ in range(_RANDOM_LEN))
        return body + self._check(body, (retention or Retention()).label)

    def is_ours(self, code: str) -> bool:
        """Well formed and carrying a valid check for this secret."""
        return self.retention_of(code) is not None

    def retention_of(self, code: str) -> Retention | None:
        """The retention a code of ours was minted with; None for any other code.

        Ephemeral rooms check against no label, so codes minted before rooms had
        a retention still read as the ephemeral rooms they were.
        """
        if not is_well_formed(code):
            return None
        body, check = code[:_RANDOM_LEN], code[_RANDOM_LEN:]
        found = None
        for label, retention in Retention.labels():
            # Every label is tried (no early exit): the time taken says nothing.
            if hmac.compare_digest(check, self._check(body, label)):
                found = retention
        return found

    def _check(self, body: str, label: str) -> str:
        signed = body if not label else f"{body}/{label}"
        digest = hmac.new(self._key, signed.encode("ascii"), hashlib.sha256).digest()
        n = int.from_bytes(digest[:8], "big")
        out = []
        for _ in range(_CHECK_LEN):
            n, i = divmod(n, len(ALPHABET))
            out.append(ALPHABET[i])
        return "".join(out)
