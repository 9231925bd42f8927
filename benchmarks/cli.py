"""``python -m benchmarks``: run the side-by-side benchmark and write its summary.

python -m benchmarks                      # everything, 3 repetitions (about 45 min)
python -m benchmarks --smoke              # a few seconds, tiny sizes (what CI runs)
python -m benchmarks --stacks sketchychat,node-ws --workloads fanout-1x1000 --reps 5
python -m benchmarks build                # compile the generator, npm ci
python -m benchmarks report RAW_DIR       # re-summarise a recorded run
python -m benchmarks history --reps 3     # the cost of history, recovery storms, faults (~25 min)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import machine, report
from benchmarks.runner import BenchError, build_loadgen, ensure_node_modules
from benchmarks.stacks import BENCH_DIR, all_stacks, node_available
from benchmarks.workloads import (
    FULL,
    SMOKE,
    WORKLOADS,
    idle_target,
    run_fanout,
    run_idle,
    run_storm,
)

RESULTS_DIR = BENCH_DIR / "results"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "action",
        nargs="?",
        default="run",
        choices=["run", "build", "report", "list", "profile", "rates", "history"],
    )
    p.add_argument("raw", nargs="?", help="for `report`: a raw run directory")
    p.add_argument(
        "--stacks",
        default="sketchychat,node-ws,node-socketio,python-socketio",
        help="comma-separated; `list` shows them",
    )
    p.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help="comma-separated from: " + ", ".join(WORKLOADS),
    )
    p.add_argument("--reps", type=int, default=None, help="repetitions (default 3; --smoke: 1)")
    p.add_argument(
        "--idle-reps",
        type=int,
        default=None,
        help="repetitions of the idle workloads (default: min(reps, 2); RSS is steady)",
    )
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds per stack")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="summary directory (default benchmarks/results; --smoke: "
        "benchmarks/results/raw/smoke)",
    )
    p.add_argument(
        "--idle-max",
        type=int,
        default=50_000,
        help="upper bound for the 'as many as the box allows' idle size",
    )
    p.add_argument("--idle-sizes", default=None, help="e.g. 10000,max (default from the profile)")
    p.add_argument("--storm-n", type=int, default=None, help="connections in the connect storm")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument(
        "--rate",
        type=int,
        default=200_000,
        help="for `profile`: offered deliveries/s (1x1000 layout)",
    )
    p.add_argument("--seconds", type=float, default=10.0, help="for `profile`: sampling window")
    p.add_argument("--native", action="store_true", help="for `profile`: include C frames")
    p.add_argument(
        "--room-body",
        default="",
        help='for `profile`: the POST /api/rooms body, e.g. \'{"retention": "persistent"}\'',
    )
    p.add_argument(
        "--rates",
        default="25000,50000,100000,150000,200000,400000",
        help="for `rates`: offered deliveries/s, the same for every stack",
    )
    p.add_argument(
        "--layout",
        default="fanout-1x1000",
        choices=["fanout-1x1000", "fanout-100x10"],
        help="for `profile` and `rates`: the fan-out layout",
    )
    return p


def _save_outputs(
    out: Path, raw: Path, results: list[dict[str, Any]], meta: dict[str, Any]
) -> dict[str, Any]:
    summary = report.summarize(results, meta)
    (raw / "results.json").write_text(json.dumps(results, indent=1, default=str))
    out.mkdir(parents=True, exist_ok=True)
    table = report.render_table(summary)
    png = (
        None if meta.get("no_plot") else report.plot(results, summary, out / "latency_vs_rate.png")
    )
    summary["plot"] = png.name if png else None
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    (out / "table.md").write_text(
        table + ("\n![latency against delivered rate](latency_vs_rate.png)\n" if png else "")
    )
    return summary


def _fixed_rates(args: argparse.Namespace) -> int:
    """Latency of every stack at the same offered rates (one layout, no saturation search)."""
    from benchmarks.workloads import run_fixed_rates

    build_loadgen()
    stacks_all = all_stacks()
    names = [s for s in args.stacks.split(",") if s]
    if any(stacks_all[n].needs_node for n in names) and node_available():
        ensure_node_modules()
    layout = FULL.layouts[args.layout]
    rates = [int(r) for r in args.rates.split(",") if r]
    run_id = "rates-" + time.strftime("%Y%m%d-%H%M%S")
    raw = RESULTS_DIR / "raw" / run_id
    raw.mkdir(parents=True, exist_ok=True)
    events = (raw / "events.jsonl").open("a")
    table: dict[str, list[dict[str, Any]]] = {}
    for rep in range(1, (args.reps or 1) + 1):
        for name in names:

            def record(ev: dict[str, Any], name: str = name, rep: int = rep) -> None:
                events.write(json.dumps({"stack": name, "rep": rep, **ev}) + "\n")
                events.flush()

            try:
                steps = run_fixed_rates(stacks_all[name], layout, FULL, rates, raw / "logs", record)
            except BenchError as e:
                print(f"{name}: ERROR {e}", flush=True)
                continue
            table.setdefault(name, []).extend(steps)
    events.close()
    lines = [
        f"Latency at fixed offered rates, `{layout.name}`, run `{run_id}` "
        f"(p50 / p99 ms, median over repetitions; * = did not keep up, "
        "! = other processes on our cores)",
        "",
        "| stack | " + " | ".join(report.fmt_rate(r) for r in rates) + " |",
        "|---|" + "---|" * len(rates),
    ]
    for name, steps in table.items():
        cells = []
        for r in rates:
            at = [s for s in steps if s["offered_per_s"] == r]
            if not at:
                cells.append("-")
                continue
            p50 = report.spread([s["p50_ms"] for s in at])
            p99 = report.spread([s["p99_ms"] for s in at])
            mark = ("" if all(s["kept_up"] for s in at) else "*") + (
                "!" if any(s["contended"] for s in at) else ""
            )
            cells.append(
                f"{report.fmt_num(p50['median'] if p50 else None)} / "
                f"{report.fmt_num(p99['median'] if p99 else None)}{mark}"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    (raw / "table.md").write_text(text + "\n")
    print(text)
    print(f"raw: {raw}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stacks_all = all_stacks()
    if args.action == "list":
        for s in stacks_all.values():
            print(f"{s.name:16s} {s.proto:4s} {s.description}")
        print("workloads:", ", ".join(WORKLOADS))
        return 0
    if args.action == "build":
        print(build_loadgen(force=True))
        if node_available():
            ensure_node_modules()
            print("node_modules ready")
        return 0
    if args.action == "profile":
        from benchmarks.profile import run_profile

        run_profile(
            args.rate,
            args.seconds,
            native=args.native,
            layout_name=args.layout,
            room_body=args.room_body,
        )
        return 0
    if args.action == "rates":
        return _fixed_rates(args)
    if args.action == "history":
        from benchmarks.history import run_history

        reps = args.reps if args.reps is not None else (1 if args.smoke else 3)
        return run_history(smoke=args.smoke, reps=reps, out=args.out or RESULTS_DIR)
    if args.action == "report":
        if not args.raw:
            print("report needs a raw run directory", file=sys.stderr)
            return 2
        raw = Path(args.raw)
        saved: list[dict[str, Any]] = json.loads((raw / "results.json").read_text())
        meta = json.loads((raw / "meta.json").read_text())
        out = args.out or RESULTS_DIR
        _save_outputs(out, raw, saved, meta)
        print((out / "table.md").read_text())
        return 0

    prof = SMOKE if args.smoke else FULL
    reps = args.reps if args.reps is not None else (1 if args.smoke else 3)
    names = [s for s in args.stacks.split(",") if s]
    workloads = [w for w in args.workloads.split(",") if w]
    for n in names:
        if n not in stacks_all:
            print(f"unknown stack {n!r}; known: {', '.join(stacks_all)}", file=sys.stderr)
            return 2
    for w in workloads:
        if w not in WORKLOADS:
            print(f"unknown workload {w!r}; known: {', '.join(WORKLOADS)}", file=sys.stderr)
            return 2
    skipped: dict[str, str] = {}
    if any(stacks_all[n].needs_node for n in names):
        if not node_available():
            for n in names:
                if stacks_all[n].needs_node:
                    skipped[n] = "node/npm not installed"
        else:
            try:
                ensure_node_modules()
            except BenchError as e:
                for n in names:
                    if stacks_all[n].needs_node:
                        skipped[n] = str(e)[:300]
    names = [n for n in names if n not in skipped]
    build_loadgen()

    run_id = time.strftime("%Y%m%d-%H%M%S")
    out = args.out or (RESULTS_DIR / "raw" / "smoke" if args.smoke else RESULTS_DIR)
    raw = (
        (out / "raw" / run_id)
        if args.out
        else RESULTS_DIR / "raw" / (("smoke-" if args.smoke else "") + run_id)
    )
    raw.mkdir(parents=True, exist_ok=True)
    events_f = raw.joinpath("events.jsonl").open("a")

    idle_sizes: list[int | str] = list(prof.idle_sizes)
    if args.idle_sizes:
        idle_sizes = [x if x == "max" else int(x) for x in args.idle_sizes.split(",")]
    if args.storm_n:
        from dataclasses import replace

        prof = replace(prof, storm_members=args.storm_n)
    expanded: list[str] = []
    for w in workloads:
        if w == "idle":
            expanded += [f"idle-{n}" for n in idle_sizes]
        else:
            expanded.append(w)

    mach = machine.describe()
    cmd = "python -m benchmarks " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    meta = {
        "run_id": run_id,
        "profile": prof.name,
        "reps": reps,
        "command": cmd.strip(),
        "machine": mach,
        "machine_line": machine.one_line(mach),
        "workloads": expanded,
        "skipped_stacks": skipped,
        "no_plot": args.no_plot,
        "layouts": {k: v.__dict__ for k, v in prof.layouts.items()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (raw / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    for n, why in skipped.items():
        print(f"!! skipping {n}: {why}", flush=True)

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through the context managers: servers are stopped

    signal.signal(signal.SIGTERM, _interrupt)
    results: list[dict[str, Any]] = []
    t_start = time.monotonic()
    idle_reps = args.idle_reps if args.idle_reps is not None else min(reps, 2)
    for rep in range(1, reps + 1):
        for w in expanded:
            if w.startswith("idle") and rep > idle_reps:
                continue
            for name in names:
                stack = stacks_all[name]
                ctx = {"run_id": run_id, "rep": rep, "stack": name, "workload": w}

                def record(ev: dict[str, Any], ctx: dict[str, Any] = ctx) -> None:
                    events_f.write(json.dumps({**ctx, **ev}) + "\n")
                    events_f.flush()

                logdir = raw / "logs" / f"rep{rep}"
                t0 = time.monotonic()
                entry: dict[str, Any] = {**ctx, "ok": False, "error": None, "data": None}
                try:
                    if w.startswith("fanout"):
                        data = run_fanout(stack, prof.layouts[w], prof, logdir, record)
                        msg = (
                            f"sat {report.fmt_rate(data['saturation'])} "
                            f"probe {report.fmt_rate(data['probe_capacity'])} "
                            f"half p99 {data['half'].get('p99_ms')} ms"
                            + (" GEN-BOUND" if data["gen_bound"] else "")
                        )
                    elif w.startswith("idle"):
                        size = w.split("-", 1)[1]
                        n, why = idle_target(
                            size if size == "max" else int(size), prof, args.idle_max
                        )
                        data = run_idle(stack, n, why, prof, logdir, record)
                        msg = (
                            f"{data['opened']}/{n} open, {data['kb_per_conn']:.2f} KB/conn"
                            if data["kb_per_conn"]
                            else "nothing opened"
                        )
                    else:
                        data = run_storm(stack, prof, logdir, record)
                        msg = f"{data['conn_per_s']:.0f} conn/s ({data['ready']}/{data['n']})"
                    entry.update(ok=True, data=data)
                except BenchError as e:
                    entry["error"] = str(e)
                    msg = "ERROR " + str(e)[:400]
                except Exception as e:  # keep the other stacks going; the traceback is saved
                    entry["error"] = f"{type(e).__name__}: {e}"
                    (raw / f"traceback-{name}-{w}-{rep}.txt").write_text(traceback.format_exc())
                    msg = "CRASH " + entry["error"][:400]
                results.append(entry)
                print(
                    f"[rep {rep}/{reps}] {w:14s} {name:16s} {time.monotonic() - t0:6.1f}s  {msg}",
                    flush=True,
                )
                # save as we go, so that an interrupted run keeps what it measured
                (raw / "results.json").write_text(json.dumps(results, indent=1, default=str))
    events_f.close()
    meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    meta["duration_s"] = round(time.monotonic() - t_start, 1)
    meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    (raw / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    _save_outputs(out, raw, results, meta)
    print()
    print((out / "table.md").read_text())
    print(f"summary: {out / 'summary.json'}  raw: {raw}")
    return 0 if all(r["ok"] for r in results) else 1
