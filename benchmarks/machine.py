"""Describe the machine and the versions a run used (saved next to every result)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from typing import Any

from benchmarks.runner import ephemeral_ports, nofile_limit
from benchmarks.stacks import NODE_DIR

PY_PACKAGES = (
    "sketchychat",
    "uvloop",
    "httptools",
    "orjson",
    "aiohttp",
    "python-socketio",
    "python-engineio",
    "psutil",
    "matplotlib",
)
NODE_PACKAGES = ("ws", "socket.io", "engine.io")


def _run(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return ""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_model() -> str:
    for line in _run(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _hypervisor() -> str:
    for line in _run(["lscpu"]).splitlines():
        if line.startswith("Hypervisor vendor:"):
            return line.split(":", 1)[1].strip()
    return ""


def describe() -> dict[str, Any]:
    py_versions: dict[str, str | None] = {}
    for p in PY_PACKAGES:
        try:
            py_versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            py_versions[p] = None
    node_versions: dict[str, str | None] = {}
    for p in NODE_PACKAGES:
        try:
            with open(NODE_DIR / "node_modules" / p / "package.json") as f:
                node_versions[p] = json.load(f)["version"]
        except (OSError, ValueError, KeyError):
            node_versions[p] = None
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {
        "cpu_model": _cpu_model(),
        "hypervisor": _hypervisor(),
        "nproc": os.cpu_count(),
        "mem_gb": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "node": _run(["node", "--version"]) or None,
        "gcc": (_run(["gcc", "--version"]).splitlines() or [""])[0] or None,
        "python_packages": py_versions,
        "node_packages": node_versions,
        "client_ports": ephemeral_ports(),
        "nofile_for_children": nofile_limit(),
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def one_line(m: dict[str, Any]) -> str:
    pk = m["python_packages"]
    nk = m["node_packages"]
    return (
        f"{m['cpu_model']} ({m['hypervisor'] or 'bare metal'}), {m['nproc']} CPUs, "
        f"{m['mem_gb']} GB, Linux {m['kernel']}; Python {m['python']} "
        f"(sketchychat {pk.get('sketchychat')}, uvloop {pk.get('uvloop')}, "
        f"aiohttp {pk.get('aiohttp')}, python-socketio {pk.get('python-socketio')}); "
        f"Node {m['node']} (ws {nk.get('ws')}, socket.io {nk.get('socket.io')}); {m['gcc']}"
    )
