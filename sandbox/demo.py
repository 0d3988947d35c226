"""The sandbox demo: a fault plays out in the simulated shop, an SRE's view of it at "now",
then the ground-truth mitigation is applied and the recovery is watched."""

from __future__ import annotations

import re
import time

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from opsagent.sandbox.faults import get_fault
from opsagent.sandbox.metrics import Frame
from opsagent.sandbox.scenario import FaultSpec, Scenario, ScenarioSpec


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t))


def _timeline(frames: list[Frame], every_s: float, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("time", "user errors", "p99 latency", "unavailable", "restarts", "pods not ready"):
        table.add_column(col, justify="right")
    last = -1e18
    for i, frame in enumerate(frames):
        if frame.t - last < every_s and i != len(frames) - 1:
            continue
        last = frame.t
        err, p99, unavailable = frame.health
        restarts = sum(c.restarts for p in frame.pods for c in p.containers)
        not_ready = sum(1 for p in frame.pods if not p.ready and p.phase != "Failed")
        style = "red" if err > 0.01 or p99 > 500 or unavailable else "green"
        table.add_row(_clock(frame.t), f"[{style}]{err:.1%}[/]", f"[{style}]{p99:,.0f} ms[/]",
                      str(unavailable), str(restarts), str(not_ready))
    return table


def _sre_view(console: Console, scenario: Scenario) -> None:
    world = scenario.world
    recent = [e for e in world.events if e.last_timestamp > world.now - 1800]
    warnings = [e for e in recent if e.type == "Warning"]
    title = "Warning events, last 30 minutes" if warnings else "No warnings; latest events"
    recent = warnings or recent
    table = Table(title=f"{title} (kubectl get events)", title_justify="left")
    for col in ("last seen", "object", "reason", "count", "message"):
        table.add_column(col, overflow="fold")
    for ev in sorted(recent, key=lambda e: -e.last_timestamp)[:8]:
        table.add_row(_clock(ev.last_timestamp), f"{ev.kind.lower()}/{ev.name}", ev.reason,
                      str(ev.count), escape(ev.message[:110]))
    console.print(table)
    rank = {"FATAL": 0, "PANIC": 0, "CRITICAL": 0, "ERROR": 1, "WARN": 2, "WARNING": 2}
    errors = [r for r in world.logs.query(since=world.now - 600) if r.level in rank]
    console.print(f"[bold]Error and warning log lines, last 10 minutes:[/] {len(errors)}")
    seen: set[str] = set()
    for r in sorted(errors, key=lambda r: (rank[r.level], -r.timestamp)):
        lines = r.message.splitlines()
        # The line that names the problem: a stack trace's exception, else the first line.
        text = next((ln for ln in lines[1:] if re.search(r"(Exception|Error)\b", ln)), lines[0])
        key = f"{r.service}:{re.sub(r'[0-9]', '', text)[:80]}"
        if key in seen:
            continue
        seen.add(key)
        console.print(f"  [dim]{escape(r.pod or r.node)}[/] {escape(text[:150])}")
        if len(seen) == 4:
            break


def run_demo(
    console: Console, fault: str, target: str | None, seed: int, history_s: int, dt_s: float,
    recovery_s: int,
) -> bool:
    """Returns whether the scenario ended mitigated."""
    get_fault(fault)  # fail early, with the catalogue in the message
    spec = ScenarioSpec(faults=[FaultSpec(type=fault, target=target)], seed=seed,
                        history_s=history_s, dt_s=dt_s)
    started = time.perf_counter()
    scenario = Scenario.build(spec)
    built_ms = (time.perf_counter() - started) * 1000
    world = scenario.world
    console.rule(f"[bold]opsagent sandbox[/] · scenario {spec.id}")
    console.print(
        f"Simulated the shop ({len(world.workloads)} workloads, {len(world.pods)} pods, "
        f"{len(world.nodes)} nodes) for "
        f"{history_s // 60} min in {built_ms:.0f} ms: {len(world.logs):,} log lines, "
        f"{len(world.events)} events, {len(world.frames)} metric frames.")
    console.print(_timeline(world.frames, 300, "What the dashboards showed"))
    _sre_view(console, scenario)

    truth = scenario.ground_truth()[0]
    console.rule("[bold]Ground truth[/] (what only the grader and the oracle see)")
    console.print(f"fault [bold]{truth.fault}[/] on {', '.join(truth.components)}: {truth.summary}")
    console.print(f"level {truth.level}, type {truth.fault_type}; mitigated now: "
                  f"{scenario.mitigated()}")
    console.rule("[bold]Mitigation[/] (the oracle applies the first ground-truth remedy)")
    for action in truth.mitigations[0]:
        result = scenario.apply(action)
        console.print(f"[cyan]{result.action}[/] {result.target}: {'; '.join(result.changed)}")
    before = len(world.frames)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("watching the recovery", total=recovery_s)
        for _ in range(int(recovery_s / dt_s)):
            world.tick()
            progress.advance(task, dt_s)
    console.print(_timeline(world.frames[before - 1:], 120, "After the mitigation"))
    ok = scenario.mitigated()
    health = scenario.health()
    verdict = "[green]mitigated[/]" if ok else "[red]not mitigated[/]"
    console.print(f"Outcome: {verdict}; user errors {health.error_ratio:.1%}, p99 "
                  f"{health.p99_ms:,.0f} ms, unavailable replicas {health.unavailable_replicas}")
    return ok
