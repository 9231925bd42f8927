from __future__ import annotations

import math

from sketchychat.rooms.codes import ALPHABET, CODE_LENGTH, RoomCodes, is_well_formed, topic_code


def test_codes_are_short_lowercase_and_free_of_look_alikes() -> None:
    codes = RoomCodes("k" * 32)
    for _ in range(500):
        code = codes.mint()
        assert 8 <= len(code) == CODE_LENGTH <= 12
        assert set(code) <= set(ALPHABET)
        assert not set(code) & set("01ilo")


def test_the_random_part_carries_at_least_40_bits() -> None:
    random_chars = CODE_LENGTH - 3
    assert random_chars * math.log2(len(ALPHABET)) >= 40


def test_a_node_recognises_its_own_codes_but_not_anothers() -> None:
    ours, theirs = RoomCodes("a" * 32), RoomCodes("b" * 32)
    code = ours.mint()
    assert ours.is_ours(code)
    assert not theirs.is_ours(code)


def test_a_typo_in_a_code_is_not_ours() -> None:
    codes = RoomCodes("a" * 32)
    code = codes.mint()
    swapped = code[:-1] + ("2" if code[-1] != "2" else "3")
    assert not codes.is_ours(swapped)


def test_minted_codes_do_not_repeat() -> None:
    codes = RoomCodes("a" * 32)
    assert len({codes.mint() for _ in range(5000)}) == 5000


def test_topics_map_to_codes_only_when_well_formed() -> None:
    code = RoomCodes("a" * 32).mint()
    assert topic_code(f"room:{code}") == code
    assert topic_code("room:lobby") is None
    assert topic_code(f"rooms:{code}") is None
    assert topic_code(f"room:{code.upper()}") is None
    assert not is_well_formed("")
