"""``python -m benchmarks history``: what keeping messages costs, and what recovery delivers.

SketchyChat only (the peers keep nothing), one run, one machine:

* **cost of history**: 1 room x 1,000 with ``ephemeral``, ``memory`` and ``persistent``
  (SQLite) retention, interleaved in every repetition: saturation deliveries/s, measured the
  way ``docs/benchmarks.md`` describes (server on core 0, the C generator on core 1);
* **stored messages/s**: 100 rooms x 10, ``persistent`` on SQLite. A persistent room fans a
  message out only once it is stored, so at saturation stored messages/s = deliveries/s ÷ 10
  (the server, its SQLite thread included, on one core); the file's row count checks it;
* **recovery storm**: 1,000 clients of a persistent room rejoin with their position after a
  server restart, each owed the 50 messages said meanwhile: seconds until every one has them
  all; the same after a network blip in an ephemeral room (served from memory);
* **delivery under faults**: a publisher sends 200 messages/s for 20 s while 10% of 100 clients
  are cut every second and rejoin with their position; each must end with every message, in
  order, once — for each retention.

The storm and fault drivers are Python (:mod:`benchmarks.recovery`) on the generator's core;
their CPU time is reported so that a reader can tell a slow server from a slow client.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import machine, report
from benchmarks.recovery import Member, Publisher, create_room, join_all, pick, sessions, wait_all
from benchmarks.runner import GEN_CORE, BenchError, Generator, Server, build_loadgen, wait_for_quiet
from benchmarks.stacks import Stack, all_stacks
from benchmarks.workloads import FULL, SMOKE, Layout, Profile, Record, run_fanout

__all__ = ["run_history"]

RETENTIONS = ("ephemeral", "memory", "persistent")


@dataclass(frozen=True)
class Sizes:
    fanout: Layout
    stored: Layout
    storm_members: int
    storm_before: int
    storm_missed: int
    storm_conc: int
    fault_members: int
    fault_rate: float
    fault_seconds: float
    fault_share: float


FULL_SIZES = Sizes(
    fanout=FULL.layouts["fanout-1x1000"],
    stored=FULL.layouts["fanout-100x10"],
    storm_members=1000,
    storm_before=100,
    storm_missed=50,
    storm_conc=200,
    fault_members=100,
    fault_rate=200.0,
    fault_seconds=20.0,
    fault_share=0.10,
)
SMOKE_SIZES = Sizes(
    fanout=SMOKE.layouts["fanout-1x1000"],
    stored=SMOKE.layouts["fanout-100x10"],
    storm_members=50,
    storm_before=10,
    storm_missed=5,
    storm_conc=20,
    fault_members=20,
    fault_rate=50.0,
    fault_seconds=2.0,
    fault_share=0.10,
)


def _body(retention: str) -> str:
    return "{}" if retention == "ephemeral" else json.dumps({"retention": retention})


def _stack(data_dir: Path) -> Stack:
    """SketchyChat with its SQLite file in ``data_dir`` (and patient with quiet drivers)."""
    base = all_stacks()["sketchychat"]
    env = {**base.env, "SKETCHYCHAT_DATA_DIR": str(data_dir), "SKETCHYCHAT_IDLE_TIMEOUT": "600"}
    return replace(base, env=env)


def _stored_rows(data_dir: Path) -> int | None:
    path = data_dir / "sketchychat.sqlite3"
    if not path.exists():
        return None
    with contextlib.closing(sqlite3.connect(path)) as db:
        row = db.execute("SELECT COALESCE(SUM(top), 0) FROM sketchychat_rooms").fetchone()
        return int(row[0])


def _fanout(
    retention: str, layout: Layout, prof: Profile, logdir: Path, record: Any
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="sc-bench-data-"))
    try:
        named = replace(layout, name=f"{layout.name}-{retention}", room_body=_body(retention))
        data = run_fanout(_stack(data_dir), named, prof, logdir, record)
        data["retention"] = retention
        data["stored_rows"] = _stored_rows(data_dir)
        return data
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


# -- the storm --------------------------------------------------------------------------------


def _storm(sizes: Sizes, restart: bool, logdir: Path, record: Record) -> dict[str, Any]:
    """Members see ``before`` messages, drop (a restart, or a cut), miss some, all rejoin.

    The members are the C generator's (``cut``, ``rejoin``: each sends back the last position
    it saw and checks every message against it); a Python publisher says the few messages.
    """
    retention = "persistent" if restart else "ephemeral"
    name = "storm-restart" if restart else "storm-blip"
    n = sizes.storm_members
    data_dir = Path(tempfile.mkdtemp(prefix="sc-bench-data-"))
    node = Node(_stack(data_dir), logdir / f"server-{name}.log")
    node.server.start()
    try:
        args: dict[str, int | str] = {
            "members": n,
            "room_size": n,
            "pubs_per_room": 0,
            "body": 64,
            "conc": sizes.storm_conc,
            "http_pool": 32,
            "room_body": _body(retention),
            "track": 1,
        }
        with Generator(node.server, args, record, deadline_s=900) as gen:
            ready = gen.next_event(120)
            if ready.get("event") != "ready" or ready.get("ready") != n:
                raise BenchError(f"storm setup failed: {ready}")
            topic = "room:" + str(ready["first_room"])
            with _on_generator_core():
                asyncio.run(_say(node.server.port, topic, sizes.storm_before))
            gen.command("hold 1", 30)  # every member now holds its position
            if restart:
                node.restart()  # SIGTERM: every member is closed with 1012
            else:
                gen.command("cut", 30)
            with _on_generator_core():
                top = asyncio.run(_say(node.server.port, topic, sizes.storm_missed))
            if top != sizes.storm_before + sizes.storm_missed:
                raise BenchError(f"the publisher stored up to {top}")
            server_cpu0 = node.server.cpu_seconds()
            ev = gen.command(f"rejoin {top} 120", 180)
            server_cpu = node.server.cpu_seconds() - server_cpu0
    finally:
        node.server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    if ev.get("event") != "rejoin":
        raise BenchError(f"rejoin: {ev}")
    per = ev["per_member"]
    return {
        "retention": retention,
        "after": "restart" if restart else "blip",
        "members": n,
        "missed_each": sizes.storm_missed,
        "all_recovered_s": ev["all_s"] if ev["complete"] == n else None,
        "p50_s": per["p50_ms"] / 1000 if per["p50_ms"] is not None else None,
        "p99_s": per["p99_ms"] / 1000 if per["p99_ms"] is not None else None,
        "recovered_true": ev["recovered_true"],
        "recovered_false": ev["recovered_false"],
        "duplicates": ev["duplicates"],
        "gaps": ev["gaps"],
        "complete": ev["complete"],
        "failed": ev["failed"],
        "errors": ev["errors"],
        "server_cpu_s": round(server_cpu, 2),
    }


async def _say(port: int, topic: str, n: int) -> int:
    """``n`` messages from one publisher; the last position stored."""
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        (token,) = await sessions(http, base, 1)
        publisher = Publisher(Member(http, base.replace("http", "ws", 1), topic, token))
        await publisher.member.join()
        await publisher.burst(n)
        await publisher.member.close()
        if publisher.refused:
            raise BenchError(f"messages refused: {publisher.refused}")
        return publisher.top


# -- faults -----------------------------------------------------------------------------------


async def _faults(node: Node, sizes: Sizes, retention: str, seed: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{node.server.port}"
    ws_base = base.replace("http", "ws", 1)
    rnd = random.Random(seed)
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as http:
        topic = await create_room(http, base, retention)
        tokens = await sessions(http, base, sizes.fault_members + 1)
        members = [Member(http, ws_base, topic, t) for t in tokens[1:]]
        publisher = Publisher(Member(http, ws_base, topic, tokens[0]))
        await publisher.member.join()
        await join_all(members, 50)
        cuts = 0
        rejoin_failures: list[str] = []
        stop = asyncio.Event()

        async def chaos() -> None:
            nonlocal cuts
            while not stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                if stop.is_set():
                    break
                victims = pick(members, sizes.fault_share, rnd)
                for m in victims:
                    m.cut()
                cuts += len(victims)
                for outcome in await asyncio.gather(
                    *(m.join() for m in victims), return_exceptions=True
                ):
                    if isinstance(outcome, BaseException):
                        rejoin_failures.append(repr(outcome)[:200])

        cpu0 = time.process_time()
        chaos_task = asyncio.get_running_loop().create_task(chaos())
        sent = await publisher.paced(sizes.fault_rate, sizes.fault_seconds)
        stop.set()
        await chaos_task
        complete = await wait_all(members, publisher.top, 30)
        result = {
            "retention": retention,
            "members": len(members),
            "sent": sent,
            "acked": publisher.acked,
            "refused": publisher.refused,
            "cuts": cuts,
            "rejoins": sum(m.tally.rejoins for m in members),
            "recovered_true": sum(m.tally.recovered for m in members),
            "recovered_false": sum(m.tally.not_recovered for m in members),
            "rejoin_failures": rejoin_failures[:5],
            "complete_members": sum(1 for m in members if m.last == publisher.top),
            "duplicates": sum(m.tally.duplicates for m in members),
            "gaps": sum(m.tally.gaps for m in members),
            "lost_epochs": sum(m.tally.lost_epochs for m in members),
            "all_complete": complete,
            "client_cpu_s": round(time.process_time() - cpu0, 2),
        }
        for m in [*members, publisher.member]:
            await m.close()
        return result


@contextlib.contextmanager
def _on_generator_core() -> Iterator[None]:
    """The Python drivers run where the C generator would: core 1, never the server's."""
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(GEN_CORE)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


