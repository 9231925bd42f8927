"""The per-connection channel state machine (Phoenix ``socket.ex`` handle_in, protocol.md §3)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sketchychat.protocol.commands import Command, Join, Leave, Reply, Route, Send
from sketchychat.protocol.message import Message, Payload
from sketchychat.protocol.session import Session


def rooms_only(topic: str) -> bool:
    return topic.startswith("room:")


def session(max_channels: int = 100) -> Session:
    return Session(topic_allowed=rooms_only, max_channels=max_channels)


def msg(
    join_ref: str | None, ref: str | None, topic: str, event: str, payload: Payload | None = None
) -> Message:
    return Message(join_ref, ref, topic, event, {} if payload is None else payload)


def joined(s: Session, topic: str, join_ref: str) -> None:
    """Join ``topic`` with ``join_ref`` and report success."""
    assert s.handle(msg(join_ref, join_ref, topic, "phx_join")) == [
        Join(topic, join_ref, join_ref, {})
    ]
    assert s.join_succeeded(topic, join_ref) == []


def close(topic: str, join_ref: str | None) -> Send:
    return Send(join_ref, join_ref, topic, "phx_close", {})


def unmatched(ref: str | None, topic: str) -> Reply:
    return Reply(None, ref, topic, "error", {"reason": "unmatched topic"})


# -- construction ---------------------------------------------------------------------


def test_a_new_session_has_no_channels() -> None:
    s = session()
    assert s.channel_count == 0
    assert s.join_ref_of("room:a") is None


def test_a_session_has_slots_and_no_instance_dict() -> None:
    assert not hasattr(session(), "__dict__")


def test_a_negative_channel_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_channels"):
        Session(topic_allowed=rooms_only, max_channels=-1)


# -- heartbeat (§3.1, §3.6) -------------------------------------------------------------------


def test_heartbeat_is_answered_ok_with_its_refs_echoed() -> None:
    s = session()
    assert s.handle(msg(None, "9", "phoenix", "heartbeat")) == [
        Reply(None, "9", "phoenix", "ok", {})
    ]


def test_heartbeat_echoes_a_join_ref_if_one_was_sent() -> None:
    assert session().handle(msg("4", "9", "phoenix", "heartbeat")) == [
        Reply("4", "9", "phoenix", "ok", {})
    ]


def test_heartbeat_changes_no_state() -> None:
    s = session()
    joined(s, "room:a", "1")
    s.handle(msg(None, "9", "phoenix", "heartbeat"))
    assert s.channel_count == 1
    assert s.join_ref_of("phoenix") is None


@pytest.mark.parametrize("event", ["ping", "phx_join", "phx_leave", "Heartbeat"])
def test_any_other_event_on_the_phoenix_topic_is_unmatched(event: str) -> None:
    s = Session(topic_allowed=lambda _topic: True)
    assert s.handle(msg("2", "2", "phoenix", event)) == [unmatched("2", "phoenix")]
    assert s.channel_count == 0


# -- join (§3.2, §3.3) ----------------------------------------------------------------------------


def test_join_of_an_allowed_topic_asks_the_runtime_to_join() -> None:
    s = session()
    commands = s.handle(msg("6", "6", "room:lobby", "phx_join", {"user": "alice"}))
    assert commands == [Join("room:lobby", "6", "6", {"user": "alice"})]
    assert s.join_ref_of("room:lobby") == "6"
    assert s.channel_count == 1


def test_join_with_null_join_ref_uses_the_ref() -> None:
    s = session()
    assert s.handle(msg(None, "5", "room:a", "phx_join")) == [Join("room:a", "5", "5", {})]
    assert s.join_ref_of("room:a") == "5"


def test_join_keeps_a_join_ref_that_differs_from_its_ref() -> None:
    s = session()
    assert s.handle(msg("4", "5", "room:a", "phx_join")) == [Join("room:a", "4", "5", {})]
    assert s.join_ref_of("room:a") == "4"


def test_join_with_a_null_ref_keeps_its_join_ref() -> None:
    s = session()
    assert s.handle(msg("4", None, "room:a", "phx_join")) == [Join("room:a", "4", None, {})]
    assert s.join_ref_of("room:a") == "4"


def test_join_with_null_ref_and_join_ref_is_a_channel_with_a_null_join_ref() -> None:
    # Phoenix accepts it (V1 clients such as phx-events) and replies with null refs.
    s = session()
    assert s.handle(msg(None, None, "room:a", "phx_join")) == [Join("room:a", None, None, {})]
    assert s.has("room:a") and s.join_ref_of("room:a") is None
    assert s.join_succeeded("room:a", None) == []
    assert s.handle(msg(None, "7", "room:a", "new_msg")) == [
        Route("room:a", None, "7", "new_msg", {})
    ]
    # A non-null join_ref is stale against a null one (§3.2): ignored.
    assert s.handle(msg("3", "8", "room:a", "new_msg")) == []
    # Joining again supersedes it like any other join (§3.4).
    assert s.handle(msg(None, None, "room:a", "phx_join")) == [
        Leave("room:a", None),
        Join("room:a", None, None, {}),
    ]
    assert s.join_succeeded("room:a", None) == [close("room:a", None)]
    assert s.handle(msg(None, None, "room:a", "phx_leave")) == [
        Leave("room:a", None),
        Reply(None, None, "room:a", "ok", {}),
        close("room:a", None),
    ]
    assert not s.has("room:a")


def test_join_of_a_topic_that_is_not_allowed_is_unmatched_with_null_join_ref() -> None:
    s = session()
    assert s.handle(msg("3", "3", "lobby", "phx_join")) == [unmatched("3", "lobby")]
    assert s.channel_count == 0
    assert s.join_ref_of("lobby") is None


def test_topic_allowed_is_asked_with_the_topic() -> None:
    asked: list[str] = []

    def allowed(topic: str) -> bool:
        asked.append(topic)
        return True

    Session(topic_allowed=allowed).handle(msg("1", "1", "anything:x", "phx_join"))
    assert asked == ["anything:x"]


def test_join_passes_a_binary_payload_through() -> None:
    s = session()
    assert s.handle(msg("1", "1", "room:a", "phx_join", b"\x00")) == [
        Join("room:a", "1", "1", b"\x00")
    ]


# -- channel limit (§3.3) -------------------------------------------------------------------------


def test_the_101st_channel_is_refused_with_too_many_channels_joined() -> None:
    s = session()
    for n in range(100):
        joined(s, f"room:{n}", str(n))
    assert s.channel_count == 100
    assert s.handle(msg("500", "500", "room:100", "phx_join")) == [
        Reply("500", "500", "room:100", "error", {"reason": "too many channels joined"})
    ]
    assert s.channel_count == 100
    assert s.join_ref_of("room:100") is None


def test_joins_still_in_progress_count_towards_the_limit() -> None:
    s = session(max_channels=2)
    s.handle(msg("1", "1", "room:a", "phx_join"))
    s.handle(msg("2", "2", "room:b", "phx_join"))
    assert s.handle(msg("3", "3", "room:c", "phx_join")) == [
        Reply("3", "3", "room:c", "error", {"reason": "too many channels joined"})
    ]


def test_a_duplicate_join_of_an_existing_topic_is_still_allowed_at_the_limit() -> None:
    s = session()
    for n in range(100):
        joined(s, f"room:{n}", str(n))
    assert s.handle(msg("500", "500", "room:7", "phx_join")) == [
        Leave("room:7", "7"),
        Join("room:7", "500", "500", {}),
    ]
    assert s.channel_count == 100


def test_an_unmatched_topic_is_reported_before_the_limit() -> None:
    s = session(max_channels=0)
    assert s.handle(msg("1", "1", "nope", "phx_join")) == [unmatched("1", "nope")]


def test_a_freed_slot_can_be_used_again() -> None:
    s = session(max_channels=1)
    joined(s, "room:a", "1")
    s.handle(msg("1", "2", "room:a", "phx_leave"))
    assert s.handle(msg("3", "3", "room:b", "phx_join")) == [Join("room:b", "3", "3", {})]


def test_a_limit_of_zero_refuses_every_join() -> None:
    s = session(max_channels=0)
    assert s.handle(msg("1", "1", "room:a", "phx_join")) == [
        Reply("1", "1", "room:a", "error", {"reason": "too many channels joined"})
    ]


# -- duplicate join (§3.4) --------------------------------------------------------------------


def test_duplicate_join_leaves_the_old_membership_and_joins_the_new_one() -> None:
    s = session()
    joined(s, "room:x", "3")
    assert s.handle(msg("7", "7", "room:x", "phx_join", {"n": 2})) == [
        Leave("room:x", "3"),
        Join("room:x", "7", "7", {"n": 2}),
    ]
    assert s.join_ref_of("room:x") == "7"
    assert s.channel_count == 1


def test_duplicate_join_sends_the_old_phx_close_after_the_new_join_succeeds() -> None:
    s = session()
    joined(s, "room:x", "3")
    s.handle(msg("7", "7", "room:x", "phx_join"))
    # The runtime sends the new join's reply, then reports; the close follows it.
    assert s.join_succeeded("room:x", "7") == [close("room:x", "3")]
    assert s.join_succeeded("room:x", "7") == []


def test_duplicate_join_sends_the_old_phx_close_after_the_new_join_fails() -> None:
    s = session()
    joined(s, "room:x", "3")
    s.handle(msg("7", "7", "room:x", "phx_join"))
    assert s.join_failed("room:x", "7") == [close("room:x", "3")]
    assert s.join_ref_of("room:x") is None
    assert s.channel_count == 0


def test_duplicate_join_while_the_first_is_still_joining() -> None:
    s = session()
    s.handle(msg("1", "1", "room:x", "phx_join"))
    assert s.handle(msg("2", "2", "room:x", "phx_join")) == [
        Leave("room:x", "1"),
        Join("room:x", "2", "2", {}),
    ]
    # The superseded join resolving late changes nothing.
    assert s.join_succeeded("room:x", "1") == []
    assert s.join_ref_of("room:x") == "2"
    assert s.join_succeeded("room:x", "2") == [close("room:x", "1")]


def test_pending_closes_move_to_the_join_that_supersedes_them() -> None:
    s = session()
    joined(s, "room:x", "1")
    s.handle(msg("2", "2", "room:x", "phx_join"))
    s.handle(msg("3", "3", "room:x", "phx_join"))
    assert s.join_failed("room:x", "2") == []
    assert s.join_succeeded("room:x", "3") == [close("room:x", "1"), close("room:x", "2")]
    assert s.join_ref_of("room:x") == "3"


def test_duplicate_joins_on_two_topics_are_tracked_apart() -> None:
    s = session()
    joined(s, "room:a", "1")
    joined(s, "room:b", "2")
    s.handle(msg("3", "3", "room:a", "phx_join"))
    s.handle(msg("4", "4", "room:b", "phx_join"))
    assert s.join_succeeded("room:b", "4") == [close("room:b", "2")]
    assert s.join_succeeded("room:a", "3") == [close("room:a", "1")]


def test_traced_client_duplicate_sequence_leave_then_join() -> None:
    # §3.4: ["3","6","room:x","phx_leave",{}] then ["7","7","room:x","phx_join",{"n":2}]
    s = session()
    joined(s, "room:x", "3")
    assert s.handle(msg("3", "6", "room:x", "phx_leave")) == [
        Leave("room:x", "3"),
        Reply("3", "6", "room:x", "ok", {}),
        close("room:x", "3"),
    ]
    assert s.handle(msg("7", "7", "room:x", "phx_join", {"n": 2})) == [
        Join("room:x", "7", "7", {"n": 2})
    ]
    assert s.join_succeeded("room:x", "7") == []


def test_rejoin_after_phx_error_is_a_fresh_join() -> None:
    # §8: crash, phx_error, then a rejoin with a new join_ref.
    s = session()
    joined(s, "room:lobby", "6")
    assert s.channel_ended("room:lobby", "6", crashed=True) == [
        Send("6", "6", "room:lobby", "phx_error", {"reason": "channel_crash"})
    ]
    assert s.handle(msg("14", "14", "room:lobby", "phx_join", {"user": "alice"})) == [
        Join("room:lobby", "14", "14", {"user": "alice"})
    ]


# -- pushes and stale join_refs (§3.2) ------------------------------------------------------------


def test_a_push_to_a_joined_channel_is_routed_with_the_current_join_ref() -> None:
    s = session()
    joined(s, "room:lobby", "6")
    assert s.handle(msg("6", "10", "room:lobby", "ping", {"n": 1})) == [
        Route("room:lobby", "6", "10", "ping", {"n": 1})
    ]


def test_a_push_with_a_null_join_ref_is_routed_with_the_current_join_ref() -> None:
    s = session()
    joined(s, "room:lobby", "6")
    assert s.handle(msg(None, "10", "room:lobby", "ping")) == [
        Route("room:lobby", "6", "10", "ping", {})
    ]


def test_a_push_with_a_null_ref_is_routed() -> None:
    s = session()
    joined(s, "room:a", "1")
    assert s.handle(msg("1", None, "room:a", "typing")) == [
        Route("room:a", "1", None, "typing", {})
    ]


def test_a_push_while_the_join_is_in_progress_is_routed() -> None:
    s = session()
    s.handle(msg("1", "1", "room:a", "phx_join"))
    assert s.handle(msg("1", "2", "room:a", "new_msg", {"body": "hi"})) == [
        Route("room:a", "1", "2", "new_msg", {"body": "hi"})
    ]


def test_a_binary_push_is_routed_with_its_bytes() -> None:
    s = session()
    joined(s, "room:lobby", "6")
    assert s.handle(msg("6", "11", "room:lobby", "binpush", b"hi")) == [
        Route("room:lobby", "6", "11", "binpush", b"hi")
    ]


def test_a_push_with_a_stale_join_ref_is_ignored_silently() -> None:
    s = session()
    joined(s, "room:a", "1")
    s.handle(msg("5", "5", "room:a", "phx_join"))
    s.join_succeeded("room:a", "5")
    assert s.handle(msg("1", "8", "room:a", "ping")) == []


def test_an_empty_join_ref_is_not_null_and_counts_as_stale() -> None:
    s = session()
    joined(s, "room:a", "1")
    assert s.handle(msg("", "8", "room:a", "ping")) == []


def test_a_push_to_a_topic_that_is_not_joined_is_unmatched() -> None:
    s = session()
    assert s.handle(msg("1", "2", "room:a", "ping")) == [unmatched("2", "room:a")]
    assert s.handle(msg(None, None, "nope", "ping")) == [unmatched(None, "nope")]


def test_a_push_after_the_channel_ended_is_unmatched() -> None:
    s = session()
    joined(s, "room:a", "1")
    s.channel_ended("room:a", "1", crashed=False)
    assert s.handle(msg("1", "2", "room:a", "ping")) == [unmatched("2", "room:a")]


@pytest.mark.parametrize("event", ["phx_reply", "phx_close", "phx_error", "presence_diff"])
def test_server_event_names_sent_by_a_client_are_routed_like_any_event(event: str) -> None:
    s = session()
    joined(s, "room:a", "1")
    assert s.handle(msg("1", "2", "room:a", event)) == [Route("room:a", "1", "2", event, {})]


# -- leave (§3.3) -------------------------------------------------------------------------


def test_leave_of_a_joined_channel_leaves_replies_ok_then_closes() -> None:
    # §8: ["14","18","room:lobby","phx_leave",{}] → ok reply, then phx_close.
    s = session()
    joined(s, "room:lobby", "14")
    assert s.handle(msg("14", "18", "room:lobby", "phx_leave")) == [
        Leave("room:lobby", "14"),
        Reply("14", "18", "room:lobby", "ok", {}),
        close("room:lobby", "14"),
    ]
    assert s.join_ref_of("room:lobby") is None
    assert s.channel_count == 0


def test_leave_with_a_null_join_ref_leaves_the_current_channel() -> None:
    s = session()
    joined(s, "room:a", "1")
    assert s.handle(msg(None, "2", "room:a", "phx_leave")) == [
        Leave("room:a", "1"),
        Reply(None, "2", "room:a", "ok", {}),
        close("room:a", "1"),
    ]
    assert s.channel_count == 0


def test_leave_with_a_stale_join_ref_is_ignored_silently() -> None:
    s = session()
    joined(s, "room:a", "1")
    s.handle(msg("2", "2", "room:a", "phx_join"))
    assert s.handle(msg("1", "3", "room:a", "phx_leave")) == []
    assert s.join_ref_of("room:a") == "2"


def test_leave_of_a_topic_that_is_not_joined_is_answered_ok_with_refs_echoed() -> None:
    # §8: ["9","12","room:bad","phx_leave",{}] after the join was refused.
    s = session()
    s.handle(msg("9", "9", "room:bad", "phx_join"))
    s.join_failed("room:bad", "9")
    assert s.handle(msg("9", "12", "room:bad", "phx_leave")) == [
        Reply("9", "12", "room:bad", "ok", {})
    ]


def test_leave_of_a_topic_that_is_not_allowed_is_answered_ok() -> None:
    assert session().handle(msg(None, "4", "nope", "phx_leave")) == [
        Reply(None, "4", "nope", "ok", {})
    ]


def test_leave_during_the_join_leaves_the_joining_membership() -> None:
    # The client's join timed out and it sends phx_leave with that join_ref (§3.5).
    s = session()
    s.handle(msg("1", "1", "room:a", "phx_join"))
    assert s.handle(msg("1", "2", "room:a", "phx_leave")) == [
        Leave("room:a", "1"),
        Reply("1", "2", "room:a", "ok", {}),
        close("room:a", "1"),
    ]
    # The abandoned join reports later: nothing more to do.
    assert s.join_succeeded("room:a", "1") == []
    assert s.join_ref_of("room:a") is None


def test_leave_during_a_duplicate_join_also_closes_the_superseded_join_ref() -> None:
    s = session()
    joined(s, "room:a", "1")
    s.handle(msg("2", "2", "room:a", "phx_join"))
    assert s.handle(msg("2", "3", "room:a", "phx_leave")) == [
        Leave("room:a", "2"),
        Reply("2", "3", "room:a", "ok", {}),
        close("room:a", "1"),
        close("room:a", "2"),
    ]
    assert s.join_succeeded("room:a", "2") == []


# -- join outcomes -----------------------------------------------------------------------


def test_join_succeeded_keeps_the_channel() -> None:
    s = session()
    s.handle(msg("1", "1", "room:a", "phx_join"))
    assert s.join_succeeded("room:a", "1") == []
    assert s.join_ref_of("room:a") == "1"
    assert s.channel_count == 1


def test_join_failed_forgets_the_topic() -> None:
    s = session()
    s.handle(msg("1", "1", "room:a", "phx_join"))
    assert s.join_failed("room:a", "1") == []
    assert s.join_ref_of("room:a") is None
    assert s.channel_count == 0
    assert s.handle(msg("1", "2", "room:a", "ping")) == [unmatched("2", "room:a")]


def test_join_failed_for_a_superseded_join_ref_changes_nothing() -> None:
    s = session()
    s.handle(msg("1", "1", "room:a", "phx_join"))
    s.handle(msg("2", "2", "room:a", "phx_join"))
    assert s.join_failed("room:a", "1") == []
    assert s.join_ref_of("room:a") == "2"


def test_join_outcomes_for_unknown_topics_change_nothing() -> None:
    s = session()
    joined(s, "room:a", "1")
    assert s.join_succeeded("room:zz", "1") == []
    assert s.join_failed("room:zz", "1") == []
    assert s.channel_count == 1


def test_join_failed_frees_a_slot_under_the_limit() -> None:
    s = session(max_channels=1)
    s.handle(msg("1", "1", "room:a", "phx_join"))
    s.join_failed("room:a", "1")
    assert s.handle(msg("2", "2", "room:b", "phx_join")) == [Join("room:b", "2", "2", {})]


# -- channel end (§3.3) -----------------------------------------------------------------------


def test_a_crashed_channel_sends_phx_error_with_the_join_ref_as_both_refs() -> None:
    s = session()
    joined(s, "room:a", "6")
    assert s.channel_ended("room:a", "6", crashed=True) == [
        Send("6", "6", "room:a", "phx_error", {"reason": "channel_crash"})
    ]
    assert s.join_ref_of("room:a") is None
    assert s.channel_count == 0


def test_a_channel_that_stopped_normally_sends_phx_close() -> None:
    s = session()
    joined(s, "room:a", "6")
    assert s.channel_ended("room:a", "6", crashed=False) == [close("room:a", "6")]
    assert s.channel_count == 0


def test_channel_ended_for_a_superseded_join_ref_sends_nothing() -> None:
    s = session()
    joined(s, "room:a", "1")
    s.handle(msg("2", "2", "room:a", "phx_join"))
    assert s.channel_ended("room:a", "1", crashed=True) == []
    assert s.join_ref_of("room:a") == "2"


def test_channel_ended_after_leave_sends_nothing() -> None:
    s = session()
    joined(s, "room:a", "1")
    s.handle(msg("1", "2", "room:a", "phx_leave"))
    assert s.channel_ended("room:a", "1", crashed=False) == []


def test_channel_ended_for_an_unknown_topic_sends_nothing() -> None:
    assert session().channel_ended("room:a", "1", crashed=True) == []


def test_channel_ended_during_a_duplicate_join_also_closes_the_superseded_join_ref() -> None:
    s = session()
    joined(s, "room:a", "1")
    s.handle(msg("2", "2", "room:a", "phx_join"))
    assert s.channel_ended("room:a", "2", crashed=True) == [
        close("room:a", "1"),
        Send("2", "2", "room:a", "phx_error", {"reason": "channel_crash"}),
    ]
    assert s.join_succeeded("room:a", "2") == []


# -- close ---------------------------------------------------------------------------------


def test_close_leaves_every_channel_joined_or_joining_then_empties() -> None:
    s = session()
    joined(s, "room:a", "1")
    s.handle(msg("2", "2", "room:b", "phx_join"))
    joined(s, "room:c", "3")
    s.handle(msg("4", "4", "room:c", "phx_join"))
    assert s.close() == [Leave("room:a", "1"), Leave("room:b", "2"), Leave("room:c", "4")]
    assert s.channel_count == 0
    assert s.join_ref_of("room:a") is None
    assert s.join_succeeded("room:c", "4") == []
    assert s.close() == []


def test_close_of_an_empty_session_does_nothing() -> None:
    assert session().close() == []


# -- properties -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    kind: str
    topic: str
    pick: int
    ref_is_null: bool


TOPICS = ["room:a", "room:b", "room:c", "phoenix", "nope"]
ops = st.lists(
    st.builds(
        Op,
        kind=st.sampled_from(
            ["join", "join", "push", "push", "leave", "ok", "fail", "crash", "stop", "heartbeat"]
        ),
        topic=st.sampled_from(TOPICS),
        pick=st.integers(min_value=0, max_value=30),
        ref_is_null=st.booleans(),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(ops=ops, max_channels=st.integers(min_value=0, max_value=3))
def test_session_invariants_hold_for_any_sequence_of_events(
    ops: list[Op], max_channels: int
) -> None:
    """Random traffic never routes a stale join_ref, never leaks a membership,
    never closes the live join_ref, and never exceeds the channel limit."""
    s = Session(topic_allowed=rooms_only, max_channels=max_channels)
    counter = 0
    issued: list[str] = []  # every join_ref handed out so far (the client's counter)
    live: Counter[tuple[str, str | None]] = Counter()  # memberships the runtime holds
    closed_once: set[tuple[str, str]] = set()

    def fresh() -> str:
        nonlocal counter
        counter += 1
        issued.append(str(counter))
        return str(counter)

    def old_or_null(op: Op) -> str | None:
        if op.ref_is_null or not issued:
            return None
        return issued[op.pick % len(issued)]

    def apply(commands: list[Command], current_before: dict[str, str | None]) -> None:
        for command in commands:
            if isinstance(command, Join):
                live[(command.topic, command.join_ref)] += 1
            elif isinstance(command, Leave):
                key = (command.topic, command.join_ref)
                assert live[key] > 0, f"Leave of a membership never joined: {key}"
                live[key] -= 1
            elif isinstance(command, Route):
                assert command.join_ref == current_before[command.topic]
            elif isinstance(command, Send):
                assert command.join_ref == command.ref
                assert command.join_ref is not None
                assert s.join_ref_of(command.topic) != command.join_ref
                if command.event == "phx_close":
                    key = (command.topic, command.join_ref)
                    assert key not in closed_once, f"phx_close sent twice for {key}"
                    closed_once.add(key)

    for op in ops:
        topic = op.topic
        before = {t: s.join_ref_of(t) for t in TOPICS}
        current = before[topic]
        if op.kind == "join":
            jr = fresh()
            commands = s.handle(Message(jr, jr, topic, "phx_join", {}))
        elif op.kind in ("push", "leave"):
            join_ref = old_or_null(op)
            event = "phx_leave" if op.kind == "leave" else "ping"
            commands = s.handle(Message(join_ref, fresh(), topic, event, {}))
            if current is not None and join_ref is not None and join_ref != current:
                assert commands == [], "a stale join_ref must be ignored"
            if op.kind == "push" and current is not None and topic != "phoenix":
                routed = [c for c in commands if isinstance(c, Route)]
                assert all(r.join_ref == current for r in routed)
        elif op.kind == "heartbeat":
            commands = s.handle(Message(None, fresh(), "phoenix", "heartbeat", {}))
            assert len(commands) == 1
        else:
            # The runtime reports on some join_ref: often the current one.
            reported = current if (current is not None and op.pick % 2 == 0) else old_or_null(op)
            if reported is None:
                continue
            if op.kind == "ok":
                commands = s.join_succeeded(topic, reported)
            elif op.kind == "fail":
                if reported == current:
                    live[(topic, reported)] -= 1  # the runtime's refused join holds nothing
                commands = s.join_failed(topic, reported)
            else:
                if reported == current:
                    live[(topic, reported)] -= 1  # the channel is gone
                commands = s.channel_ended(topic, reported, crashed=op.kind == "crash")
        apply(commands, before)
        assert s.channel_count <= max_channels
        assert s.channel_count == sum(1 for t in TOPICS if s.join_ref_of(t) is not None)
        assert s.join_ref_of("phoenix") is None
        assert s.join_ref_of("nope") is None
        assert all(count >= 0 for count in live.values())
        for t in TOPICS:
            now = s.join_ref_of(t)
            if now is not None:
                assert live[(t, now)] == 1, "the current join_ref is a live membership"

    apply(s.close(), {t: s.join_ref_of(t) for t in TOPICS})
    assert +live == Counter(), f"memberships leaked after close: {+live}"
    assert s.channel_count == 0


def test_one_channel_is_held_as_a_pair_and_several_as_a_dict() -> None:
    """Every socket has a Session: the usual single channel must not cost a dict."""
    s = session()
    joined(s, "room:a", "1")
    one: object = s._channels
    assert one == ("room:a", "1")
    joined(s, "room:b", "2")
    several: object = s._channels
    assert several == {"room:a": "1", "room:b": "2"}
    s.handle(msg("1", "3", "room:a", "phx_leave"))
    assert s._channels == ("room:b", "2") and s.channel_count == 1
    s.close()
    assert s._channels is None and s.channel_count == 0
