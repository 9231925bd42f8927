"""Run a real ``sketchychat serve`` process for a test and stop it afterwards."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DEFAULT_SECRET", "ServerProcess", "free_port"]

#: The secret every test server gets unless a test sets its own.
DEFAULT_SECRET = "test-secret-" + "x" * 32

_READY = re.compile(r"(http://[0-9.]+:\d+)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """``python -m sketchychat serve`` on a free port, with extra env and flags."""

    env: Mapping[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    startup_timeout: float = 20.0
    lines: list[str] = field(default_factory=list)
    data_dir: str = ""
    _own_data_dir: str = ""
    _proc: subprocess.Popen[str] | None = None
    _pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket/websocket"

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def start(self) -> ServerProcess:
        env = dict(os.environ)
        env.setdefault("SKETCHYCHAT_SECRET", DEFAULT_SECRET)
        env.update(self.env)
        if "SKETCHYCHAT_DATA_DIR" not in env:
            # Never the user's own data dir: a directory of this test run's, per server.
            env["SKETCHYCHAT_DATA_DIR"] = tempfile.mkdtemp(prefix="sketchychat-data-")
            self._own_data_dir = env["SKETCHYCHAT_DATA_DIR"]
        self.data_dir = env["SKETCHYCHAT_DATA_DIR"]
        cmd = [
            sys.executable,
            "-m",
            "sketchychat",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
        ]
        self._proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()

        def pump() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            for line in self._proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if _READY.search(line) and "listening" in line.lower():
                    ready.set()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        deadline = time.monotonic() + self.startup_timeout
        while not ready.wait(0.05):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not start:\n" + "\n".join(self.lines))
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signal the server and wait; returns its exit code."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(sig)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._pump is not None:
            self._pump.join(5)
        if self._proc.stdout is not None and not self._proc.stdout.closed:
            self._proc.stdout.close()
        if self._own_data_dir:
            shutil.rmtree(self._own_data_dir, ignore_errors=True)
            self._own_data_dir = ""
        return self._proc.returncode

    def kill(self) -> None:
        """SIGKILL: the node dies without any goodbye."""
        self.stop(signal.SIGKILL)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
