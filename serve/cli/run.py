"""`opsagent run` (one incident, or a batch, in fresh sandboxes) and `opsagent approvals`
(the queue, from any terminal): the agent as an SRE or an ML engineer drives it by hand."""

from __future__ import annotations

import json
import tempfile
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.prompt import Prompt
from rich.table import Table
from rich.text import Text

from opsagent.agent.models import ApprovalDecision, PolicyName
from opsagent.sandbox.faults import FAULTS
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from opsagent.serve.cli.common import console, fail, show_step, unwind_on_sigterm
from opsagent.serve.settings import Settings, resolve_model
from opsagent.trajectories.grade import summarise
from opsagent.trajectories.splits import Split, scenarios
from opsagent.trajectories.store import TrajectoryStore

if TYPE_CHECKING:  # loads with the command that runs, not with `opsagent --help`
    from opsagent.agent.runner import Decider


class Approve(StrEnum):
    AUTO = "auto"
    PROMPT = "prompt"
    QUEUE = "queue"


approvals_app = typer.Typer(help="The approval queue: pending actions across incidents.",
                            no_args_is_help=True)


def _prompt(waiting: dict[str, Any]) -> ApprovalDecision:
    a = waiting["action"]
    console.print(Panel(f"{a['tool']} {json.dumps(a['args'])}\nrisk {waiting['risk']}; {waiting['rule']}: "
                        f"{waiting['reason']}\nwhy: {a['why']}\nrollback: {waiting['rollback']}\n"
                        f"diagnosis: {waiting['diagnosis']['summary']}",
                        title=f"approval {waiting['approval_id']}"))
    choice = Prompt.ask("approve, reject or edit?", choices=["approve", "reject", "edit"], default="approve")
    role = waiting.get("approver") or "approver"
    if choice == "reject":
        return ApprovalDecision(decision="reject", by="cli", role=role, reason=Prompt.ask("reason"))
    if choice == "edit":
        while True:
            try:
                args = json.loads(Prompt.ask("new arguments (JSON)", default=json.dumps(a["args"])))
                return ApprovalDecision(decision="edit", by="cli", role=role, args=args)
            except (json.JSONDecodeError, ValidationError) as exc:
                console.print(f"[red]{exc}[/]")
    return ApprovalDecision(decision="approve", by="cli", role=role)


def _decider(mode: str) -> Decider:
    from opsagent.agent.runner import auto_approve

    if mode == "auto":
        return auto_approve
    if mode == "prompt":
        return _prompt
    announced: set[str] = set()

    def queue(waiting: dict[str, Any]) -> None:
        if waiting["approval_id"] not in announced:
            announced.add(waiting["approval_id"])
            console.print(f"[yellow]waiting in the approval queue:[/] {waiting['approval_id']} — decide "
                          f"with `opsagent approvals decide {waiting['approval_id']} --approve` "
                          "(or --reject --reason ...)")
        return None
    return queue


def run(
    ctx: typer.Context,
    scenario: Annotated[str | None, typer.Option(
        help="FAULT or FAULT@TARGET (see `opsagent sandbox faults`)")] = None,
    seed: Annotated[int, typer.Option(help="scenario seed (with --batch: of the scenario list)")] = 0,
    policy: Annotated[PolicyName, typer.Option(help="who diagnoses")] = PolicyName.EXPERT,
    approve: Annotated[Approve, typer.Option(help="at once, asked here, or in the queue")] = Approve.AUTO,
    batch: Annotated[int, typer.Option(help="run N scenarios of --split (a seeded sample)")] = 0,
    split: Annotated[Split, typer.Option(help="the scenario split --batch draws from")] = Split.TRAIN,
    workers: Annotated[int, typer.Option(help="parallel sandboxes for --batch")] = 1,
    out: Annotated[Path | None, typer.Option(help="JSONL of episode results (--batch)")] = None,
) -> None:
    """Run one incident in a fresh sandbox, printing the investigation as it happens; or a batch."""
    from opsagent.agent.checkpoint import open_checkpointer
    from opsagent.agent.sim.episode import open_sandbox, run_episode
    from opsagent.agent.store import Store
    from opsagent.trajectories.recorder import Recorder
    from opsagent.trajectories.redact import Redactor

    settings: Settings = resolve_model(ctx.obj)
    policy = policy.value  # type: ignore[assignment]  (recorded as the plain name)
    unwind_on_sigterm()  # its sandboxes stop with it
    if batch:
        return _run_batch(settings, scenarios(split.value, batch, seed), workers, policy, out)
    if scenario is None:
        raise fail("give --scenario FAULT[@TARGET] (or --batch N)")
    fault, _, target = scenario.partition("@")
    if fault not in FAULTS:
        raise fail(f"--scenario: unknown fault type {fault!r}; see `opsagent sandbox faults`")
    spec = ScenarioSpec(faults=[FaultSpec(type=fault, target=target or None)], seed=seed)
    data_dir = settings.data_dir
    store = Store(data_dir / "agent.db")
    trajectories = TrajectoryStore(data_dir / "trajectories")
    console.print(f"[dim]starting a sandbox for {spec.id} (Kubernetes API, Elasticsearch API, Prometheus, "
                  "Alertmanager)…[/]")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            box = open_sandbox(Path(tmp) / "sandbox", spec)
        except Exception as exc:
            raise fail(f"could not start the sandbox: {exc}") from None
        try:
            with open_checkpointer(settings.agent.checkpoint_url, data_dir) as cp:
                result = run_episode(box, spec, policy, settings.agent, store, cp, _decider(approve),
                                     show_step, recorder=Recorder(trajectories, Redactor(
                                         pseudonymise_ips=settings.trajectories.pseudonymise_ips)))
                state = _final_state(cp, result.incident)
        finally:
            box.stop()
            store.close()
            trajectories.close()
    console.print(Panel(Text(state.get("report") or "(no report)"), title=f"incident {result.incident}"))
    g = result.grade
    verdict = "[green]mitigated[/]" if g.mitigated else "[red]not mitigated[/]"
    console.print(f"ground truth: {verdict}; detected={g.detected} localised={g.localised} "
                  f"analysed={g.analysed}" + (f" failure={g.failure}" if g.failure else "")
                  + f"; {g.tool_calls} tool calls, {result.seconds:.1f}s")


