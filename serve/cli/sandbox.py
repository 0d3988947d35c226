"""`opsagent sandbox ...`: the simulated cluster from the command line."""

from __future__ import annotations

import json
import random
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.table import Table

from opsagent.sandbox.config import SandboxConfig
from opsagent.sandbox.demo import run_demo
from opsagent.sandbox.errors import SandboxError
from opsagent.sandbox.faults import FAULTS
from opsagent.sandbox.scenario import FaultSpec, Scenario, ScenarioSpec, generate, split
from opsagent.sandbox.world import World
from opsagent.serve.cli.common import console, fail, stop_requested

app = typer.Typer(help="The simulated cluster: fault catalogue, scenarios and the demo.",
                  no_args_is_help=True)


def _config(ctx: typer.Context) -> SandboxConfig:
    return ctx.obj.sandbox if ctx.obj is not None else SandboxConfig()


@app.command()
def demo(
    ctx: typer.Context,
    fault: Annotated[str | None, typer.Option(help="fault id (see `opsagent sandbox faults`)")] = None,
    target: Annotated[str | None, typer.Option(help="service or node the fault hits")] = None,
    seed: Annotated[int | None, typer.Option(help="scenario seed")] = None,
    recovery: Annotated[int | None, typer.Option(help="seconds to watch after mitigating")] = None,
) -> None:
    """Play a fault out in the simulated shop, then mitigate it and watch it recover."""
    cfg = _config(ctx)
    chosen = fault or cfg.fault
    where = target if target is not None else (cfg.target if fault is None else None)
    try:
        ok = run_demo(console, chosen, where, cfg.seed if seed is None else seed, cfg.history_s,
                      cfg.dt_s, cfg.recovery_s if recovery is None else recovery)
    except SandboxError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code=0 if ok else 1)


@app.command()
def faults() -> None:
    """List the fault catalogue."""
    table = Table(title=f"{len(FAULTS)} fault types")
    for col in ("id", "category", "level", "fault type", "incident", "what happens"):
        table.add_column(col, overflow="fold")
    for fid, cls in sorted(FAULTS.items(), key=lambda kv: (kv[1].category, kv[0])):
        table.add_row(fid, cls.category, str(cls.level or "-"), str(cls.fault_type or "-"),
                      "yes" if cls.is_incident else "no", cls.summary)
    console.print(table)


@app.command()
def scenario(
    fault: Annotated[list[str], typer.Option(help="fault id; repeat to compose faults")],
    target: Annotated[list[str] | None, typer.Option(help="target per --fault, in order")] = None,
    seed: int = 0,
    advance: Annotated[int, typer.Option(help="seconds to simulate past 'now'")] = 0,
) -> None:
    """Build a scenario and print its ground truth and health as JSON."""
    targets = target or []
    specs = [FaultSpec(type=f, target=targets[i] if i < len(targets) else None)
             for i, f in enumerate(fault)]
    try:
        sc = Scenario.build(ScenarioSpec(faults=specs, seed=seed))
    except SandboxError as exc:
        raise fail(str(exc)) from None
    if advance:
        sc.advance(advance)
    health = sc.health()
    out = {
        "id": sc.spec.id,
        "spec": sc.spec.model_dump(),
        "health": {"error_ratio": round(health.error_ratio, 4), "p99_ms": round(health.p99_ms, 1),
                   "unavailable_replicas": health.unavailable_replicas},
        "mitigated": sc.mitigated(),
        "ground_truth": [g.model_dump(mode="json") for g in sc.ground_truth()],
    }
    typer.echo(json.dumps(out, indent=2))


class SplitBy(StrEnum):
    FAULT = "fault"
    TARGET = "target"
    SEED = "seed"


@app.command("generate")
def generate_cmd(
    out: Annotated[Path, typer.Option(help="JSONL file of scenario specs to write")],
    seeds: Annotated[int, typer.Option(help="seeds 0..N-1")] = 3,
    fault: Annotated[list[str] | None, typer.Option(help="fault ids (default: all incidents)")] = None,
    noise: Annotated[bool, typer.Option(help="add a red herring to each scenario")] = False,
    split_by: Annotated[SplitBy | None, typer.Option(help="what the held-out values name")] = None,
    held_out: Annotated[list[str] | None, typer.Option(help="values held out")] = None,
) -> None:
    """Write scenario specs (one per fault, target and seed), optionally split train/held-out."""
    unknown = [f for f in fault or [] if f not in FAULTS]
    if unknown:
        raise fail(f"unknown fault type(s): {', '.join(unknown)}")
    specs = generate(fault, range(seeds), with_noise=noise)
    rows = [("all", s) for s in specs]
    if split_by is not None:
        if not held_out:
            raise fail("--split-by needs at least one --held-out value")
        keys = {int(v) for v in held_out} if split_by == "seed" else set(held_out)
        train, rest = split(specs, split_by.value, keys)  # type: ignore[arg-type]
        rows = [("train", s) for s in train] + [("held-out", s) for s in rest]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as fh:
        for name, spec in rows:
            fh.write(json.dumps({"split": name, "id": spec.id, **spec.model_dump()}) + "\n")
    counts = {name: sum(1 for n, _ in rows if n == name) for name, _ in rows}
    console.print(f"wrote {len(rows)} scenario specs to {out}: {counts}")


