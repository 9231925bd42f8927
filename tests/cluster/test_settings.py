"""Cluster settings are validated at start-up."""

from __future__ import annotations

import pytest

from sketchychat.config import ConfigError, load_settings

SECRET = {"SKETCHYCHAT_SECRET": "s" * 32, "SKETCHYCHAT_REDIS_URL": "redis://127.0.0.1"}


def test_cluster_defaults_detect_a_dead_node_within_thirty_seconds() -> None:
    c = load_settings({}, environ=SECRET).cluster
    assert c.node_down_timeout <= 30 and c.heartbeat_interval * 2 <= c.node_down_timeout
    assert c.redis_namespace == "sketchychat"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"SKETCHYCHAT_NODE_DOWN_TIMEOUT": "1", "SKETCHYCHAT_HEARTBEAT_INTERVAL": "1"},
            "at least twice",
        ),
        ({"SKETCHYCHAT_HEARTBEAT_INTERVAL": "0"}, "heartbeat_interval must be greater"),
        ({"SKETCHYCHAT_REDIS_NAMESPACE": "has space"}, "redis_namespace"),
    ],
)
def test_bad_cluster_settings_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({}, environ={**SECRET, **env})