def _final_state(cp: Any, incident: str) -> dict[str, Any]:
    tup = cp.get_tuple({"configurable": {"thread_id": incident, "checkpoint_ns": ""}})
    return dict(tup.checkpoint["channel_values"]) if tup else {}


def _run_batch(settings: Settings, specs: list[ScenarioSpec], workers: int, policy: str,
               out: Path | None) -> None:
    from opsagent.agent.sim.batch import run_batch

    n = len(specs)
    out = out or settings.data_dir / "runs" / f"{policy}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress, out.open("a") as fh:
        task = progress.add_task(f"{policy} over {n} scenarios ({workers} sandbox(es))", total=n)
        for result in run_batch(specs, policy, settings.agent, settings.data_dir, workers,
                                    pseudonymise_ips=settings.trajectories.pseudonymise_ips):
            results.append(result)
            fh.write(result.model_dump_json() + "\n")
            fh.flush()
            progress.advance(task)
    summary = summarise([r.grade for r in results])
    table = Table(title=f"{policy}: {n} episodes")
    for key in ("detection", "localisation", "analysis", "mitigation", "failed", "steps", "tool_calls",
                "tokens", "malformed", "denied", "seconds"):
        table.add_row(key, str(summary[key]))
    console.print(table)
    console.print(f"outcomes: {summary['outcomes']}; results in {out}")


@approvals_app.command("list")
def list_approvals(ctx: typer.Context,
                   all_: Annotated[bool, typer.Option("--all", help="decided too")] = False,
                   as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Pending approvals across incidents, with the action, risk, diagnosis and rollback."""
    from opsagent.agent.store import Store

    store = Store(ctx.obj.data_dir / "agent.db")
    rows = store.approvals(None if all_ else "pending")
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} approval(s)")
    for col in ("id", "incident", "status", "action", "risk", "needs", "diagnosis"):
        table.add_column(col, overflow="fold")
    for r in rows:
        p = r["payload"]
        action = f"{p['action']['tool']} {json.dumps(p['action']['args'])}"
        table.add_row(r["id"], r["incident"], r["status"], action,
                      p["risk"], p.get("approver") or "approver", (p["diagnosis"].get("summary") or "")[:120])
    console.print(table)


@approvals_app.command("decide")
def decide(
    ctx: typer.Context,
    approval_id: str,
    approve_: Annotated[bool, typer.Option("--approve")] = False,
    reject: Annotated[bool, typer.Option("--reject")] = False,
    edit: Annotated[str | None, typer.Option(help="changed arguments as JSON (gated again)")] = None,
    reason: Annotated[str | None, typer.Option()] = None,
    by: Annotated[str, typer.Option(help="who decides")] = "cli",
    role: Annotated[str, typer.Option(help="approver | security-approver | admin")] = "approver",
) -> None:
    """Approve, reject (with --reason) or edit a pending action; the waiting incident resumes."""
    from opsagent.agent.store import PermissionDenied, Store

    if sum([approve_, reject, edit is not None]) != 1:
        raise fail("give exactly one of --approve, --reject, --edit JSON")
    try:
        args = json.loads(edit) if edit is not None else None
        decision = ApprovalDecision(decision="approve" if approve_ else "reject" if reject else "edit",
                                    by=by, role=role, reason=reason, args=args)
    except json.JSONDecodeError as exc:
        raise fail(f"--edit is not valid JSON: {exc}") from None
    except ValidationError as exc:
        raise fail("; ".join(f"{'.'.join(map(str, e['loc'])) or 'decision'}: {e['msg']}"
                              for e in exc.errors())) from None
    store = Store(ctx.obj.data_dir / "agent.db")
    try:
        record = store.decide(approval_id, decision)
    except KeyError:
        raise fail(f"no approval {approval_id!r}; see `opsagent approvals list`") from None
    except (ValueError, PermissionDenied) as exc:
        raise fail(str(exc)) from None
    console.print(f"{record['id']}: {record['status']} by {by}")
