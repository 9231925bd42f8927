"""``negotiate()``: the serializer for a ``vsn`` query value (protocol.md §1.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sketchychat.protocol.serializer import DecodeError
from sketchychat.protocol.v1_json import V1_JSON
from sketchychat.protocol.v2_json import V2_JSON
from sketchychat.protocol.versions import negotiate


def test_a_missing_vsn_means_v1() -> None:
    assert negotiate(None) is V1_JSON


@pytest.mark.parametrize("vsn", ["1.0.0", "1.0.7"])
def test_vsn_1_0_x_selects_v1(vsn: str) -> None:
    assert negotiate(vsn) is V1_JSON


@pytest.mark.parametrize("vsn", ["2.0.0", "2.0.1", "2.0.99"])
def test_vsn_2_0_x_selects_v2(vsn: str) -> None:
    assert negotiate(vsn) is V2_JSON


@pytest.mark.parametrize(
    "vsn",
    [
        "3.0.0",
        "2.1.0",
        "1.1.0",
        "0.0.1",
        "abc",
        "2.0",
        "2",
        "2.0.0.0",
        "2..0",
        "2.0.x",
        " 2.0.0",
        "2.0.0 ",
        "-2.0.0",
        "2.0.-1",
        "v2.0.0",
        "2.0.1234567",
        "2.0.²",
        "٢.0.0",
    ],
)
def test_other_versions_are_refused(vsn: str) -> None:
    assert negotiate(vsn) is None


@given(st.text(max_size=12))
def test_negotiate_never_raises(vsn: str) -> None:
    assert negotiate(vsn) in (None, V1_JSON, V2_JSON)


def test_decode_error_carries_its_reason_and_readable_fields() -> None:
    error = DecodeError("invalid_message", ref="2", join_ref="1", topic="t")
    assert isinstance(error, ValueError)
    assert (error.reason, error.ref, error.join_ref, error.topic) == (
        "invalid_message",
        "2",
        "1",
        "t",
    )
    assert str(error) == "invalid_message"


def test_decode_error_fields_default_to_none() -> None:
    error = DecodeError("malformed_json")
    assert (error.ref, error.join_ref, error.topic) == (None, None, None)
