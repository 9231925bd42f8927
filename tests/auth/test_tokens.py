from __future__ import annotations

import base64

import pytest

from sketchychat.auth.tokens import TokenError, TokenSigner, new_user_id

SECRET = "s" * 32
NOW = 1_800_000_000.0


def test_an_issued_token_verifies_to_its_identity() -> None:
    signer = TokenSigner(SECRET, 3600)
    ident = signer.verify(signer.issue("u_1", "alice", now=NOW), now=NOW + 10)
    assert (ident.user_id, ident.nickname, ident.expires_at) == ("u_1", "alice", int(NOW) + 3600)


def test_a_token_is_refused_once_expired() -> None:
    signer = TokenSigner(SECRET, 60)
    token = signer.issue("u_1", "alice", now=NOW)
    with pytest.raises(TokenError, match="expired"):
        signer.verify(token, now=NOW + 60)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = TokenSigner("other" * 8, 60).issue("u_1", "alice", now=NOW)
    with pytest.raises(TokenError, match="signature"):
        TokenSigner(SECRET, 60).verify(token, now=NOW)


def test_a_tampered_payload_is_refused() -> None:
    signer = TokenSigner(SECRET, 60)
    body, sig = signer.issue("u_1", "alice", now=NOW).split(".")
    claims = base64.urlsafe_b64decode(body + "==").replace(b"alice", b"admin")
    forged = base64.urlsafe_b64encode(claims).rstrip(b"=").decode() + "." + sig
    with pytest.raises(TokenError):
        signer.verify(forged, now=NOW)


@pytest.mark.parametrize("junk", ["", ".", "abc", "a.b", "!!!.???", "x" * 3000, "e30.e30"])
def test_garbage_is_refused_with_a_token_error(junk: str) -> None:
    with pytest.raises(TokenError):
        TokenSigner(SECRET, 60).verify(junk, now=NOW)


def test_btoa_of_a_token_never_contains_a_slash() -> None:
    """Reference §1.2: a '/' in the authToken subprotocol makes browsers throw."""
    signer = TokenSigner(SECRET, 60)
    for i in range(200):
        token = signer.issue(new_user_id(), f"nick{i}", now=NOW + i)
        assert "/" not in base64.b64encode(token.encode()).decode()


def test_user_ids_are_opaque_and_distinct() -> None:
    ids = {new_user_id() for _ in range(1000)}
    assert len(ids) == 1000


def _respell(token: str, part: int, change: str) -> str:
    pieces = token.split(".")
    pieces[part] = change.replace("X", pieces[part])
    return ".".join(pieces)


@pytest.mark.parametrize(
    ("part", "change"),
    [
        (1, "X="),  # the finding: an extra '=' of padding was accepted
        (1, "X=="),
        (0, "X="),
        (1, "X!"),  # stray characters were dropped by the decoder
        (1, "X\n"),
        (0, " X"),
    ],
)
def test_a_token_has_exactly_one_accepted_spelling(part: int, change: str) -> None:
    signer = TokenSigner(SECRET, 60)
    token = signer.issue("u_1", "alice", now=NOW)
    signer.verify(token, now=NOW)
    with pytest.raises(TokenError):
        signer.verify(_respell(token, part, change), now=NOW)


def test_unused_bits_of_the_last_character_must_be_zero() -> None:
    # 32 signature bytes are 43 characters: the last one carries 2 unused bits, so
    # four different characters would decode to the same MAC.
    signer = TokenSigner(SECRET, 60)
    body, sig = signer.issue("u_1", "alice", now=NOW).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(sig[-1])
    twins = [alphabet[(index & ~3) | low] for low in range(4) if (index & ~3) | low != index]
    assert len(twins) == 3
    for twin in twins:
        assert base64.urlsafe_b64decode(sig[:-1] + twin + "=") == base64.urlsafe_b64decode(
            sig + "="
        )
        with pytest.raises(TokenError):
            signer.verify(f"{body}.{sig[:-1]}{twin}", now=NOW)
