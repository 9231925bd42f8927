"""Logging set-up. Message bodies and tokens never reach a log line; room codes are cut short.

A room code is a capability (whoever has it can join), so every formatted line — tracebacks
included — keeps only the first three characters of anything shaped like one.
"""

from __future__ import annotations

import logging
import re
import sys

from sketchychat.rooms.codes import ALPHABET, CODE_LENGTH

__all__ = ["RedactingFormatter", "configure", "redact"]

_CODE = re.compile(f"(?<![0-9a-z])([{ALPHABET}]{{3}})[{ALPHABET}]{{{CODE_LENGTH - 3}}}(?![0-9a-z])")


def redact(text: str) -> str:
    """``room:k7m2p9qrstvw`` → ``room:k7m…``."""
    return _CODE.sub(r"\1…", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("sketchychat")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
