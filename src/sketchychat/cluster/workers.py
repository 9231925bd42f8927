"""``sketchychat serve --workers N``: N serving processes on one port, one supervisor.

Each child is an ordinary clustered node (same flags, its own node id) that
listens with ``SO_REUSEPORT``, so the kernel spreads connections over them;
they share rooms through Redis like nodes on different machines. The
supervisor serves nothing itself. It prints the ready line once every child
is ready, forwards SIGINT/SIGTERM, restarts a child that dies (with capped
backoff), gives up when a child cannot even start, and exits when all stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Sequence

__all__ = ["WORKER_ENV", "supervise"]

#: Set by the supervisor in each child (``<index>:<supervisor pid>``); the child
#: then serves, and stops when that supervisor is gone.
WORKER_ENV = "SKETCHYCHAT_WORKER"

log = logging.getLogger("sketchychat.workers")

_READY = re.compile(r"listening on (http://\S+)", re.IGNORECASE)
_STOP_GRACE = 15.0  # seconds a child gets to drain before SIGKILL
_STARTUP_TIMEOUT = 60.0
_HEALTHY_UPTIME = 60.0  # a child up this long has its restart backoff reset


class _Supervisor:
    def __init__(self, count: int, argv: Sequence[str]) -> None:
        self._count = count
        self._argv = list(argv)
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._ready: set[int] = set()
        self._all_ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._exit_code = 0
        self._url = ""

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping.set)
        watchers = [loop.create_task(self._keep(i)) for i in range(self._count)]
        ready = loop.create_task(self._all_ready.wait())
        stopping = loop.create_task(self._stopping.wait())
        done, _ = await asyncio.wait(
            {ready, stopping}, timeout=_STARTUP_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if ready in done and not self._stopping.is_set():
            print(f"SketchyChat listening on {self._url} ({self._count} workers)", flush=True)
        elif not done:
            log.error("workers did not all start within %.0fs", _STARTUP_TIMEOUT)
            self._exit_code = 1
            self._stopping.set()
        await self._stopping.wait()
        ready.cancel()
        stopping.cancel()
        await self._stop_children()
        await asyncio.gather(*watchers, return_exceptions=True)
        return self._exit_code

    async def _keep(self, index: int) -> None:
        """Run child ``index``; restart it when it dies, until we stop."""
        failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sketchychat",
                *self._argv,
                env={**os.environ, WORKER_ENV: f"{index + 1}:{os.getpid()}"},
                stdout=asyncio.subprocess.PIPE,
                start_new_session=False,
            )
            self._procs[index] = proc
            was_ready = await self._pump(index, proc)
            code = await proc.wait()
            self._ready.discard(index)
            if self._stopping.is_set():
                return
            if not was_ready and not self._all_ready.is_set():
                log.error("worker %d could not start (exit code %s)", index + 1, code)
                self._exit_code = code if code > 0 else 1
                self._stopping.set()
                return
            failures = 0 if time.monotonic() - started >= _HEALTHY_UPTIME else failures + 1
            delay = min(30.0, 0.5 * 2**failures)
            log.warning(
                "worker %d exited with code %s; restarting in %.1fs", index + 1, code, delay
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _pump(self, index: int, proc: asyncio.subprocess.Process) -> bool:
        """Forward the child's stdout, keeping its ready line to ourselves."""
        assert proc.stdout is not None
        was_ready = False
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            match = _READY.search(line)
            if match and not was_ready:
                was_ready = True
                self._url = match.group(1)
                self._ready.add(index)
                if len(self._ready) == self._count:
                    self._all_ready.set()
                continue
            print(line, flush=True)
        return was_ready

    async def _stop_children(self) -> None:
        live = [p for p in self._procs.values() if p.returncode is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in live)), _STOP_GRACE)
        except TimeoutError:
            for proc in live:
                if proc.returncode is None:
                    log.warning("worker pid %d did not stop in time: killing it", proc.pid)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            await asyncio.gather(*(p.wait() for p in live))


def supervise(count: int, argv: Sequence[str]) -> int:
    """Run ``count`` workers with the same command-line arguments; returns the exit code."""
    return asyncio.run(_Supervisor(count, argv).run())
