"""CI smoke run of the benchmark harness: it runs and writes a well-formed table.

Never a speed threshold: the numbers of a few-second run on a shared CI machine mean nothing;
this only proves that the harness, the C load generator and the servers under test still work
together (SketchyChat through its real product path, plus one peer stack).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.needs import missing

ROOT = Path(__file__).resolve().parents[2]


def _node_ok() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def _has_harness_deps() -> bool:
    needed = ["psutil"] if _node_ok() else ["psutil", "socketio", "aiohttp"]
    return all(importlib.util.find_spec(m) is not None for m in needed)


def _harness(*args: str) -> None:
    """``python -m benchmarks ARGS`` from the repository root; it must succeed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


def test_smoke_run_writes_a_well_formed_table(tmp_path: Path) -> None:
    if shutil.which("gcc") is None or sys.platform != "linux":
        missing("the benchmark load generator needs Linux (epoll) and gcc")
    if not _has_harness_deps():
        missing("the benchmark harness needs the `bench` extra")
    stacks = ["sketchychat", "node-ws" if _node_ok() else "python-socketio"]
    _harness("--smoke", "--no-plot", "--stacks", ",".join(stacks), "--out", str(tmp_path))

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["profile"] == "smoke"
    assert set(summary["stacks"]) == set(stacks)
    for name in stacks:
        per = summary["stacks"][name]
        for workload in ("fanout-1x1000", "fanout-100x10"):
            f = per[workload]
            assert f["errors"] == [], (name, workload, f["errors"])
            assert f["probe_capacity"]["median"] > 0
            assert f["half_p50_ms"] is not None and f["half_p99_ms"] is not None
            assert f["half_p50_ms"]["median"] <= f["half_p99_ms"]["median"]
        idle = next(v for k, v in per.items() if k.startswith("idle-"))
        assert idle["errors"] == [], idle["errors"]
        assert idle["opened"]["median"] == idle["n"]
        assert idle["kb_per_conn"] is not None
        storm = per["storm"]
        assert storm["errors"] == [] and storm["failed"] == 0, storm
        assert storm["setup_p50_ms"] is not None

    table = (tmp_path / "table.md").read_text()
    headers = [line for line in table.splitlines() if line.startswith("| stack |")]
    assert len(headers) == 3  # two fan-out tables and the connections table
    for name in stacks:
        rows = [line for line in table.splitlines() if line.startswith(f"| {name} |")]
        assert len(rows) == 3, rows
    for header in headers:
        block = table.split(header, 1)[1].splitlines()[2:]
        for line in block:
            if not line.startswith("| "):
                break
            assert line.count("|") == header.count("|"), (header, line)
    machine = summary["machine"]
    assert machine["nproc"] and machine["python"] and machine["kernel"]


def test_history_smoke_run_measures_every_retention_and_recovers_exactly(tmp_path: Path) -> None:
    """``python -m benchmarks history --smoke``: the cost of history, storms and faults run."""
    if shutil.which("gcc") is None or sys.platform != "linux":
        missing("the benchmark load generator needs Linux (epoll) and gcc")
    if importlib.util.find_spec("aiohttp") is None or importlib.util.find_spec("psutil") is None:
        missing("the benchmark harness needs the `bench` extra")
    _harness("history", "--smoke", "--out", str(tmp_path))
    (summary_path,) = tmp_path.glob("raw/history-smoke-*/history.json")
    summary = json.loads(summary_path.read_text())
    for retention in ("ephemeral", "memory", "persistent"):
        assert summary["fanout"][retention]["saturation"]["median"] > 0, retention
    assert summary["stored_per_s"]["median"] > 0
    for storm in summary["storms"].values():
        assert storm["complete"] == [storm["members"]] and storm["duplicates"] == 0
    assert [f["retention"] for f in summary["faults"]] == ["ephemeral", "memory", "persistent"]
    assert all(f["exact"] and f["cuts"] > 0 for f in summary["faults"]), summary["faults"]
    assert "| `persistent` |" in (summary_path.parent / "HISTORY.md").read_text()
