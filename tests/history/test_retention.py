"""What a room keeps, chosen at creation (contract.md §5)."""

from __future__ import annotations

from typing import Any

import pytest

from sketchychat.history.retention import (
    Retention,
    RetentionError,
    RetentionPolicy,
    Window,
)


@pytest.mark.parametrize(
    ("body", "kind", "history"),
    [
        ({}, "ephemeral", "joined"),
        ({"retention": "ephemeral"}, "ephemeral", "joined"),
        ({"retention": "memory"}, "memory", "shared"),
        ({"retention": "memory", "history": "joined"}, "memory", "joined"),
        ({"retention": "persistent"}, "persistent", "shared"),
        ({"retention": "persistent", "history": "joined"}, "persistent", "joined"),
        ({"retention": "ephemeral", "history": "joined"}, "ephemeral", "joined"),
    ],
)
def test_a_body_picks_a_retention(body: dict[str, Any], kind: str, history: str) -> None:
    retention = Retention.parse(body)
    assert (retention.kind, retention.history) == (kind, history)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"retention": "forever"}, "invalid_retention"),
        ({"retention": 3}, "invalid_retention"),
        ({"retention": None}, "invalid_retention"),
        ({"retention": "memory", "history": "everyone"}, "invalid_history"),
        ({"retention": "ephemeral", "history": "shared"}, "invalid_history"),
    ],
)
def test_an_unknown_retention_is_refused_with_a_reason(body: dict[str, Any], code: str) -> None:
    with pytest.raises(RetentionError) as refused:
        Retention.parse(body)
    assert refused.value.code == code and refused.value.message


def test_every_retention_has_its_own_code_label_and_ephemeral_has_none() -> None:
    labels = Retention.labels()
    assert len({label for label, _ in labels}) == len(labels) == 5
    assert dict((r, label) for label, r in labels)[Retention()] == ""


def test_the_summary_is_a_plain_sentence() -> None:
    policy = RetentionPolicy(persistent=Window(100, 30 * 86400.0))
    assert policy.summary(Retention()) == "Nothing is kept"
    assert policy.summary(Retention("memory", "shared")) == "Kept while this room lives"
    assert policy.summary(Retention("persistent", "shared")) == "Saved for 30 days"
    one_day = RetentionPolicy(persistent=Window(100, 86400.0))
    assert one_day.summary(Retention("persistent", "joined")) == "Saved for 1 day"
    hours = RetentionPolicy(persistent=Window(100, 7200.0))
    assert hours.summary(Retention("persistent", "joined")) == "Saved for 2 hours"


def test_describe_gives_the_bounds_of_the_kind() -> None:
    policy = RetentionPolicy()
    assert policy.describe(Retention()) == {
        "kind": "ephemeral",
        "history": "joined",
        "summary": "Nothing is kept",
        "max_messages": 200,
        "max_age_seconds": 120,
    }
    assert policy.describe(Retention("memory", "shared"))["max_messages"] == 1000