def _run_dir(ctx: typer.Context, name: str) -> Path:
    base = ctx.obj.data_dir if ctx.obj is not None else Path(".opsagent")
    return base / "sandbox" / name


def _parse_faults(faults: list[str], randomly: bool, seed: int) -> list[FaultSpec]:
    specs = []
    for item in faults:
        fault, _, target = item.partition("@")
        if fault not in FAULTS:
            raise fail(f"unknown fault type {fault!r}; see `opsagent sandbox faults`")
        specs.append(FaultSpec(type=fault, target=target or None))
    if randomly:
        incidents = sorted(k for k, f in FAULTS.items() if f.is_incident)
        specs.append(FaultSpec(type=random.Random(seed).choice(incidents)))
    return specs


@app.command()
def up(
    ctx: typer.Context,
    fault: Annotated[list[str] | None, typer.Option(
        "--scenario", "--fault", help="FAULT or FAULT@TARGET; repeat to compose")] = None,
    randomly: Annotated[bool, typer.Option("--random", help="add a seeded random fault")] = False,
    seed: int = 0,
    name: Annotated[str, typer.Option(help="sandbox name: its run directory and identity")] = "default",
    prometheus: Annotated[bool, typer.Option(help="start Prometheus and Alertmanager")] = True,
    webhook_url: Annotated[str | None, typer.Option(help="Alertmanager webhook receiver")] = None,
    duration: Annotated[float, typer.Option(help="stop after this many seconds (0: until Ctrl-C)")] = 0,
) -> None:
    """Start the sandbox: Kubernetes API, Elasticsearch API, Prometheus and Alertmanager."""
    from opsagent.sandbox.prom.stack import binaries
    from opsagent.sandbox.runtime import Sandbox

    if prometheus:
        try:
            binaries()
        except FileNotFoundError as exc:
            raise fail(str(exc)) from None
    spec = ScenarioSpec(faults=_parse_faults(fault or [], randomly, seed), seed=seed, now=time.time())
    try:
        box = Sandbox(spec, _run_dir(ctx, name), prometheus=prometheus, webhook_url=webhook_url)
    except SandboxError as exc:
        raise fail(str(exc)) from None
    stop = stop_requested()  # Ctrl-C, systemd, docker stop, a CI runner: everything it started stops
    try:
        box.start()
        table = Table(title=f"sandbox {name!r}: scenario {spec.id}", show_header=False)
        info = box.info()
        table.add_row("kubeconfig", f"export KUBECONFIG={info['kubeconfig']}")
        table.add_row("kubernetes", info["kubernetes"])
        table.add_row("elasticsearch", f"{info['elasticsearch']['url']} (user elastic; credentials in "
                      f"{box.info_path})")
        table.add_row("prometheus", info["prometheus"] or "off")
        table.add_row("alertmanager", info["alertmanager"] or "off")
        table.add_row("control", info["control"]["url"])
        console.print(table)
        console.print("Simulated time runs with the wall clock. Ctrl-C stops everything.")
        stop.wait(duration or None)
    finally:
        box.stop()
        console.print("sandbox stopped")


@app.command()
def inject(
    ctx: typer.Context,
    fault: Annotated[str, typer.Argument(help="fault id (see `opsagent sandbox faults`)")],
    target: Annotated[str | None, typer.Option(help="service or node")] = None,
    severity: float = 1.0,
    name: Annotated[str, typer.Option(help="which running sandbox")] = "default",
) -> None:
    """Add a fault, now, to a running sandbox."""
    info_path = _run_dir(ctx, name) / "sandbox.json"
    if not info_path.is_file():
        raise fail(f"no sandbox named {name!r} is running (no {info_path}); start one with "
                    "`opsagent sandbox up`")
    control = json.loads(info_path.read_text())["control"]
    try:
        response = httpx.post(f"{control['url']}/v1/faults", json={
            "type": fault, "target": target, "severity": severity},
            headers={"Authorization": f"Bearer {control['token']}"}, timeout=10)
    except httpx.HTTPError as exc:
        raise fail(f"the sandbox {name!r} does not answer ({exc}); is it still running?") from None
    if response.status_code != 201:
        raise fail(response.json().get("detail", response.text))
    truth = response.json()
    console.print(f"injected [bold]{truth['fault']}[/] on {', '.join(truth['components'])}")


@app.command("scenarios")
def catalogue(seed: int = 0) -> None:
    """The scenario catalogue: every fault with the targets it can hit (for this seed)."""
    from opsagent.sandbox.build import build_world

    world: World = build_world(seed)
    table = Table(title=f"scenarios (seed {seed})")
    for col in ("fault", "category", "targets"):
        table.add_column(col, overflow="fold")
    for fid, cls in sorted(FAULTS.items()):
        table.add_row(fid, cls.category, ", ".join(cls.candidates(world)))
    console.print(table)


@app.command()
def rules(out: Annotated[Path, typer.Option(help="directory for Prometheus rule files")]) -> None:
    """Write the alert and recording rules the sandbox's Prometheus loads (kube-prometheus, whole,
    and the shop's) as plain Prometheus rule files, e.g. for a deployment's Prometheus."""
    from opsagent.sandbox.prom.rules import write_rule_files

    written = write_rule_files(out)
    console.print(f"wrote {len(written)} rule files to {out}")
