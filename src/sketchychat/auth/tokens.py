"""Signed, expiring session tokens carrying a user id and a nickname.

Shape: ``<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`` — only URL-safe
characters and ``.``, so ``btoa`` of it never yields ``/`` (protocol.md §1.2:
a ``/`` in the authToken subprotocol makes browsers throw).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import orjson

__all__ = ["Identity", "TokenError", "TokenSigner", "derive_key", "new_user_id"]


class TokenError(ValueError):
    """A token that is malformed, forged, tampered with, foreign or expired."""


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    nickname: str
    expires_at: int


def derive_key(secret: str, purpose: str) -> bytes:
    """One key per purpose, so a token MAC can never pass as a room-code MAC."""
    return hmac.new(secret.encode(), b"sketchychat/" + purpose.encode(), hashlib.sha256).digest()


def new_user_id() -> str:
    """Opaque, unguessable, URL-safe (contract.md §2: stable for the token's life)."""
    return "u_" + secrets.token_urlsafe(12)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Decode the one spelling :func:`_b64` produces, and nothing else.

    ``urlsafe_b64decode`` alone would also take padding, ``+``/``/``, stray
    characters (silently dropped) and non-zero unused bits in the last
    character, giving one token several spellings; re-encoding must give back
    exactly what was sent.
    """
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:
        raise ValueError("not the canonical base64url spelling")
    return raw


class TokenSigner:
    """Issues and verifies tokens with one secret; clock readings come from the caller."""

    __slots__ = ("_key", "_ttl")

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._key = derive_key(secret, "token/v1")
        self._ttl = ttl_seconds

    def issue(self, user_id: str, nickname: str, *, now: float) -> str:
        issued = int(now)
        claims = {
            "v": 1,
            "uid": user_id,
            "nick": nickname,
            "iat": issued,
            "exp": issued + self._ttl,
        }
        body = _b64(orjson.dumps(claims))
        return body + "." + _b64(self._mac(body))

    def verify(self, token: str, *, now: float) -> Identity:
        body, dot, sig = token.partition(".")
        if not dot or not body or not sig or len(token) > 2048:
            raise TokenError("malformed token")
        try:
            given = _unb64(sig)
            claims = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError):
            raise TokenError("malformed token") from None
        if not hmac.compare_digest(given, self._mac(body)):
            raise TokenError("bad signature")
        if not isinstance(claims, dict) or claims.get("v") != 1:
            raise TokenError("unknown token version")
        uid, nick, exp = claims.get("uid"), claims.get("nick"), claims.get("exp")
        if not isinstance(uid, str) or not isinstance(nick, str) or not isinstance(exp, int):
            raise TokenError("malformed claims")
        if now >= exp:
            raise TokenError("token expired")
        return Identity(uid, nick, exp)

    def _mac(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()