class Node:
    """The server under test, restartable on its own port with its own data directory."""

    def __init__(self, stack: Stack, log_path: Path) -> None:
        self.stack = stack
        self.server = Server(stack, log_path)
        self._restarts = 0

    def restart(self) -> None:
        old = self.server
        old.stop()  # SIGTERM: every socket is closed with 1012
        self._restarts += 1
        log = old.log_path.with_name(f"{old.log_path.stem}-restart{self._restarts}.log")
        self.server = Server(self.stack, log)
        self.server.port = old.port
        self.server.start()


def _with_node(
    logdir: Path, name: str, work: Callable[[Node], Coroutine[Any, Any, dict[str, Any]]]
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="sc-bench-data-"))
    node = Node(_stack(data_dir), logdir / f"server-{name}.log")
    try:
        node.server.start()
        with _on_generator_core():
            return asyncio.run(work(node))
    finally:
        node.server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


# -- the run ----------------------------------------------------------------------------------


def run_history(*, smoke: bool, reps: int, out: Path) -> int:
    prof = SMOKE if smoke else FULL
    sizes = SMOKE_SIZES if smoke else FULL_SIZES
    build_loadgen()
    run_id = time.strftime("%Y%m%d-%H%M%S")
    raw = out / "raw" / f"history-{'smoke-' if smoke else ''}{run_id}"
    raw.mkdir(parents=True, exist_ok=True)
    events = (raw / "events.jsonl").open("a")

    def record(ev: dict[str, Any]) -> None:
        events.write(json.dumps(ev) + "\n")
        events.flush()

    results: dict[str, list[dict[str, Any]]] = {}

    def keep(key: str, data: dict[str, Any]) -> None:
        results.setdefault(key, []).append(data)
        (raw / "results.json").write_text(json.dumps(results, indent=1, default=str))

    started = time.monotonic()
    for rep in range(1, reps + 1):
        logdir = raw / "logs" / f"rep{rep}"
        for retention in RETENTIONS:
            wait_for_quiet(prof.quiet_wait_s)
            t = time.monotonic()
            data = _fanout(retention, sizes.fanout, prof, logdir, record)
            keep(f"fanout-{retention}", data)
            print(
                f"[rep {rep}/{reps}] 1x1000 {retention:10s} {time.monotonic() - t:6.1f}s  "
                f"sat {report.fmt_rate(data['saturation'])}",
                flush=True,
            )
        t = time.monotonic()
        data = _fanout("persistent", sizes.stored, prof, logdir, record)
        keep("stored-100x10", data)
        sat = data["saturation"]
        print(
            f"[rep {rep}/{reps}] 100x10 persistent {time.monotonic() - t:6.1f}s  sat "
            f"{report.fmt_rate(sat)} = {report.fmt_rate(sat / 10 if sat else None)} stored msg/s"
            f" ({data['stored_rows']} rows)",
            flush=True,
        )
        for restart in (True, False):
            name = "storm-restart" if restart else "storm-blip"
            wait_for_quiet(prof.quiet_wait_s)
            data = _storm(sizes, restart, logdir, record)
            keep(name, data)
            print(
                f"[rep {rep}/{reps}] {name:18s} all {data['members']} recovered in "
                f"{data['all_recovered_s']} s (p50 {data['p50_s']} s), "
                f"complete {data['complete']}, server cpu {data['server_cpu_s']} s",
                flush=True,
            )
    for retention in RETENTIONS:  # once: a correctness run, not a speed one
        wait_for_quiet(prof.quiet_wait_s)
        data = _with_node(
            raw / "logs",
            f"faults-{retention}",
            functools.partial(_faults, sizes=sizes, retention=retention, seed=8),
        )
        keep(f"faults-{retention}", data)
        print(
            f"faults {retention:10s} {data['complete_members']}/{data['members']} complete, "
            f"{data['cuts']} cuts, dup {data['duplicates']}, gaps {data['gaps']}",
            flush=True,
        )
    events.close()
    mach = machine.describe()
    summary = _summarize(results, sizes, reps, smoke, mach, time.monotonic() - started, run_id)
    target = out if not smoke else raw
    (target / "history.json").write_text(json.dumps(summary, indent=1, default=str))
    (target / "HISTORY.md").write_text(_render(summary))
    print()
    print(_render(summary))
    print(f"raw: {raw}")
    failed = [f for f in summary["faults"] if not f["exact"]]
    return 1 if failed else 0


