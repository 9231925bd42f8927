from __future__ import annotations

import logging
import sys

from sketchychat.log import RedactingFormatter, redact
from sketchychat.rooms.codes import RoomCodes


def test_room_codes_are_cut_to_three_characters() -> None:
    code = RoomCodes("s" * 32).mint()
    assert redact(f"room:{code} expired") == f"room:{code[:3]}… expired"
    assert redact(f"GET /r/{code}") == f"GET /r/{code[:3]}…"


def test_other_words_are_left_alone() -> None:
    for text in ("node n3f9a0c2b71d4 is down", "transported", "abcdefghjkmnp", "x" * 40):
        assert redact(text) == text


def test_tracebacks_are_redacted_too() -> None:
    code = RoomCodes("s" * 32).mint()
    try:
        raise KeyError(code)
    except KeyError:
        record = logging.LogRecord(
            "sketchychat",
            logging.ERROR,
            __file__,
            1,
            "room %s crashed",
            (code,),
            exc_info=sys.exc_info(),
        )
    out = RedactingFormatter().format(record)
    assert code not in out and f"{code[:3]}…" in out
