"""Summaries of one harness run: medians and spread, same-run ratios, goals, table and plot."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

GOALS = {
    "deliveries_1x1000": 500_000.0,
    "ratio_node_ws": 4.0,
    "ratio_python_socketio": 25.0,
    "p99_half_ms": 20.0,
    "kb_per_idle_conn": 8.0,
}
PRODUCT = "sketchychat"


def spread(values: Sequence[float | None]) -> dict[str, Any] | None:
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return None
    return {
        "median": statistics.median(xs),
        "min": min(xs),
        "max": max(xs),
        "n": len(xs),
        "values": xs,
    }


def _fanout_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if r["ok"]]
    clean = [r["data"] for r in good if not r["data"]["gen_bound"] and r["data"]["saturation"]]
    flagged = [r["data"] for r in good if r["data"]["gen_bound"]]
    halves = [r["data"]["half"] for r in good if not r["data"]["half"].get("gen_bound")]
    return {
        "layout": good[0]["data"]["layout"] if good else None,
        "saturation": spread([d["saturation"] for d in clean]),
        "saturation_at_ladder_top": any(d.get("saturation_limited_by_ladder") for d in clean),
        "gen_bound_lower_bounds": [d["saturation"] or d["probe_capacity"] for d in flagged],
        "probe_capacity": spread([r["data"]["probe_capacity"] for r in good]),
        "max_kept_up": spread(
            [r["data"].get("max_kept_up") for r in good if not r["data"]["gen_bound"]]
        ),
        "half_offered": spread([h.get("offered_per_s") for h in halves]),
        "half_p50_ms": spread([h.get("p50_ms") for h in halves]),
        "half_p99_ms": spread([h.get("p99_ms") for h in halves]),
        "half_p999_ms": spread([h.get("p999_ms") for h in halves]),
        "half_sustained": all(h.get("sustained") for h in halves) if halves else None,
        "server_cpu_at_sat": spread([r["data"]["server_cpu_at_sat"] for r in good]),
        "gen_cpu_at_sat": spread([r["data"]["gen_cpu_at_sat"] for r in good]),
        "cpu0_other_at_sat": spread([r["data"].get("cpu0_other_at_sat") for r in good]),
        "cpu1_other_at_sat": spread([r["data"].get("cpu1_other_at_sat") for r in good]),
        "reps_ok": len(good),
        "reps_gen_bound": len(flagged),
        "reps_contended": sum(1 for r in good if r["data"].get("contended")),
        "errors": [r["error"] for r in runs if not r["ok"]],
    }


def summarize(results: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    stacks = list(dict.fromkeys(r["stack"] for r in results))
    workloads = list(dict.fromkeys(r["workload"] for r in results))
    out: dict[str, Any] = {**meta, "stacks": {}, "ratios": {}, "goals": []}
    for s in stacks:
        per: dict[str, Any] = {}
        for w in workloads:
            runs = [r for r in results if r["stack"] == s and r["workload"] == w]
            if not runs:
                continue
            good = [r for r in runs if r["ok"]]
            errors = [r["error"] for r in runs if not r["ok"]]
            if w.startswith("fanout"):
                per[w] = _fanout_summary(runs)
            elif w.startswith("idle"):
                per[w] = {
                    "n": good[0]["data"]["n"] if good else None,
                    "limited_by": good[0]["data"]["limited_by"] if good else None,
                    "opened": spread([r["data"]["opened"] for r in good]),
                    "kb_per_conn": spread([r["data"]["kb_per_conn"] for r in good]),
                    "connect_s": spread([r["data"]["connect_s"] for r in good]),
                    "closed_by_server": sum(r["data"]["closed_by_server"] for r in good),
                    "errors": errors + [r["data"]["errors"] for r in good if r["data"]["errors"]],
                }
            elif w == "storm":
                clean = [r for r in good if not r["data"]["gen_bound"]]
                per[w] = {
                    "n": good[0]["data"]["n"] if good else None,
                    "conn_per_s": spread([r["data"]["conn_per_s"] for r in clean]),
                    "gen_bound_lower_bounds": [
                        r["data"]["conn_per_s"] for r in good if r["data"]["gen_bound"]
                    ],
                    "setup_p50_ms": spread([r["data"]["setup_p50_ms"] for r in good]),
                    "setup_p99_ms": spread([r["data"]["setup_p99_ms"] for r in good]),
                    "server_cpu_pct": spread([r["data"]["server_cpu_pct"] for r in good]),
                    "gen_cpu_pct": spread([r["data"]["gen_cpu_pct"] for r in good]),
                    "failed": sum(r["data"]["failed"] for r in good),
                    "errors": errors + [r["data"]["errors"] for r in good if r["data"]["errors"]],
                }
        out["stacks"][s] = per
    # ratios between SketchyChat and each peer, only within one repetition (same run)
    for w in workloads:
        if not w.startswith("fanout"):
            continue
        sat: dict[tuple[str, int], float] = {}
        for r in results:
            if (
                r["workload"] == w
                and r["ok"]
                and r["data"]["saturation"]
                and not r["data"]["gen_bound"]
            ):
                sat[(r["stack"], r["rep"])] = r["data"]["saturation"]
        reps = sorted({r["rep"] for r in results})
        for peer in stacks:
            if peer == PRODUCT:
                continue
            vals = [
                sat[(PRODUCT, k)] / sat[(peer, k)]
                for k in reps
                if (PRODUCT, k) in sat and (peer, k) in sat
            ]
            out["ratios"].setdefault(w, {})[f"{PRODUCT}/{peer}"] = spread(vals)
    out["goals"] = goals(out)
    return out


def _med(x: dict[str, Any] | None) -> float | None:
    return None if x is None else x["median"]


def goals(summary: dict[str, Any]) -> list[dict[str, Any]]:
    prod = summary["stacks"].get(PRODUCT, {})
    fan = prod.get("fanout-1x1000", {})
    idle: dict[str, Any] = next(
        (v for k, v in prod.items() if k.startswith("idle") and not k.endswith("max")), {}
    )
    ratios = summary["ratios"].get("fanout-1x1000", {})
    rows = [
        (
            "deliveries/s at saturation, 1x1000, one core",
            ">=",
            GOALS["deliveries_1x1000"],
            _med(fan.get("saturation")),
        ),
        (
            "x Node ws (same run)",
            ">=",
            GOALS["ratio_node_ws"],
            _med(ratios.get(f"{PRODUCT}/node-ws")),
        ),
        (
            "x python-socketio (same run)",
            ">=",
            GOALS["ratio_python_socketio"],
            _med(ratios.get(f"{PRODUCT}/python-socketio")),
        ),
        (
            "p99 latency at 50% of saturation, ms",
            "<=",
            GOALS["p99_half_ms"],
            _med(fan.get("half_p99_ms")),
        ),
        (
            "server RSS per idle joined connection, KB",
            "<=",
            GOALS["kb_per_idle_conn"],
            _med(idle.get("kb_per_conn")),
        ),
    ]
    out = []
    for name, op, target, value in rows:
        met = None if value is None else (value >= target if op == ">=" else value <= target)
        out.append({"goal": name, "op": op, "target": target, "measured": value, "met": met})
    return out


# ------------------------------------------------------------------ rendering
def fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 100_000:
        return f"{x / 1000:.0f}k"
    if x >= 10_000:
        return f"{x / 1000:.1f}k"
    return f"{x:,.0f}"


def fmt_num(x: float | None, nd: int = 1) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def fmt_spread(s: dict[str, Any] | None, f: Any = fmt_rate) -> str:
    if s is None:
        return "-"
    if s["n"] == 1:
        return str(f(s["median"]))
    return f"{f(s['median'])} [{f(s['min'])}-{f(s['max'])}]"


def render_table(summary: dict[str, Any]) -> str:
    lines: list[str] = []
    stacks = summary["stacks"]
    fan_ws = [w for w in summary["workloads"] if w.startswith("fanout")]
    idle_ws = [w for w in summary["workloads"] if w.startswith("idle")]
    lines.append(
        f"Run `{summary['run_id']}` · profile `{summary['profile']}` · "
        f"{summary['reps']} repetition(s) · values: median [min-max] over repetitions"
    )
    lines.append("")
    lines.append(f"Machine: {summary['machine_line']}")
    lines.append("")
    lines.append(f"Command: `{summary['command']}`")
    lines.append("")
    for w in fan_ws:
        layout = next((v[w]["layout"] for v in stacks.values() if w in v and v[w]["layout"]), w)
        lines.append(f"### Fan-out `{layout}` ({w})")
        lines.append("")
        lines.append(
            "| stack | deliveries/s at saturation | max kept up | closed-loop probe "
            "| p50 / p99 / p999 ms at 50% of saturation "
            "| server CPU % at knee | generator CPU % at knee "
            "| other processes on core 0 / core 1 % | flags |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for s, per in stacks.items():
            if w not in per:
                continue
            f = per[w]
            flags = []
            if f["reps_gen_bound"]:
                flags.append(
                    f"generator-bound in {f['reps_gen_bound']} rep(s) (lower bounds: "
                    + ", ".join(fmt_rate(x) for x in f["gen_bound_lower_bounds"])
                    + ")"
                )
            if f["reps_contended"]:
                flags.append(f"other processes took >20% of a core in {f['reps_contended']} rep(s)")
            if f["saturation_at_ladder_top"]:
                flags.append(
                    "still sustained at the top of the ladder (saturation is a lower bound)"
                )
            if f["half_sustained"] is False:
                flags.append("50% step not sustained")
            if f["errors"]:
                flags.append(
                    f"{len(f['errors'])} failed rep(s): " + "; ".join(e[:160] for e in f["errors"])
                )
            lat = (
                f"{fmt_spread(f['half_p50_ms'], fmt_num)} / "
                f"{fmt_spread(f['half_p99_ms'], fmt_num)} / "
                f"{fmt_spread(f['half_p999_ms'], fmt_num)}"
            )
            busy = (
                f"{fmt_spread(f['cpu0_other_at_sat'], lambda x: f'{x:.0f}')} / "
                f"{fmt_spread(f['cpu1_other_at_sat'], lambda x: f'{x:.0f}')}"
            )
            lines.append(
                f"| {s} | {fmt_spread(f['saturation'])} | {fmt_spread(f['max_kept_up'])} | "
                f"{fmt_spread(f['probe_capacity'])} | {lat} | "
                f"{fmt_spread(f['server_cpu_at_sat'], lambda x: f'{x:.0f}')} | "
                f"{fmt_spread(f['gen_cpu_at_sat'], lambda x: f'{x:.0f}')} | {busy} | "
                f"{'; '.join(flags) or 'ok'} |"
            )
        lines.append("")
        rat = summary["ratios"].get(w, {})
        if rat and PRODUCT in stacks:
            lines.append(
                "Same-run ratios (per repetition, then median [min-max]): "
                + ", ".join(f"{k} = {fmt_spread(v, lambda x: f'{x:.2f}x')}" for k, v in rat.items())
            )
            lines.append("")
    if idle_ws or "storm" in summary["workloads"]:
        lines.append("### Connections")
        lines.append("")
        head = "| stack |"
        sep = "|---|"
        for w in idle_ws:
            head += f" KB server RSS per idle joined connection ({w}) |"
            sep += "---|"
        if "storm" in summary["workloads"]:
            head += (
                " connect storm: connections/s (token + upgrade + join)"
                " | per-connection p50 / p99 ms | server CPU % |"
            )
            sep += "---|---|---|"
        lines.append(head)
        lines.append(sep)
        for s, per in stacks.items():
            row = f"| {s} |"
            for w in idle_ws:
                i = per.get(w)
                if i is None:
                    row += " - |"
                    continue
                note = ""
                if i["opened"] and i["n"] and i["opened"]["min"] < i["n"]:
                    note = f" (only {i['opened']['min']:.0f}/{i['n']} opened)"
                if i["closed_by_server"]:
                    note += f" ({i['closed_by_server']} closed by server)"
                if i["errors"]:
                    note += " (errors: " + "; ".join(str(e)[:120] for e in i["errors"]) + ")"
                nstr = f"n={i['n']}" + (
                    f", {i['limited_by']}" if i["limited_by"] not in (None, "requested") else ""
                )
                row += f" {fmt_spread(i['kb_per_conn'], lambda x: f'{x:.2f}')} ({nstr}){note} |"
            if "storm" in summary["workloads"]:
                st = per.get("storm")
                if st is None:
                    row += " - | - | - |"
                else:
                    extra = ""
                    if st["gen_bound_lower_bounds"]:
                        extra += " generator-bound: ≥" + ", ".join(
                            fmt_rate(x) for x in st["gen_bound_lower_bounds"]
                        )
                    if st["failed"]:
                        extra += f" ({st['failed']} failed)"
                    if st["errors"]:
                        extra += " (errors: " + "; ".join(str(e)[:120] for e in st["errors"]) + ")"
                    row += (
                        f" {fmt_spread(st['conn_per_s'])} (n={st['n']}){extra} | "
                        f"{fmt_spread(st['setup_p50_ms'], fmt_num)} / "
                        f"{fmt_spread(st['setup_p99_ms'], fmt_num)} | "
                        f"{fmt_spread(st['server_cpu_pct'], lambda x: f'{x:.0f}')} |"
                    )
            lines.append(row)
        lines.append("")
    if summary["goals"] and PRODUCT in stacks and summary["profile"] != "smoke":
        lines.append("### Goals (issue #5) for SketchyChat")
        lines.append("")
        lines.append("| goal | target | measured (median) | met? |")
        lines.append("|---|---|---|---|")
        for g in summary["goals"]:
            v = g["measured"]
            val = "-" if v is None else (fmt_rate(v) if v >= 1000 else f"{v:.2f}")
            met = "not measured" if g["met"] is None else ("yes" if g["met"] else "**no**")
            tgt = fmt_rate(g["target"]) if g["target"] >= 1000 else f"{g['target']:g}"
            lines.append(f"| {g['goal']} | {g['op']} {tgt} | {val} | {met} |")
        lines.append("")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], summary: dict[str, Any], path: Path) -> Path | None:
    """Latency (p50 dashed, p99 solid) against delivered rate, one colour per stack."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fan_ws = [w for w in summary["workloads"] if w.startswith("fanout")]
    if not fan_ws:
        return None
    stacks = list(summary["stacks"])
    colors = {s: f"C{i}" for i, s in enumerate(stacks)}
    fig, axes = plt.subplots(1, len(fan_ws), figsize=(7 * len(fan_ws), 5.2), squeeze=False)
    for ax, w in zip(axes[0], fan_ws, strict=True):
        layout = w
        for s in stacks:
            runs = [r for r in results if r["stack"] == s and r["workload"] == w and r["ok"]]
            for k, r in enumerate(runs):
                layout = r["data"]["layout"]
                pts = [*r["data"]["steps"], r["data"]["half"]]
                # steps where other processes held our cores measured them, not the server
                pts = sorted(
                    (p for p in pts if p.get("p50_ms") is not None and not p.get("contended")),
                    key=lambda p: p["delivered_per_s"],
                )
                xs = [p["delivered_per_s"] for p in pts]
                lab99 = f"{s} p99" if k == 0 else None
                lab50 = f"{s} p50" if k == 0 else None
                ax.plot(
                    xs,
                    [p["p99_ms"] for p in pts],
                    "-",
                    color=colors[s],
                    alpha=0.8,
                    label=lab99,
                    lw=1.4,
                )
                ax.plot(
                    xs,
                    [p["p50_ms"] for p in pts],
                    "--",
                    color=colors[s],
                    alpha=0.6,
                    label=lab50,
                    lw=1.0,
                )
                bad = [p for p in pts if not p.get("sustained", True)]
                ax.plot(
                    [p["delivered_per_s"] for p in bad],
                    [p["p99_ms"] for p in bad],
                    "x",
                    color=colors[s],
                    ms=6,
                )
                sat = r["data"].get("saturation")
                if sat:
                    ax.axvline(sat, color=colors[s], alpha=0.15, lw=3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("delivered messages/s (all members)")
        ax.set_ylabel("latency, ms (send → delivery)")
        ax.set_title(f"{layout}: latency against delivered rate")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle(
        f"server on core 0, C generator on core 1 · run {summary['run_id']} · "
        "x = step not sustained · shaded = saturation · steps disturbed by other processes omitted",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
