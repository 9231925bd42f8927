"""The workloads: fan-out (saturation search + latency at half of it), idle RSS, connect storm.

Each function runs one workload against one stack once (one repetition) and returns a plain
dict that :mod:`benchmarks.report` summarises. Every generator line is also recorded raw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.runner import (
    BenchError,
    Generator,
    Server,
    ephemeral_ports,
    nofile_limit,
    wait_for_quiet,
)
from benchmarks.stacks import Stack

#: A step whose generator used at least this much of its core while the server used less than
#: SERVER_BUSY_PCT is "generator-bound": it measured the generator, not the server.
GEN_BOUND_PCT = 90.0
SERVER_BUSY_PCT = 90.0
#: An open-loop step is "sustained" when it delivers this share of the offered rate, drains its
#: backlog within DRAIN_OK_S after publishing stops, loses nothing, and its p99 stays flat:
#: at most FLAT_P99_FACTOR x the p99 of the lightest step, or FLAT_P99_FLOOR_MS if that is larger.
DELIVERED_OK = 0.97
DRAIN_OK_S = 1.0
FLAT_P99_FACTOR = 4.0
FLAT_P99_FLOOR_MS = 50.0
#: Task time of other processes on the server's or the generator's core above this share of the
#: core during a step marks the step "contended" (this machine is shared with other test suites).
CONTENDED_PCT = 20.0

Record = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Layout:
    name: str
    members: int
    room_size: int
    pubs_per_room: int
    window: int  # closed loop: messages in flight per publisher
    #: POST /api/rooms body ("" = the generator's default, {}): a SketchyChat retention.
    room_body: str = ""


@dataclass(frozen=True)
class Profile:
    name: str
    layouts: dict[str, Layout]
    probe_warm: float
    probe_win: float
    ladder: tuple[float, ...]  # offered = fraction x closed-loop capacity
    #: after the fixed fractions, while steps keep up: offered x this factor, up to max_steps
    ladder_growth: float
    max_steps: int
    step_warm: float
    step_win: float
    half_warm: float
    half_win: float
    idle_sizes: tuple[int | str, ...]
    idle_room_size: int
    storm_members: int
    storm_conc: int
    body: int = 64
    settle_s: float = 1.0
    idle_hold_s: float = 3.0  # idle: RSS is read after each of two holds this long
    idle_base_wait_s: float = 1.0  # idle: pause between the warm-up and the baseline RSS
    quiet_wait_s: float = 20.0  # before each run: wait this long at most for an idle machine
    retry_wait_s: float = 10.0  # a contended, unsustained step is retried once after this wait
    extra: dict[str, Any] = field(default_factory=dict)


FULL = Profile(
    name="full",
    layouts={
        "fanout-1x1000": Layout("fanout-1x1000", 1000, 1000, 4, 4),
        "fanout-100x10": Layout("fanout-100x10", 1000, 10, 1, 4),
    },
    probe_warm=2.0,
    probe_win=5.0,
    ladder=(0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25),
    ladder_growth=1.25,
    max_steps=16,
    step_warm=1.0,
    step_win=4.0,
    half_warm=1.0,
    half_win=8.0,
    idle_sizes=(10000, "max"),
    idle_room_size=10,
    storm_members=5000,
    storm_conc=100,
)

SMOKE = Profile(
    name="smoke",
    layouts={
        "fanout-1x1000": Layout("fanout-1x50", 50, 50, 2, 2),
        "fanout-100x10": Layout("fanout-5x10", 50, 10, 1, 2),
    },
    probe_warm=0.2,
    probe_win=0.5,
    ladder=(0.5, 1.0),
    ladder_growth=0.0,
    max_steps=4,
    step_warm=0.1,
    step_win=0.4,
    half_warm=0.1,
    half_win=0.4,
    idle_sizes=(100,),
    idle_room_size=10,
    storm_members=100,
    storm_conc=20,
    idle_hold_s=0.5,
    idle_base_wait_s=0.3,
    settle_s=0.3,
    quiet_wait_s=0.0,
    retry_wait_s=0.0,
)

WORKLOADS = ("fanout-1x1000", "fanout-100x10", "idle", "storm")


def _ready_timeout(members: int) -> float:
    return 60.0 + members / 100.0


def _step_timeout(warm: float, win: float) -> float:
    return warm + win + 20.0 + 30.0  # generator drains for up to 20 s


def gen_bound(step: dict[str, Any]) -> bool:
    return bool(
        step.get("gen_cpu_pct", 0.0) >= GEN_BOUND_PCT
        and step.get("server_cpu_pct", 0.0) < SERVER_BUSY_PCT
    )


def contended(step: dict[str, Any]) -> bool:
    return bool(
        step.get("cpu0_other_pct", 0.0) > CONTENDED_PCT
        or step.get("cpu1_other_pct", 0.0) > CONTENDED_PCT
    )


def kept_up(step: dict[str, Any]) -> bool:
    """Delivered what was offered, lost nothing, drained: throughput held (latency aside)."""
    offered = step.get("offered_per_s") or 0
    return bool(
        offered
        and step.get("samples", 0) > 0
        and step["delivered_per_s"] >= DELIVERED_OK * offered
        and step["drain_s"] <= DRAIN_OK_S
        and step["undelivered"] == 0
        and step.get("duplicates", 0) == 0
        and step["closed_by_server"] == 0
    )


def sustained(step: dict[str, Any], base_p99: float | None) -> bool:
    """Kept up, and the p99 stayed flat (see FLAT_P99_*)."""
    limit = FLAT_P99_FLOOR_MS
    if base_p99 is not None:
        limit = max(limit, FLAT_P99_FACTOR * base_p99)
    return bool(kept_up(step) and step["p99_ms"] is not None and step["p99_ms"] <= limit)


def _check_ready(ev: dict[str, Any], want: int) -> None:
    if ev.get("event") != "ready":
        raise BenchError(f"generator setup failed: {ev}")
    if ev["ready"] < want or ev.get("barrier_missing", 0):
        raise BenchError(
            f"only {ev['ready']}/{want} members joined "
            f"(failed {ev['failed']}, barrier missing {ev.get('barrier_missing')}): "
            f"{ev.get('errors')}"
        )


def _warm_server(server: Server, prof: Profile, record: Record) -> None:
    """A few clients join and chat once, so lazy start-up work is not counted as connection cost."""
    args = {
        "members": 20,
        "room_size": 10,
        "pubs_per_room": 1,
        "body": prof.body,
        "conc": 20,
        "http_pool": 4,
    }
    with Generator(server, args, record, deadline_s=120) as gen:
        _check_ready(gen.next_event(_ready_timeout(20)), 20)
        gen.command("closed 1 0.2 0.5", _step_timeout(0.2, 0.5))


def run_fanout(
    stack: Stack, layout: Layout, prof: Profile, logdir: Path, record: Record
) -> dict[str, Any]:
    """Closed-loop probe, open-loop ladder, then latency at half of the saturation rate."""
    out: dict[str, Any] = {
        "layout": layout.name,
        "members": layout.members,
        "room_size": layout.room_size,
        "steps": [],
        "machine_before": wait_for_quiet(prof.quiet_wait_s),
    }
    with Server(stack, logdir / f"server-{stack.name}-{layout.name}.log") as server:
        args: dict[str, int | str] = {
            "members": layout.members,
            "room_size": layout.room_size,
            "pubs_per_room": layout.pubs_per_room,
            "body": prof.body,
            "conc": 200,
            "http_pool": 32,
        }
        if layout.room_body:
            args["room_body"] = layout.room_body
        deadline = int(_ready_timeout(layout.members) + 600)
        with Generator(server, args, record, deadline_s=deadline) as gen:
            ready = gen.next_event(_ready_timeout(layout.members))
            _check_ready(ready, layout.members)
            out["setup"] = {
                k: ready.get(k)
                for k in ("connect_s", "tokens_s", "publishers", "template_bytes", "barrier_s")
            }
            time.sleep(prof.settle_s)
            probe = gen.command(
                f"closed {layout.window} {prof.probe_warm} {prof.probe_win}",
                _step_timeout(prof.probe_warm, prof.probe_win),
            )
            out["probe"] = probe
            capacity = float(probe["delivered_per_s"])
            if capacity <= 0:
                raise BenchError(f"closed-loop probe delivered nothing: {probe}")
            steps: list[dict[str, Any]] = []
            base_p99: float | None = None
            not_flat = not_kept = 0
            fractions = list(prof.ladder)
            offered = 0
            while len(steps) < prof.max_steps:
                if fractions:
                    frac = fractions.pop(0)
                    offered = max(1, int(frac * capacity))
                elif prof.ladder_growth > 1.0 and steps and kept_up(steps[-1]):
                    # the probe under-estimates servers that batch more under load: climb on
                    offered = int(offered * prof.ladder_growth)
                    frac = offered / capacity
                else:
                    break
                st = gen.command(
                    f"open {offered} {prof.step_warm} {prof.step_win}",
                    _step_timeout(prof.step_warm, prof.step_win),
                )
                if (
                    prof.retry_wait_s
                    and contended(st)
                    and not sustained(st, base_p99 if base_p99 is not None else None)
                ):
                    # someone else took our core during this step: measure it again, once
                    quiet = wait_for_quiet(prof.retry_wait_s)
                    st = gen.command(
                        f"open {offered} {prof.step_warm} {prof.step_win}",
                        _step_timeout(prof.step_warm, prof.step_win),
                    )
                    st["retried_after"] = quiet
                st["fraction_of_probe"] = frac
                st["contended"] = contended(st)
                if base_p99 is None and st.get("p99_ms") is not None:
                    base_p99 = float(st["p99_ms"])
                st["sustained"] = sustained(st, base_p99)
                st["gen_bound"] = gen_bound(st)
                steps.append(st)
                if not server.alive():
                    raise BenchError(f"{stack.name} died during the ladder: {server.log_tail()}")
                st["kept_up"] = kept_up(st)
                not_flat = 0 if st["sustained"] else not_flat + 1
                not_kept = 0 if st["kept_up"] else not_kept + 1
                if not_kept >= 2 or not_flat >= 3:
                    break
            out["steps"] = steps
            ok = [s for s in steps if s["sustained"]]
            sat_step = max(ok, key=lambda s: s["delivered_per_s"]) if ok else None
            saturation = float(sat_step["delivered_per_s"]) if sat_step else None
            # the step that broke the flat latency (first unsustained one above saturation)
            above = [
                s
                for s in steps
                if not s["sustained"] and (saturation is None or s["offered_per_s"] > saturation)
            ]
            knee = above[0] if above else None
            # generator-bound: the generator ran out of core before the server did, at or below
            # the point that decided the saturation rate
            decisive = [probe, *(s for s in steps if s is sat_step or s is knee)]
            out["gen_bound"] = any(gen_bound(s) for s in decisive)
            out["contended"] = any(contended(s) for s in decisive)
            out["saturation"] = saturation
            out["saturation_limited_by_ladder"] = bool(ok and knee is None)
            kept = [s for s in steps if s["kept_up"]]
            out["max_kept_up"] = max((s["delivered_per_s"] for s in kept), default=None)
            out["sat_step"] = sat_step
            out["knee_step"] = knee
            out["probe_capacity"] = capacity
            ref = knee or sat_step or probe
            out["server_cpu_at_sat"] = ref.get("server_cpu_pct")
            out["gen_cpu_at_sat"] = ref.get("gen_cpu_pct")
            out["cpu0_other_at_sat"] = ref.get("cpu0_other_pct")
            out["cpu1_other_at_sat"] = ref.get("cpu1_other_pct")
            half_rate = max(1, int(0.5 * (saturation if saturation else capacity)))
            half = gen.command(
                f"open {half_rate} {prof.half_warm} {prof.half_win}",
                _step_timeout(prof.half_warm, prof.half_win),
            )
            if prof.retry_wait_s and contended(half):
                quiet = wait_for_quiet(prof.retry_wait_s)
                half = gen.command(
                    f"open {half_rate} {prof.half_warm} {prof.half_win}",
                    _step_timeout(prof.half_warm, prof.half_win),
                )
                half["retried_after"] = quiet
            half["contended"] = contended(half)
            half["sustained"] = sustained(half, base_p99)
            half["gen_bound"] = gen_bound(half)
            out["half"] = half
        out["server_exit"] = server.stop()
    return out


def idle_target(n: int | str, prof: Profile, idle_max: int) -> tuple[int, str]:
    """How many idle connections to open, and what limits the "max" size."""
    if n != "max":
        return int(n), "requested"
    ports = ephemeral_ports() - 1500
    fds = nofile_limit() - 1000
    cands = {
        "--idle-max": idle_max,
        "client ports (ip_local_port_range)": ports,
        "open-file limit": fds,
    }
    why = min(cands, key=lambda k: cands[k])
    return max(1, cands[why]), why


def run_idle(
    stack: Stack, n: int, why: str, prof: Profile, logdir: Path, record: Record
) -> dict[str, Any]:
    """Open ``n`` joined, silent connections; server RSS growth per connection."""
    out: dict[str, Any] = {
        "n": n,
        "limited_by": why,
        "room_size": prof.idle_room_size,
        "machine_before": wait_for_quiet(prof.quiet_wait_s),
    }
    with Server(stack, logdir / f"server-{stack.name}-idle-{n}.log") as server:
        _warm_server(server, prof, record)
        time.sleep(prof.idle_base_wait_s)
        base = server.rss()
        args = {
            "members": n,
            "room_size": prof.idle_room_size,
            "pubs_per_room": 0,
            "body": prof.body,
            "conc": 200,
            "http_pool": 32,
        }
        with Generator(server, args, record, deadline_s=int(_ready_timeout(n) + 300)) as gen:
            ready = gen.next_event(_ready_timeout(n))
            if ready.get("event") != "ready":
                raise BenchError(f"idle setup failed: {ready}")
            hold1 = gen.command(f"hold {prof.idle_hold_s}", 60)
            rss1 = server.rss()
            hold2 = gen.command(f"hold {prof.idle_hold_s}", 60)
            rss2 = server.rss()
            opened = int(hold2["members_ready"])
            out.update(
                {
                    "opened": opened,
                    "failed": ready["failed"],
                    "errors": ready.get("errors"),
                    "tokens_s": ready["tokens_s"],
                    "connect_s": ready["connect_s"],
                    "rss_base_mb": base / 2**20,
                    "rss_mb": max(rss1, rss2) / 2**20,
                    "closed_by_server": hold2["closed_by_server"],
                    "server_cpu_idle_pct": hold2["server_cpu_pct"],
                    "hold1": hold1,
                    "hold2": hold2,
                }
            )
            out["kb_per_conn"] = ((max(rss1, rss2) - base) / 1024 / opened) if opened else None
        out["server_exit"] = server.stop()
    return out


def run_storm(stack: Stack, prof: Profile, logdir: Path, record: Record) -> dict[str, Any]:
    """Timed: for each of N clients, token over HTTP + WebSocket upgrade + join reply."""
    n = prof.storm_members
    out: dict[str, Any] = {
        "n": n,
        "conc": prof.storm_conc,
        "room_size": prof.idle_room_size,
        "machine_before": wait_for_quiet(prof.quiet_wait_s),
    }
    with Server(stack, logdir / f"server-{stack.name}-storm.log") as server:
        _warm_server(server, prof, record)
        args = {
            "members": n,
            "room_size": prof.idle_room_size,
            "pubs_per_room": 0,
            "body": prof.body,
            "conc": prof.storm_conc,
            "http_pool": min(32, prof.storm_conc),
            "storm": 1,
        }
        with Generator(server, args, record, deadline_s=int(_ready_timeout(n) + 120)) as gen:
            ready = gen.next_event(_ready_timeout(n))
            if ready.get("event") != "ready":
                raise BenchError(f"storm setup failed: {ready}")
            setup = ready["storm_setup"]
            out.update(
                {
                    "ready": ready["ready"],
                    "failed": ready["failed"],
                    "errors": ready.get("errors"),
                    "storm_s": ready["storm_s"],
                    "conn_per_s": ready["storm_conn_per_s"],
                    "setup_p50_ms": setup.get("p50_ms"),
                    "setup_p99_ms": setup.get("p99_ms"),
                    "server_cpu_pct": ready["setup"]["server_cpu_pct"],
                    "gen_cpu_pct": ready["setup"]["gen_cpu_pct"],
                    "cpu0_busy_pct": ready["setup"]["cpu0_busy_pct"],
                    "cpu1_busy_pct": ready["setup"]["cpu1_busy_pct"],
                }
            )
            out["gen_bound"] = gen_bound(ready["setup"])
            out["contended"] = contended(ready["setup"])
            out["cpu0_other_pct"] = ready["setup"].get("cpu0_other_pct")
            out["cpu1_other_pct"] = ready["setup"].get("cpu1_other_pct")
        out["server_exit"] = server.stop()
    return out


def run_fixed_rates(
    stack: Stack, layout: Layout, prof: Profile, rates: list[int], logdir: Path, record: Record
) -> list[dict[str, Any]]:
    """Open-loop steps at the given offered rates (same rates for every stack: like for like)."""
    steps: list[dict[str, Any]] = []
    wait_for_quiet(prof.quiet_wait_s)
    with Server(stack, logdir / f"server-{stack.name}-{layout.name}-rates.log") as server:
        args = {
            "members": layout.members,
            "room_size": layout.room_size,
            "pubs_per_room": layout.pubs_per_room,
            "body": prof.body,
            "conc": 200,
            "http_pool": 32,
        }
        deadline = int(_ready_timeout(layout.members) + 60 * len(rates) + 120)
        with Generator(server, args, record, deadline_s=deadline) as gen:
            _check_ready(gen.next_event(_ready_timeout(layout.members)), layout.members)
            time.sleep(prof.settle_s)
            for rate in rates:
                st = gen.command(
                    f"open {rate} {prof.step_warm} {prof.half_win}",
                    _step_timeout(prof.step_warm, prof.half_win),
                )
                if prof.retry_wait_s and contended(st):
                    st = gen.command(
                        f"open {rate} {prof.step_warm} {prof.half_win}",
                        _step_timeout(prof.step_warm, prof.half_win),
                    )
                st["contended"] = contended(st)
                st["kept_up"] = kept_up(st)
                st["gen_bound"] = gen_bound(st)
                steps.append(st)
                if not st["kept_up"]:
                    break
    return steps
