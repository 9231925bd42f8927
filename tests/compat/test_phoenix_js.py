"""The official phoenix npm client (1.8.16, ws transport) against a real server."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.compat

SCRIPT = Path(__file__).parent / "js" / "scenarios.mjs"


def run(node: str, scenario: str, url: str) -> dict[str, Any]:
    proc = subprocess.run(
        [node, str(SCRIPT), scenario, url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=SCRIPT.parent.parent,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])["result"]
    return result


def test_two_phoenix_clients_chat_with_presence_typing_tabs_and_leave(
    node: str, shared_server: ServerProcess
) -> None:
    result = run(node, "chat", shared_server.url)
    assert result["messages"] == ["hello bob", "hi alice"]
    assert result["keysWithTwoTabs"] == 2  # bob's two tabs are one key
    assert result["typingSeenBySender"] == 0
    assert result["presenceAfterLeave"] == ["alice"]
    assert result["heartbeatRttMs"] >= 0


def test_a_forged_token_never_opens_the_socket(node: str, shared_server: ServerProcess) -> None:
    result = run(node, "refused", shared_server.url)
    assert result["opened"] is False and result["errors"] >= 1


def test_an_unknown_room_is_not_found(node: str, shared_server: ServerProcess) -> None:
    assert run(node, "not_found", shared_server.url) == {"reason": "not_found"}


def test_an_unchanged_client_recovers_what_it_missed_through_join_params(
    node: str, shared_server: ServerProcess
) -> None:
    """contract.md §5: the position goes back through ``channel(topic, () => params)``."""
    result = run(node, "recover", shared_server.url)
    assert result["replay"] == {"after": 5, "count": 10, "recovered": True}
    # Carol saw nothing before she dropped; her position came from the join reply.
    assert result["carolSaw"] == ["for carol"] and result["carolJoins"] == 2
    assert result["seen"] == [
        *(f"before {i}" for i in range(5)),
        *(f"missed {i}" for i in range(10)),
        "live",
    ]


def test_the_client_reconnects_and_rejoins_after_a_restart(node: str) -> None:
    srv = ServerProcess().start()
    proc = subprocess.Popen(
        [node, str(SCRIPT), "reconnect", srv.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=SCRIPT.parent.parent,
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline()) == {"ready": True}
        srv.stop()  # SIGTERM: sockets close with 1012
        time.sleep(0.3)
        srv = ServerProcess(port=srv.port).start()  # same secret, same port
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])["result"]
        assert result == {"joins": 2, "pushAfterRestart": "ok"}
    finally:
        proc.kill()
        proc.communicate()
        srv.stop()
