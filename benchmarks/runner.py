"""Processes: build the generator, install Node deps, run a server and a generator session.

Every process is started by us, pinned with ``taskset`` (server on core 0, generator on core 1)
and stopped by its own PID. Every wait has a timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import resource
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import psutil

from benchmarks.stacks import BENCH_DIR, NODE_DIR, Stack, child_env

BUILD_DIR = BENCH_DIR / "build"
LOADGEN_SRC = BENCH_DIR / "loadgen" / "loadgen.c"
LOADGEN_BIN = BUILD_DIR / "loadgen"
SERVER_CORE = "0"
GEN_CORE = "1"
#: Open-file limit given to the server and the generator (root may raise the hard limit).
NOFILE = 131072


class BenchError(RuntimeError):
    """A run could not be carried out (the message says why)."""


def build_loadgen(force: bool = False) -> Path:
    """Compile the generator (``gcc -O2``) when the binary is missing or older than its source."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    if (
        not force
        and LOADGEN_BIN.exists()
        and LOADGEN_BIN.stat().st_mtime >= LOADGEN_SRC.stat().st_mtime
    ):
        return LOADGEN_BIN
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise BenchError("no C compiler (gcc) found: the load generator cannot be built")
    cmd = [cc, "-O2", "-Wall", "-o", str(LOADGEN_BIN), str(LOADGEN_SRC), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise BenchError("building the load generator failed:\n" + r.stderr)
    return LOADGEN_BIN


def ensure_node_modules() -> None:
    """``npm ci`` in benchmarks/node when node_modules is missing (uses the committed lock file)."""
    if (NODE_DIR / "node_modules" / "ws").is_dir() and (
        NODE_DIR / "node_modules" / "socket.io"
    ).is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("npm not found: the Node peer stacks cannot be installed")
    r = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode != 0:
        raise BenchError("npm ci failed in benchmarks/node:\n" + r.stderr[-3000:])


def _raise_nofile() -> None:
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    except (ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def nofile_limit() -> int:
    """The open-file limit our children will get (the hard limit, raised when allowed)."""
    with contextlib.suppress(ValueError, OSError):
        _raise_nofile()  # our own process: see what this machine allows
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return int(min(NOFILE, soft if hard == resource.RLIM_INFINITY else hard))


def ephemeral_ports() -> int:
    """How many client ports one source address has towards one server port."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return hi - lo + 1
    except (OSError, ValueError):
        return 28000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def have_taskset() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(core: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", core, *argv] if have_taskset() else argv


def _cpu_times() -> list[tuple[int, int]]:
    """(busy, total) jiffies per CPU from /proc/stat."""
    out = []
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                v = [int(x) for x in line.split()[1:9]]
                out.append((v[0] + v[1] + v[2] + v[5] + v[6] + v[7], sum(v)))
    return out


def machine_busy(interval: float = 1.0) -> list[float]:
    """Busy % of each CPU over ``interval`` seconds."""
    a = _cpu_times()
    time.sleep(interval)
    b = _cpu_times()
    return [
        100.0 * (b[i][0] - a[i][0]) / max(1, b[i][1] - a[i][1]) for i in range(min(len(a), len(b)))
    ]


def wait_for_quiet(max_wait: float, threshold: float = 25.0) -> dict[str, Any]:
    """Wait (at most ``max_wait`` s) until every CPU is below ``threshold`` % busy for 1 s.

    Other developers' test suites share this machine; starting a measurement while they hold a
    core measures them, not us. Returns what was seen, for the record.
    """
    t0 = time.monotonic()
    busy = machine_busy(1.0)
    while max(busy, default=0.0) >= threshold and time.monotonic() - t0 < max_wait:
        busy = machine_busy(1.0)
    return {
        "waited_s": round(time.monotonic() - t0, 1),
        "busy_pct": [round(x) for x in busy],
        "quiet": max(busy, default=0.0) < threshold,
    }


class Server:
    """One server under test, pinned to core 0, stopped by PID."""

    def __init__(self, stack: Stack, log_path: Path, startup_timeout: float = 30.0) -> None:
        self.stack = stack
        self.port = free_port()
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        argv = pinned(SERVER_CORE, self.stack.command(self.port))
        self._log.write(("# " + " ".join(argv) + "\n").encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            argv,
            cwd=self.stack.cwd,
            env=child_env(self.stack),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_raise_nofile,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.stack.name} exited at start (code {self.proc.returncode}); "
                    f"log: {self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    time.sleep(0.3)  # let it finish start-up work after bind
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise BenchError(
            f"{self.stack.name} did not listen on 127.0.0.1:{self.port} within "
            f"{self.startup_timeout:.0f} s; log: {self.log_tail()}"
        )

    def rss(self) -> int:
        """Resident set size of the server process, bytes."""
        try:
            return int(psutil.Process(self.pid).memory_info().rss)
        except psutil.Error:
            return 0

    def cpu_seconds(self) -> float:
        try:
            t = psutil.Process(self.pid).cpu_times()
            return float(t.user + t.system)
        except psutil.Error:
            return 0.0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Generator:
    """One ``loadgen`` process, pinned to core 1, driven by commands on its stdin."""

    def __init__(
        self,
        server: Server,
        args: dict[str, Any],
        events: Callable[[dict[str, Any]], None],
        deadline_s: int = 900,
    ) -> None:
        argv = [
            str(LOADGEN_BIN),
            "--port",
            str(server.port),
            "--proto",
            server.stack.proto,
            "--server-pid",
            str(server.pid),
            "--deadline",
            str(deadline_s),
        ]
        for k, v in args.items():
            argv += [f"--{k.replace('_', '-')}", str(v)]
        self.argv = pinned(GEN_CORE, argv)
        self.record = events
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            preexec_fn=_raise_nofile,
            start_new_session=True,
        )
        self.stderr_tail: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_tail = [*self.stderr_tail, line.rstrip()][-20:]

    def next_event(self, timeout: float) -> dict[str, Any]:
        """The next JSON line the generator prints (recorded), within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"generator silent for {timeout:.0f} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise BenchError(
                    f"generator exited (code {self.proc.wait(5)}): " + " | ".join(self.stderr_tail)
                )
            line = line.strip()
            if not line.startswith("{"):
                continue
            ev: dict[str, Any] = json.loads(line)
            self.record(ev)
            if ev.get("event") == "deadline":
                raise BenchError("generator hit its deadline")
            return ev

    def command(self, line: str, timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError as e:
            raise BenchError("generator is gone") from e
        return self.next_event(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # drain the last lines (bye) into the record
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line and line.strip().startswith("{"):
                self.record(json.loads(line))

    def __enter__(self) -> Generator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
