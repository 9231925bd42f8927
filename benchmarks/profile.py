"""``python -m benchmarks profile``: where SketchyChat spends its core under fan-out load.

Starts SketchyChat (core 0) and the generator (core 1) with the 1x1000 layout, offers a fixed
open-loop rate, and samples the server with py-spy (pinned to the generator's core) during the
measuring window. Writes the collapsed stacks (feed them to any flame-graph tool) and a summary of
the hottest functions (self and inclusive time, as shares of all samples) under
``benchmarks/results/raw/profile-<id>/``.
"""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.runner import BenchError, Generator, Server, build_loadgen
from benchmarks.stacks import BENCH_DIR, all_stacks
from benchmarks.workloads import FULL


def _py_spy() -> str:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        raise BenchError("py-spy not found: pip install py-spy")
    return exe


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (module/path.py:123)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    short = "/".join(path.split("/")[-2:]) if path else ""
    return f"{name} ({short})" if short else name


def summarize_collapsed(path: Path, top: int = 25) -> dict[str, Any]:
    self_count: collections.Counter[str] = collections.Counter()
    incl_count: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [_frame_name(f) for f in stack.split(";")]
        total += count
        self_count[frames[-1]] += count
        for f in set(frames):
            incl_count[f] += count
    pct = (lambda c: round(100.0 * c / total, 1)) if total else (lambda c: 0.0)
    return {
        "samples": total,
        "self": [(f, pct(c)) for f, c in self_count.most_common(top)],
        "inclusive": [(f, pct(c)) for f, c in incl_count.most_common(top)],
    }


def run_profile(
    rate: int,
    seconds: float,
    native: bool = False,
    layout_name: str = "fanout-1x1000",
    room_body: str = "",
) -> Path:
    build_loadgen()
    stack = all_stacks()["sketchychat"]
    data_dir = tempfile.mkdtemp(prefix="sc-profile-data-")
    stack = replace(stack, env={**stack.env, "SKETCHYCHAT_DATA_DIR": data_dir})
    layout = FULL.layouts[layout_name]
    out = BENCH_DIR / "results" / "raw" / f"profile-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    events = (out / "events.jsonl").open("a")

    def record(ev: dict[str, Any]) -> None:
        events.write(json.dumps(ev) + "\n")
        events.flush()

    with Server(stack, out / "server.log") as server:
        args: dict[str, int | str] = {
            "members": layout.members,
            "room_size": layout.room_size,
            "pubs_per_room": layout.pubs_per_room,
            "body": FULL.body,
            "conc": 200,
            "http_pool": 32,
        }
        if room_body:
            args["room_body"] = room_body  # a retention: {"retention": "persistent"}
        with Generator(server, args, record, deadline_s=600) as gen:
            ready = gen.next_event(120)
            if ready.get("event") != "ready" or ready["ready"] < layout.members:
                raise BenchError(f"setup failed: {ready}")
            warm = 2.0
            assert gen.proc.stdin is not None
            gen.proc.stdin.write(f"open {rate} {warm} {seconds}\n")
            gen.proc.stdin.flush()
            time.sleep(warm)
            collapsed = out / "server.collapsed"
            spy = [
                _py_spy(),
                "record",
                "--pid",
                str(server.pid),
                "--rate",
                "100" if native else "250",
                "--duration",
                str(int(seconds)),
                "--format",
                "raw",
                "--output",
                str(collapsed),
                # native stacks need the process stopped while sampling (py-spy's rule)
                *(["--native"] if native else ["--nonblocking"]),
            ]
            subprocess.run(["taskset", "-c", "1", *spy], capture_output=True, timeout=seconds + 60)
            step = gen.next_event(seconds + 60)
    events.close()
    shutil.rmtree(data_dir, ignore_errors=True)
    summary: dict[str, Any] = (
        summarize_collapsed(collapsed) if collapsed.exists() else {"samples": 0}
    )
    summary["step"] = step
    summary["rate"] = rate
    summary["native"] = native
    (out / "profile.json").write_text(json.dumps(summary, indent=1))
    print(
        f"step: delivered {step['delivered_per_s']:.0f}/s, server CPU {step['server_cpu_pct']}%, "
        f"p99 {step['p99_ms']} ms; {summary['samples']} samples"
    )
    print("self time:")
    for f, p in summary.get("self", [])[:15]:
        print(f"  {p:5.1f}%  {f}")
    print("inclusive:")
    for f, p in summary.get("inclusive", [])[:20]:
        print(f"  {p:5.1f}%  {f}")
    print(out)
    return out