def _summarize(
    results: dict[str, list[dict[str, Any]]],
    sizes: Sizes,
    reps: int,
    smoke: bool,
    mach: dict[str, Any],
    duration: float,
    run_id: str,
) -> dict[str, Any]:
    def sat(key: str) -> dict[str, Any] | None:
        return report.spread([r["saturation"] for r in results.get(key, [])])

    eph = sat("fanout-ephemeral")
    fanout = {}
    for retention in RETENTIONS:
        s = sat(f"fanout-{retention}")
        ratio = (
            s["median"] / eph["median"] if s and eph and eph["median"] else None
        )  # the median of each against the ephemeral median
        fanout[retention] = {"saturation": s, "vs_ephemeral": ratio}
    stored = report.spread(
        [
            r["saturation"] / 10 if r["saturation"] else None
            for r in results.get("stored-100x10", [])
        ]
    )
    storms = {}
    for name in ("storm-restart", "storm-blip"):
        runs = results.get(name, [])
        storms[name] = {
            "all_recovered_s": report.spread([r["all_recovered_s"] for r in runs]),
            "p50_s": report.spread([r["p50_s"] for r in runs]),
            "p99_s": report.spread([r["p99_s"] for r in runs]),
            "server_cpu_s": report.spread([r["server_cpu_s"] for r in runs]),
            "complete": [r["complete"] for r in runs],
            "members": runs[0]["members"] if runs else None,
            "recovered_false": sum(r["recovered_false"] for r in runs),
            "duplicates": sum(r["duplicates"] for r in runs),
            "gaps": sum(r["gaps"] for r in runs),
        }
    faults = []
    for retention in RETENTIONS:
        for r in results.get(f"faults-{retention}", []):
            r["exact"] = (
                r["all_complete"]
                and r["complete_members"] == r["members"]
                and r["duplicates"] == 0
                and r["gaps"] == 0
                and not r["refused"]
            )
            faults.append(r)
    return {
        "run_id": run_id,
        "command": "python -m benchmarks history" + (" --smoke" if smoke else f" --reps {reps}"),
        "machine_line": machine.one_line(mach),
        "duration_s": round(duration),
        "sizes": sizes.__dict__
        | {"fanout": sizes.fanout.__dict__, "stored": sizes.stored.__dict__},
        "fanout": fanout,
        "stored_per_s": stored,
        "storms": storms,
        "faults": faults,
    }


