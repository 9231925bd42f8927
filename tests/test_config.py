from __future__ import annotations

import pytest

from sketchychat.config import ConfigError, Settings, load_settings


def test_defaults_need_no_configuration() -> None:
    s = load_settings({}, environ={})
    assert (s.host, s.port, s.secret, s.redis_url) == ("127.0.0.1", 4000, "", "")
    assert s.token_ttl == 86400 and s.room_idle_timeout == 1800 and s.idle_timeout == 60
    assert s.max_frame_size == 1024 * 1024 and s.max_body_length == 4000
    assert s.max_channels == 100


def test_environment_variables_set_every_field() -> None:
    s = load_settings({}, environ={"SKETCHYCHAT_PORT": "4001", "SKETCHYCHAT_IDLE_TIMEOUT": "2.5",
                                   "SKETCHYCHAT_SECRET": "x" * 20})
    assert (s.port, s.idle_timeout, s.secret) == (4001, 2.5, "x" * 20)


def test_flags_win_over_the_environment() -> None:
    s = load_settings({"port": 4002, "host": None}, environ={"SKETCHYCHAT_PORT": "4001"})
    assert s.port == 4002 and s.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SKETCHYCHAT_PORT": "abc"}, "SKETCHYCHAT_PORT must be a whole number"),
        ({"SKETCHYCHAT_PORT": "70000"}, "port must be 1-65535"),
        ({"SKETCHYCHAT_SECRET": "short"}, "at least 16"),
        ({"SKETCHYCHAT_IDLE_TIMEOUT": "0"}, "idle_timeout must be greater than 0"),
        ({"SKETCHYCHAT_LOG_LEVEL": "loud"}, "log_level"),
        ({"SKETCHYCHAT_REDIS_URL": "http://x"}, "redis://"),
        ({"SKETCHYCHAT_WORKERS": "2"}, "--workers needs --redis-url"),
        ({"SKETCHYCHAT_REDIS_URL": "redis://127.0.0.1"}, "shared secret"),
    ],
)
def test_bad_settings_stop_the_start_with_a_clear_message(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({}, environ=env)


def test_settings_are_immutable() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]
