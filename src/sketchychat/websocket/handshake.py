"""Server side of the RFC 6455 opening handshake, as pure functions.

The HTTP request has already been parsed (httptools) into a method and a
mapping of lower-case header names to values, repeated headers joined with
", " as RFC 9110 §5.3 allows.  These helpers only decide and format; the
transport writes the bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "PHOENIX_TOKEN_PREFIX",
    "WEBSOCKET_GUID",
    "UpgradeError",
    "accept_key",
    "auth_token_from_subprotocols",
    "split_subprotocols",
    "switching_protocols_response",
    "validate_upgrade",
]

#: Fixed GUID appended to the client's key (RFC 6455 §1.3, §4.2.2 step 5.4).
WEBSOCKET_GUID: Final = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Subprotocol prefix phoenix.js 1.8 uses to carry ``authToken``.
PHOENIX_TOKEN_PREFIX: Final = "base64url.bearer.phx."

# RFC 9110 §5.6.2 tchar: what a subprotocol name may contain (RFC 6455 §4.1).
_TCHARS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_BASE64_CHARS: Final = frozenset(
    "+/=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


@dataclass(frozen=True, slots=True)
class UpgradeError:
    """Why a request is not an acceptable WebSocket handshake, as an HTTP answer.

    RFC 6455 §4.2.2 says to refuse with "an appropriate HTTP error code";
    ``status`` is that code and ``headers`` the extra response headers it
    needs (``Allow`` for 405, ``Upgrade``/``Sec-WebSocket-Version`` for 426).
    ``reason`` is a fixed English phrase that never echoes request data, so
    it is safe as a ``text/plain`` body or in a log line.
    """

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


# RFC 9110 §15.5.22: a 426 MUST name the protocol to upgrade to, and §7.8
# makes Upgrade hop-by-hop, hence the matching Connection option.
_UPGRADE_REQUIRED: Final = (("Upgrade", "websocket"), ("Connection", "Upgrade"))


def _tokens(value: str) -> list[str]:
    """Split a comma-separated header list (RFC 9110 §5.6.1), dropping empties."""
    return [item for part in value.split(",") if (item := part.strip(" \t"))]


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (§4.2.2 step 5.4).

    Proves to the client that the server understood the WebSocket handshake
    rather than being an HTTP server fooled into echoing headers (§1.3).
    Surrounding whitespace is not part of an HTTP field value, so it is
    stripped before hashing.  Call it once :func:`validate_upgrade` has
    accepted the key; a non-ASCII key raises :class:`UnicodeEncodeError`.
    """
    digest = hashlib.sha1((key.strip(" \t") + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def validate_upgrade(method: str, headers: Mapping[str, str]) -> UpgradeError | None:
    """Check a request against the client handshake rules of RFC 6455 §4.2.1.

    Returns None when the server may answer 101, else the refusal to send:

    * 405 + ``Allow: GET`` for another method (item 1 requires GET);
    * 400 without ``Host`` (item 2);
    * 426 + ``Upgrade: websocket`` when ``Upgrade`` does not name websocket
      (item 3): the resource exists, only over WebSocket;
    * 400 when ``Connection`` lacks the ``upgrade`` token (item 4);
    * 400 when ``Sec-WebSocket-Key`` is not base64 of 16 bytes (item 5);
    * 426 + ``Sec-WebSocket-Version: 13`` for a missing or other version
      (item 6 and §4.4, so the client can retry with one we speak).

    The HTTP version (item 1, 1.1 or later) is the HTTP parser's business.
    ``Origin`` (item 7) is policy, left to the caller.
    """
    if method != "GET":
        return UpgradeError(405, "WebSocket handshake must use GET", (("Allow", "GET"),))
    if not headers.get("host", "").strip():
        return UpgradeError(400, "missing Host header")
    upgrade = headers.get("upgrade")
    if upgrade is None or "websocket" not in {t.lower() for t in _tokens(upgrade)}:
        return UpgradeError(426, "expected Upgrade: websocket", _UPGRADE_REQUIRED)
    connection = headers.get("connection", "")
    if "upgrade" not in {t.lower() for t in _tokens(connection)}:
        return UpgradeError(400, "Connection header lacks the upgrade token")
    version = headers.get("sec-websocket-version")
    if version is None or version.strip(" \t") != "13":
        return UpgradeError(
            426,
            "unsupported Sec-WebSocket-Version, expected 13",
            (*_UPGRADE_REQUIRED, ("Sec-WebSocket-Version", "13")),
        )
    key = headers.get("sec-websocket-key")
    if key is None:
        return UpgradeError(400, "missing Sec-WebSocket-Key")
    try:
        nonce = base64.b64decode(key.strip(" \t"), validate=True)
    except (binascii.Error, ValueError):
        nonce = b""
    if len(nonce) != 16:
        return UpgradeError(400, "Sec-WebSocket-Key must be base64 of 16 bytes")
    return None


def split_subprotocols(value: str | None) -> list[str]:
    """Offered subprotocols from ``Sec-WebSocket-Protocol``, in client order (§4.1).

    Several header lines arrive joined with commas, which is also the
    in-line separator, so a plain split covers both (§11.3.4).
    """
    if value is None:
        return []
    return _tokens(value)


def auth_token_from_subprotocols(offered: list[str]) -> str | None:
    """The bearer token phoenix.js 1.8 smuggles in a subprotocol, if any.

    Browsers cannot set headers on a WebSocket request, so phoenix.js offers
    ``["phoenix", "base64url.bearer.phx." + btoa(token)]`` with ``=`` removed.
    Despite the prefix that is standard base64; the URL-safe alphabet is
    accepted too.  The first entry with the prefix wins.  Anything that is
    not base64 of non-empty UTF-8 counts as no token, so a garbled offer is
    handled like an anonymous connection by the authentication layer.
    """
    for protocol in offered:
        if protocol.startswith(PHOENIX_TOKEN_PREFIX):
            encoded = protocol[len(PHOENIX_TOKEN_PREFIX) :].replace("-", "+").replace("_", "/")
            try:
                raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
                token = raw.decode("utf-8")
            except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
                return None
            return token or None
    return None


def switching_protocols_response(accept: str, subprotocol: str | None) -> bytes:
    """The complete ``101 Switching Protocols`` answer (§4.2.2 step 5, §1.3).

    ``accept`` comes from :func:`accept_key`.  ``subprotocol`` must be one
    the client offered (§4.2.2 step 5.5; for phoenix.js that is
    ``"phoenix"``, never the token entry) and an RFC 9110 token.  Anything
    else raises :class:`ValueError`, so no value can inject header lines.
    """
    if len(accept) != 28 or not _BASE64_CHARS.issuperset(accept):
        raise ValueError("accept must be the base64 SHA-1 from accept_key()")
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept}",
    ]
    if subprotocol is not None:
        if not subprotocol or not _TCHARS.issuperset(subprotocol):
            raise ValueError("subprotocol must be an HTTP token (RFC 6455 §4.1)")
        lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("ascii")
