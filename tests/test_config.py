from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sketchychat.config import OPTIONS, ConfigError, Settings, load_settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults_need_no_configuration() -> None:
    s = load_settings({}, environ={})
    assert (s.http.host, s.http.port, s.auth.secret, s.cluster.redis_url) == (
        "127.0.0.1",
        4000,
        "",
        "",
    )
    assert s.auth.token_ttl == 86400 and s.rooms.room_idle_timeout == 1800
    assert s.socket.idle_timeout == 60
    assert s.socket.max_frame_size == 1024 * 1024 and s.rooms.max_body_length == 4000
    assert s.socket.max_channels == 100


def test_environment_variables_set_every_field() -> None:
    s = load_settings(
        {},
        environ={
            "SKETCHYCHAT_PORT": "4001",
            "SKETCHYCHAT_IDLE_TIMEOUT": "2.5",
            "SKETCHYCHAT_SECRET": "x" * 20,
        },
    )
    assert (s.http.port, s.socket.idle_timeout, s.auth.secret) == (4001, 2.5, "x" * 20)


def test_every_option_is_read_from_its_variable() -> None:
    for option in OPTIONS:
        value = {
            str: "redis://h" if option.name == "redis_url" else "x" * 20,
            int: "7",
            float: "7.5",
        }[option.kind]
        if option.choices:
            value = option.choices[0]
        env = {option.env: value, "SKETCHYCHAT_SECRET": "s" * 20}
        if option.name == "secret":
            env[option.env] = "z" * 20
        try:
            s = load_settings({}, environ=env)
        except ConfigError:
            continue  # e.g. workers without a Redis URL: refused, but read
        assert str(s.get(option.name)) == str(option.kind(env[option.env]))


def test_flags_win_over_the_environment() -> None:
    s = load_settings({"port": 4002, "host": None}, environ={"SKETCHYCHAT_PORT": "4001"})
    assert s.http.port == 4002 and s.http.host == "127.0.0.1"


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
        ({"SKETCHYCHAT_RETENTIONS": "memory,forever"}, "retentions must list ephemeral"),
        ({"SKETCHYCHAT_RETENTIONS": "memory"}, "retentions must list ephemeral"),
        ({"SKETCHYCHAT_DATABASE_URL": "mysql://x"}, "postgresql://"),
        ({"SKETCHYCHAT_RECOVERY_MESSAGES": "0"}, "recovery_messages must be greater than 0"),
        ({"SKETCHYCHAT_PERSISTENT_DAYS": "-1"}, "persistent_days must be greater than 0"),
    ],
)
def test_bad_settings_stop_the_start_with_a_clear_message(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({}, environ=env)


def test_an_unknown_variable_is_refused_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"SKETCHYCHAT_SCERET \(did you mean SKETCHYCHAT_SECRET"):
        load_settings({}, environ={"SKETCHYCHAT_SCERET": "s" * 20})
    with pytest.raises(ConfigError, match="SKETCHYCHAT_NOPE"):
        load_settings({}, environ={"SKETCHYCHAT_NOPE": "1"})


def test_the_supervisor_mark_and_test_variables_are_not_settings() -> None:
    load_settings({}, environ={"SKETCHYCHAT_WORKER": "1:42", "SKETCHYCHAT_TEST_ANYTHING": "1"})


def test_settings_are_immutable_and_replaced_by_flat_name() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.http = s.http  # type: ignore[misc]
    t = s.replace(port=5, max_frame_size=2048, log_level="debug")
    assert (t.http.port, t.socket.max_frame_size, t.log_level) == (5, 2048, "debug")
    assert s.http.port == 4000
    with pytest.raises(ConfigError, match="no setting"):
        s.replace(nope=1)


def _help() -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "sketchychat", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "PATH": ""},
    )
    return proc.stdout


def _readme_rows() -> dict[str, list[str]]:
    text = README.read_text()
    section = text[text.index("### Settings") :]
    section = section[: section.index("\n## ")]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        envs = re.findall(
            r"SKETCHYCHAT_[A-Z_]+", cells[0] + " " + (cells[1] if len(cells) > 1 else "")
        )
        if envs and len(cells) >= 4:
            rows[envs[0]] = cells
    return rows


def test_serve_help_the_readme_and_the_settings_agree() -> None:
    """Every setting is in ``serve --help`` and in the README table, with the same default."""
    helptext = _help()
    rows = _readme_rows()
    assert set(rows) == {o.env for o in OPTIONS}, "README settings table vs config.OPTIONS"
    for option in OPTIONS:
        flag, env, default, _what = rows[option.env][:4]
        shown = option.default_text or str(option.default).removesuffix(".0")
        assert shown in default, f"{option.env}: README says {default!r}, default is {shown!r}"
        assert option.env in env
        if option.flag:
            assert option.flag_name in flag and option.flag_name in helptext
            assert option.env in helptext
        else:
            assert option.flag_name not in helptext and flag in ("", "—")
