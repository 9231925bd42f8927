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
from sketchychat.config import OPTIONS, ConfigError, Settings, load_settings
from sketchychat.log import configure

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sketchychat", description="Ephemeral chat rooms over Phoenix Channels."
    )
    parser.add_argument("--version", action="version", version=f"sketchychat {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the server (in memory, one process, by default)",
        description="Every option also reads SKETCHYCHAT_<NAME>, e.g. SKETCHYCHAT_PORT=4001; "
        "an unknown SKETCHYCHAT_* variable stops the start. The secret is read "
        "only from SKETCHYCHAT_SECRET.",
    )
    for option in OPTIONS:
        if not option.flag:
            continue
        default = option.default_text or option.default
        serve.add_argument(
            option.flag_name,
            dest=option.name,
            type=option.kind,
            choices=option.choices or None,
            metavar=option.unit or None,
            help=f"{option.help} (default {default}; {option.env})",
        )
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
    if settings.cluster.workers > 1 and not os.environ.get(WORKER_ENV):
        from sketchychat.cluster.workers import supervise

        return supervise(settings.cluster.workers, sys.argv[1:] if argv is None else argv)
    return _serve(settings)


def _serve(settings: Settings) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
        return asyncio.run(run(settings))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(run(settings))
