"""Nickname rules (contract.md §2): trimmed, 1 to 32 characters, no control characters."""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_NICKNAME", "NicknameError", "clean_nickname"]

MAX_NICKNAME = 32


class NicknameError(ValueError):
    """Why a nickname is refused, as a sentence for a person."""


def clean_nickname(raw: object) -> str:
    """The nickname to use, or :class:`NicknameError` with the reason."""
    if not isinstance(raw, str):
        raise NicknameError("Nickname must be text.")
    nick = raw.strip()
    if not nick:
        raise NicknameError("Please choose a nickname.")
    if len(nick) > MAX_NICKNAME:
        raise NicknameError(f"Nicknames can be at most {MAX_NICKNAME} characters long.")
    # Cc = control, Cf = format (bidi overrides, zero-width joiners used to spoof names).
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") for ch in nick):
        raise NicknameError("Nicknames cannot contain control or invisible characters.")
    return nick
