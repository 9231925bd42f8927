"""The servers under test: how each is started, and which wire protocol the generator speaks."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
NODE_DIR = BENCH_DIR / "node"
#: A fixed secret, so that tokens are signed the way a configured deployment signs them.
BENCH_SECRET = "benchmark-secret-" + "s" * 32


@dataclass(frozen=True)
class Stack:
    name: str
    #: Wire protocol the generator speaks to it: ``phx``, ``sio`` or ``ws``.
    proto: str
    #: Command, ``{port}`` is replaced.
    argv: tuple[str, ...]
    needs_node: bool = False
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = BENCH_DIR.parent
    description: str = ""

    def command(self, port: int) -> list[str]:
        return [a.replace("{port}", str(port)) for a in self.argv]


def all_stacks() -> dict[str, Stack]:
    py = sys.executable
    node = shutil.which("node") or "node"
    return {
        s.name: s
        for s in (
            Stack(
                "sketchychat",
                "phx",
                (py, "-m", "sketchychat", "serve", "--host", "127.0.0.1", "--port", "{port}"),
                env={"SKETCHYCHAT_SECRET": BENCH_SECRET},
                description="SketchyChat, the product path: POST /api/session tokens, "
                "phx_join room:<code>, new_msg pushes, presence on (Phoenix V2 JSON)",
            ),
            Stack(
                "node-ws",
                "ws",
                (node, str(NODE_DIR / "ws_relay.js"), "{port}"),
                needs_node=True,
                description="Node `ws` room relay (benchmarks/node/ws_relay.js)",
            ),
            Stack(
                "node-socketio",
                "sio",
                (node, str(NODE_DIR / "socketio_relay.js"), "{port}"),
                needs_node=True,
                description="Node socket.io room relay (benchmarks/node/socketio_relay.js)",
            ),
            Stack(
                "python-socketio",
                "sio",
                (py, "-m", "benchmarks.servers.socketio_relay", "{port}"),
                description="python-socketio AsyncServer on aiohttp + uvloop "
                "(benchmarks/servers/socketio_relay.py)",
            ),
        )
    }


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def child_env(stack: Stack) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    # the package under test and the harness package must both import
    paths = [str(BENCH_DIR.parent)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(stack.env)
    return env
