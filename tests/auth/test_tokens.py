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
