from __future__ import annotations

import pytest

from sketchychat.auth.nicknames import NicknameError, clean_nickname


def test_a_nickname_is_trimmed() -> None:
    assert clean_nickname("  alice ") == "alice"


def test_unicode_nicknames_are_welcome() -> None:
    assert clean_nickname("Zoë 🦊") == "Zoë 🦊"


def test_thirty_two_characters_is_the_limit() -> None:
    assert clean_nickname("a" * 32) == "a" * 32
    with pytest.raises(NicknameError, match="at most 32"):
        clean_nickname("a" * 33)


@pytest.mark.parametrize("bad", ["", "   ", "\t\n"])
def test_an_empty_nickname_is_refused(bad: str) -> None:
    with pytest.raises(NicknameError, match="choose"):
        clean_nickname(bad)


@pytest.mark.parametrize("bad", ["al\x00ice", "bob\x1b[31m", "eve\u202e", "zero\u200bwidth"])
def test_control_and_invisible_characters_are_refused(bad: str) -> None:
    with pytest.raises(NicknameError, match="control"):
        clean_nickname(bad)


@pytest.mark.parametrize("bad", [None, 3, ["a"], {"a": 1}])
def test_a_nickname_must_be_text(bad: object) -> None:
    with pytest.raises(NicknameError):
        clean_nickname(bad)
