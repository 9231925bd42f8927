"""The ``sketchychat`` command."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from sketchychat import __version__
from sketchychat.app import run
from sketchychat.cluster.workers import WORKER_ENV
from sketchychat.config import ConfigError, Settings, load_settings
from sketchychat.log import configure

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sketchychat", description="Ephemeral chat rooms over Phoenix Channels.")
    parser.add_argument("--version", action="version", version=f"sketchychat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve", help="run the server (in memory, one process, by default)",
        description="Every option also reads SKETCHYCHAT_<NAME>, e.g. SKETCHYCHAT_PORT=4001. "
                    "The secret is read only from SKETCHYCHAT_SECRET.")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 4000)")
    serve.add_argument("--redis-url", help="redis://… to share rooms with other nodes")
    serve.add_argument("--redis-namespace",
                       help="prefix of the cluster's Redis keys and channels (default sketchychat)")
    serve.add_argument("--workers", type=int, help="processes on one port (needs --redis-url)")
    serve.add_argument("--node-down-timeout", type=float, metavar="SECONDS",
                       help="a silent node's members leave after this long (default 15)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--room-idle-timeout", type=float, metavar="SECONDS",
                       help="an empty room expires after this long (default 1800)")
    serve.add_argument("--idle-timeout", type=float, metavar="SECONDS",
                       help="close sockets silent for this long (default 60)")
    serve.add_argument("--request-timeout", type=float, metavar="SECONDS",
                       help="time to send a whole HTTP request or WebSocket handshake; "
                            "slower clients get 408 (default 10)")
    serve.add_argument("--max-frame-size", type=int, metavar="BYTES",
                       help="largest WebSocket message (default 1048576)")
    serve.add_argument("--max-body-length", type=int, metavar="CHARS",
                       help="longest chat message (default 4000)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {k: v for k, v in vars(args).items() if k != "command"}
    try:
        settings = load_settings(overrides)
    except ConfigError as exc:
        print(f"sketchychat: configuration error: {exc}", file=sys.stderr)
        return 2
    configure(settings.log_level)
    if settings.workers > 1 and not os.environ.get(WORKER_ENV):
        from sketchychat.cluster.workers import supervise

        return supervise(settings.workers, sys.argv[1:] if argv is None else argv)
    return _serve(settings)


def _serve(settings: Settings) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
        return asyncio.run(run(settings))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(run(settings))
