"""Logging set-up. Message bodies and tokens never reach a log line."""

from __future__ import annotations

import logging
import sys

__all__ = ["configure"]


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("sketchychat")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
