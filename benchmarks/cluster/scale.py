"""One room spread over 1, 2 and 4 processes: deliveries/s, and what Redis costs.

Runs, on this machine only (127.0.0.1):

* ``memory-1``: one process, no Redis (the lone-node baseline);
* ``redis-1``: one process with ``--redis-url`` (every message also goes to
  Redis and comes back as an echo the node drops: the pure cost of Redis);
* ``redis-2``, ``redis-4``: ``sketchychat serve --workers N`` on one port, the
  kernel spreading the members over the workers (``SO_REUSEPORT``).

The load is the project's C generator (``benchmarks/loadgen/loadgen.c``,
compiled here into ``benchmarks/cluster/build/``): M members in one room, K of
them publishing in a closed loop (window W messages in flight each); it counts
every delivery to every member. Cases run in interleaved rounds (A B C D, A B
C D, ...) so a disturbance on the machine hits every case alike; we report the
median and the range, and the load average seen before each run. Results go to
``benchmarks/cluster/results.json`` and a Markdown table to stdout.

    python -m benchmarks.cluster.scale [--rounds 3] [--members 1000] [--publishers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).parent
LOADGEN_SRC = HERE.parent / "loadgen" / "loadgen.c"
LOADGEN = HERE / "build" / "loadgen"
RESULTS = HERE / "results.json"
REDIS_URL = os.environ.get("SKETCHYCHAT_REDIS_URL", "redis://127.0.0.1:6379/0")
SECRET = "bench-secret-" + "x" * 32


def build_loadgen() -> Path:
    if LOADGEN.exists() and LOADGEN.stat().st_mtime >= LOADGEN_SRC.stat().st_mtime:
        return LOADGEN
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        sys.exit("no C compiler: cannot build the load generator")
    LOADGEN.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [cc, "-O2", "-o", str(LOADGEN), str(LOADGEN_SRC), "-lm"], check=True, timeout=120
    )
    return LOADGEN


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(port: int, workers: int, clustered: bool, ns: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "SKETCHYCHAT_SECRET": SECRET,
        "SKETCHYCHAT_LOG_LEVEL": "warning",
        "SKETCHYCHAT_REDIS_NAMESPACE": ns,
    }
    args = [sys.executable, "-m", "sketchychat", "serve", "--port", str(port)]
    if clustered:
        args += ["--redis-url", REDIS_URL]
    if workers > 1:
        args += ["--workers", str(workers)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if "listening on" in line:
            return proc
        if time.monotonic() > deadline:
            break
    proc.kill()
    sys.exit(f"server with {workers} workers did not start")


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its children (the workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return total
    return total + sum(tree_cpu(child) for child in children)


def redis_cpu() -> float:
    info = redis.Redis.from_url(REDIS_URL).info("cpu")
    return float(info["used_cpu_user"] + info["used_cpu_sys"])


def run_case(name: str, workers: int, clustered: bool, args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    port = free_port()
    ns = f"bench-{os.getpid()}-{name}"
    server = start_server(port, workers, clustered, ns)
    gen = subprocess.Popen(
        [
            str(LOADGEN),
            "--port",
            str(port),
            "--members",
            str(args.members),
            "--room-size",
            str(args.members),
            "--pubs-per-room",
            str(args.publishers),
            "--body",
            "64",
            "--deadline",
            "300",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert gen.stdin is not None and gen.stdout is not None
    try:
        ready = json.loads(gen.stdout.readline())
        if ready.get("event") != "ready":
            raise RuntimeError(f"load generator: {ready}")
        cpu0 = redis_cpu() if clustered else 0.0
        server0 = tree_cpu(server.pid)
        gen.stdin.write(f"closed {args.window} {args.warm} {args.seconds}\n")
        gen.stdin.flush()
        step = json.loads(gen.stdout.readline())
        server_seconds = tree_cpu(server.pid) - server0
        redis_seconds = (redis_cpu() - cpu0) if clustered else 0.0
        gen.stdin.write("quit\n")
        gen.stdin.flush()
        gen.wait(30)
    finally:
        if gen.poll() is None:
            gen.kill()
        server.terminate()
        server.wait(30)
        client = redis.Redis.from_url(REDIS_URL)
        stale = list(client.scan_iter(match=f"{ns}:*"))
        if stale:
            client.delete(*stale)
    span = args.warm + args.seconds
    return {
        "case": name,
        "processes": workers,
        "redis": clustered,
        "members": args.members,
        "publishers": args.publishers,
        "window": args.window,
        "deliveries_per_s": round(step["delivered_per_s"]),
        "messages_per_s": round(step["publishes_per_s"]),
        "latency": {k: step[k] for k in step if k.startswith(("p50", "p99", "p999", "max"))},
        "undelivered": step.get("undelivered", 0),
        "members_ready": step.get("members_ready"),
        "redis_cpu_share": round(redis_seconds / (span + 1), 3),
        # Warm-up and window both deliver at about the window's rate.
        "server_cpu_us_per_delivery": round(
            server_seconds / max(1.0, step["delivered_per_s"] * span) * 1e6, 3
        ),
        "load_before": round(load_before, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--warm", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    build_loadgen()
    cases = [
        ("memory-1", 1, False),
        ("redis-1", 1, True),
        ("redis-2", 2, True),
        ("redis-4", 4, True),
    ]
    runs = [
        run_case(name, n, clustered, args)
        for _ in range(args.rounds)
        for name, n, clustered in cases
    ]
    summary = []
    for name, n, clustered in cases:
        rates = [r["deliveries_per_s"] for r in runs if r["case"] == name]
        cpu = [r["server_cpu_us_per_delivery"] for r in runs if r["case"] == name]
        summary.append(
            {
                "case": name,
                "processes": n,
                "redis": clustered,
                "median_deliveries_per_s": round(statistics.median(rates)),
                "min": min(rates),
                "max": max(rates),
                "server_cpu_us_per_delivery": round(statistics.median(cpu), 3),
            }
        )
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": "python -m benchmarks.cluster.scale " + " ".join(sys.argv[1:]),
    }
    RESULTS.write_text(
        json.dumps({"machine": machine, "summary": summary, "runs": runs}, indent=2) + "\n"
    )
    base = summary[0]["median_deliveries_per_s"] or 1
    print(
        f"{args.members} members in one room, {args.publishers} publishers, window "
        f"{args.window}; median of {args.rounds} interleaved rounds\n"
    )
    print(
        "| case | processes | Redis | deliveries/s (median) | range | vs memory-1 "
        "| server CPU µs/delivery |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in summary:
        print(
            f"| {r['case']} | {r['processes']} | {'yes' if r['redis'] else 'no'} | "
            f"{r['median_deliveries_per_s']:,} | {r['min']:,} to {r['max']:,} | "
            f"{r['median_deliveries_per_s'] / base:.2f}x | "
            f"{r['server_cpu_us_per_delivery']} |"
        )
    print(f"\nmachine: {machine}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