def _secs(x: float | None) -> str:
    return report.fmt_num(x, 2)


def _render(s: dict[str, Any]) -> str:
    sz = s["sizes"]
    lines = [
        "# The cost of history, and what recovery delivers",
        "",
        f"`{s['command']}` — run `{s['run_id']}`, {s['duration_s']} s; {s['machine_line']}.",
        "Medians over repetitions, [min-max]. Method: `benchmarks/history.py`.",
        "",
        "| 1 room x 1,000, one core | deliveries/s at saturation | vs ephemeral |",
        "|---|---|---|",
    ]
    for retention, f in s["fanout"].items():
        ratio = f["vs_ephemeral"]
        lines.append(
            f"| `{retention}` | {report.fmt_spread(f['saturation'])} | "
            f"{'—' if ratio is None else f'{ratio:.0%}'} |"
        )
    lines += [
        "",
        "| 100 rooms x 10, `persistent` on SQLite, one core | stored messages/s |",
        "|---|---|",
        f"| saturation deliveries/s ÷ 10 | {report.fmt_spread(s['stored_per_s'])} |",
        "",
        f"Recovery storm: {sz['storm_members']:,} clients (the C generator) rejoin at once "
        f"({sz['storm_conc']} handshakes in flight) with their position, each owed "
        f"{sz['storm_missed']} messages; timed from the first reconnect to the last client "
        "holding every message.",
        "",
        "| storm | all recovered (s) | half / 99% recovered (s) | complete | recovered: false "
        "| duplicates / gaps | server CPU (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {
        "storm-restart": "`persistent` (SQLite), after a server restart",
        "storm-blip": "`ephemeral`, after a network blip (from memory)",
    }
    for name, st in s["storms"].items():
        members = st["members"]
        complete = ", ".join(f"{c}/{members}" for c in st["complete"])
        lines.append(
            f"| {labels[name]} | {report.fmt_spread(st['all_recovered_s'], _secs)} | "
            f"{report.fmt_spread(st['p50_s'], _secs)} / {report.fmt_spread(st['p99_s'], _secs)} | "
            f"{complete} | {st['recovered_false']} | {st['duplicates']} / {st['gaps']} | "
            f"{report.fmt_spread(st['server_cpu_s'], _secs)} |"
        )
    lines += [
        "",
        f"Delivery under faults: {sz['fault_members']} clients, a publisher at "
        f"{sz['fault_rate']:.0f} messages/s for {sz['fault_seconds']:.0f} s, "
        f"{sz['fault_share']:.0%} of the clients cut (TCP reset) every second, each rejoining "
        "at once with its position.",
        "",
        "| retention | messages | cuts | rejoins recovered | clients with every message "
        "| duplicates | gaps | exact |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in s["faults"]:
        lines.append(
            f"| `{f['retention']}` | {f['acked']:,} | {f['cuts']} | "
            f"{f['recovered_true']}/{f['rejoins']} | {f['complete_members']}/{f['members']} | "
            f"{f['duplicates']} | {f['gaps']} | {'yes' if f['exact'] else '**no**'} |"
        )
    return "\n".join(lines) + "\n"
