from __future__ import annotations

from sketchychat.presence.state import PresenceState, make_ref


def meta(ref: str, nick: str = "alice") -> dict[str, object]:
    return {"phx_ref": ref, "nickname": nick, "online_at": 1}


def test_refs_are_16_url_safe_characters_and_unique() -> None:
    refs = {make_ref(10**18 + i, 7, i) for i in range(1000)}
    assert len(refs) == 1000
    assert all(len(r) == 16 and "=" not in r and "/" not in r and "+" not in r for r in refs)


def test_a_join_is_a_diff_with_the_new_meta() -> None:
    state = PresenceState()
    diff = state.track("u1", meta("A"), "n1")
    assert diff.payload() == {"joins": {"u1": {"metas": [meta("A")]}}, "leaves": {}}
    assert state.list() == {"u1": {"metas": [meta("A")]}}


def test_two_tabs_are_one_key_with_two_metas() -> None:
    state = PresenceState()
    state.track("u1", meta("A"), "n1")
    state.track("u1", meta("B"), "n1")
    assert state.key_count == 1
    assert state.list() == {"u1": {"metas": [meta("A"), meta("B")]}}


def test_closing_one_tab_leaves_only_that_meta() -> None:
    state = PresenceState()
    state.track("u1", meta("A"), "n1")
    state.track("u1", meta("B"), "n1")
    diff = state.untrack("A")
    assert diff.payload() == {"joins": {}, "leaves": {"u1": {"metas": [meta("A")]}}}
    assert state.list() == {"u1": {"metas": [meta("B")]}}


def test_untracking_an_unknown_ref_is_an_empty_diff() -> None:
    assert not PresenceState().untrack("nope")


def test_tracking_the_same_ref_twice_changes_nothing() -> None:
    state = PresenceState()
    state.track("u1", meta("A"), "n1")
    assert not state.track("u1", meta("A"), "n1")
    assert len(state) == 1


def test_a_dead_node_takes_only_its_own_entries_with_it() -> None:
    state = PresenceState()
    state.track("u1", meta("A"), "n1")
    state.track("u2", meta("B", "bob"), "n2")
    state.track("u1", meta("C"), "n2")
    diff = state.untrack_node("n2")
    assert diff.payload()["leaves"] == {
        "u2": {"metas": [meta("B", "bob")]},
        "u1": {"metas": [meta("C")]},
    }
    assert state.list() == {"u1": {"metas": [meta("A")]}}
