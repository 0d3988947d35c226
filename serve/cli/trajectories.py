"""`opsagent trajectories list|show|export` and `opsagent eval`: the ML engineer's side of the
loop — what was recorded, one trajectory read as a person would, datasets for TRL, and a
policy's task rates on a named split, side by side with others."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from opsagent.agent.config import GuidedMode
from opsagent.agent.models import PolicyName
from opsagent.serve.cli.common import console, fail, model_registry, server_config, unwind_on_sigterm
from opsagent.serve.settings import Settings, resolve_model
from opsagent.trajectories.eval_ledger import ConditionsChanged, EvalLedger, LedgerEpisode
from opsagent.trajectories.grade import PAIRED, TASKS, by_fault, paired, summarise
from opsagent.trajectories.models import Grade
from opsagent.trajectories.splits import EVAL_SPLITS, Split, scenarios
from opsagent.trajectories.store import TrajectoryStore

app = typer.Typer(help="Recorded trajectories: list, show, export to SFT/DPO datasets.", no_args_is_help=True)


def _store(ctx: typer.Context) -> TrajectoryStore:
    return TrajectoryStore(ctx.obj.data_dir / "trajectories")


def _filters(
    policy: str | None, fault: str | None, outcome: str | None, checkpoint: str | None
) -> dict[str, Any]:
    return {
        k: v
        for k, v in {"policy": policy, "fault": fault, "outcome": outcome, "checkpoint": checkpoint}.items()
        if v is not None
    }


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    policy: str | None = None,
    fault: str | None = None,
    outcome: str | None = None,
    checkpoint: str | None = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """Newest first, filtered by policy, fault, outcome, checkpoint."""
    store = _store(ctx)
    filters = _filters(policy, fault, outcome, checkpoint)
    rows = store.list(limit=limit, **filters)
    table = Table(title=f"{len(rows)} of {store.count(**filters)} trajectories")
    for col in (
        "id",
        "created",
        "policy",
        "fault",
        "outcome",
        "mitigated",
        "steps",
        "tool calls",
        "complete",
    ):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["id"],
            dt.datetime.fromtimestamp(r["created"], dt.UTC).strftime("%Y-%m-%d %H:%M"),
            r["policy"],
            r["fault"] or "-",
            r["outcome"] or "-",
            str(r["mitigated"]),
            str(r["steps"]),
            str(r["tool_calls"]),
            "yes" if r["complete"] else "no",
        )
    console.print(table)


@app.command()
def show(
    ctx: typer.Context, trajectory_id: str, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """One trajectory: input, every message and tool result, decisions, outcome and grade."""
    record = _store(ctx).get(trajectory_id)
    if record is None:
        raise fail(f"no trajectory {trajectory_id!r}; see `opsagent trajectories list`")
    if as_json:
        typer.echo(record.model_dump_json(indent=2))
        return
    where = record.environment.scenario or record.environment.cluster
    console.print(
        Panel(
            Text(f"{record.policy} on {where}; outcome {record.outcome}; complete {record.complete}"),
            title=record.id,
        )
    )
    for m in record.messages:
        if m["role"] == "system":
            continue
        body = m.get("content") or ""
        for call in m.get("tool_calls") or []:
            body += f"\n→ {call['function']['name']}({call['function']['arguments']})"
        style = {"user": "bold", "assistant": "cyan", "tool": "dim"}.get(m["role"], "")
        who = f"[{m['role']}{' ' + m['name'] if m.get('name') else ''}] "
        console.print(Text(who, style=style), Text(body[:2000]))
    for d in record.decisions:
        console.print(Text(f"gate {d['verdict']} {d['action']['tool']} [{d['rule']}]"))
    for e in record.executed:
        console.print(Text(f"executed {e['tool']} {json.dumps(e['args'])} → {e['status']}"))
    if record.grade:
        console.print(Text(f"grade: {record.grade.model_dump(exclude_defaults=True)}"))


@app.command()
def label(
    ctx: typer.Context,
    trajectory_id: str,
    mitigated: Annotated[bool, typer.Option("--mitigated/--not-mitigated", help="did it recover")],
    correct: Annotated[bool, typer.Option("--correct/--wrong", help="was the diagnosis right")],
    component: Annotated[list[str] | None, typer.Option(help="the real faulty object(s)")] = None,
    note: str = "",
    by: str = "cli",
) -> None:
    """Record an SRE's resolution of a real incident; grading uses it."""
    from opsagent.trajectories.recorder import Recorder

    store = _store(ctx)
    if store.get(trajectory_id) is None:
        raise fail(f"no trajectory {trajectory_id!r}; see `opsagent trajectories list`")
    resolution = {
        "mitigated": mitigated,
        "correct_diagnosis": correct,
        "components": component or [],
        "note": note,
        "by": by,
        "at": time.time(),
    }
    graded = Recorder(store).label(trajectory_id, resolution)
    grade = graded.grade.model_dump(exclude_defaults=True) if graded.grade else {}
    console.print(f"{trajectory_id}: labelled by {by}; grade {grade}")


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="output directory")],
    policy: str | None = None,
    fault: str | None = None,
    checkpoint: str | None = None,
    max_chars: Annotated[int, typer.Option(min=1000, help="length bound without --tokenizer-of")] = 60_000,
    tokenizer_of: Annotated[str | None, typer.Option(
        help="a checkpoint (or current) whose base tokenizer measures rows (cards, --max-tokens)")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=256, help="length bound, with --tokenizer-of")] = None,
    profile: Annotated[str | None, typer.Option(
        help="prompt profile of the rows (full, compact, compact-symptom); default: --tokenizer-of's own, "
             "else full")] = None,
    allow_denied: bool = False,
    renamed_service: Annotated[float, typer.Option(
        min=0, max=1, help="share of one-service incidents also exported with that service renamed "
                           "(its culprit can be read only from the evidence)")] = 0.0,
    hand_overs: Annotated[bool, typer.Option(
        help="also the teacher's right diagnoses handed to a human with no remedy proposed (the fault "
             "types it has no safe automatic fix for)")] = False,
    min_per_fault: Annotated[int, typer.Option(
        min=0, help="near-duplicates taken back until each fault type has this many rows")] = 0,
) -> None:
    """SFT and DPO datasets (Hugging Face on disk + Parquet + data cards) from the store. Runs
    of evaluation scenarios are left out; a row with anything secret-shaped fails the export.
    Rows are shown as the prompt profile shows them (system prompt, tools, output budget)."""
    from opsagent.agent.profiles import profile as named_profile
    from opsagent.trajectories.clean import SecretLeak
    from opsagent.trajectories.export import Filters, export

    if max_tokens is not None and tokenizer_of is None:
        raise fail("--max-tokens needs --tokenizer-of (the base model whose tokens are counted)")
    tokenizer, shown = None, named_profile("full")
    if tokenizer_of is not None:
        from opsagent.train.trainer import load_tokenizer

        registry = model_registry(ctx.obj)
        try:
            of = registry.get(tokenizer_of)
            tokenizer = load_tokenizer(registry.base_dir(of))
            shown = registry.prompt_profile(of)
        except KeyError as exc:
            raise fail(f"--tokenizer-of: {exc.args[0]}") from None
    if profile is not None:
        try:
            shown = named_profile(profile, shown.tokenizer)
        except ValueError as exc:
            raise fail(f"--profile: {exc}") from None
    store = _store(ctx)
    records = list(store.iter(**_filters(policy, fault, None, checkpoint)))
    if not records:
        raise fail("no trajectories match; record some with `opsagent trajectories collect`")
    try:
        filters = Filters(max_chars=max_chars, max_tokens=max_tokens, allow_denied=allow_denied,
                          renamed_service=renamed_service, hand_overs=hand_overs, min_per_fault=min_per_fault)
        counts = export(records, out, filters, tokenizer,
                        rewrite=shown.rewrite, profile=shown.name)
    except SecretLeak as exc:
        raise fail(str(exc)) from None
    taken = counts["near-duplicates taken back"]
    back = f"; {taken} near-duplicates taken back" if taken else ""
    console.print(
        f"{counts['sft']} SFT rows, {counts['dpo']} DPO pairs from {counts['trajectories']} "
        f"trajectories (dropped: {counts['dropped']}{back}) → {out}"
    )


COLUMNS = (*TASKS, "localisation@1", "localisation@3", "failed", "validity", "denied", "harmful_proposed",
           "harmful_executed", "steps", "tool_calls", "tokens", "seconds")


def eval_cmd(
    ctx: typer.Context,
    policy: Annotated[list[PolicyName] | None, typer.Option(help="repeat to compare")] = None,
    checkpoint: Annotated[
        list[str] | None, typer.Option(help="checkpoint id (or current), served by vLLM")
    ] = None,
    against: Annotated[str | None, typer.Option(help="a checkpoint to compare with (e.g. current)")] = None,
    splits: Annotated[list[Split] | None, typer.Option(
        "--scenarios", help="a split; repeat for several (default: the three held-out splits)")] = None,
    limit: Annotated[list[str] | None, typer.Option(
        help="at most N scenarios of each split, or SPLIT=N for one split (repeat: `--limit 40 --limit "
        "held-out-targets=20`)")] = None,
    workers: int = 2,
    out: Annotated[Path | None, typer.Option(
        help="directory for the JSON table, the PNG plot and the graded episodes; given again, only the "
        "episodes not there yet run")] = None,
    server_url: Annotated[str | None, typer.Option(
        help="a running vLLM (/v1 URL, e.g. `opsagent model serve`) serving the checkpoints' base; "
        "their adapters are loaded into it; default: start one per checkpoint")] = None,
    guided: Annotated[GuidedMode | None, typer.Option(
        help="vLLM guided decoding for the checkpoints: retry (a malformed answer's retry is held to "
        "the Diagnosis schema), always (tool arguments and every answer held to their schemas), off; "
        "default: agent.llm.guided")] = None,
) -> None:
    """Each policy over held-out splits: task rates (trajectories.grade), failures, safety and
    cost, one row per policy and split (in distribution, held-out targets, held-out faults).
    Each graded episode is kept in OUT/episodes.jsonl as it finishes: run again with the same
    --out (after a stop, or with a larger --limit) and only the episodes not there yet run."""
    from opsagent.agent.sim.batch import run_splits

    settings: Settings = resolve_model(ctx.obj)
    # each once, in order: --against may also be among the --checkpoint ones
    checkpoints = list(dict.fromkeys([*(checkpoint or []), *([against] if against else [])]))
    if not policy and not checkpoints:
        raise fail("give --policy (expert, llm, oracle) or --checkpoint [--against]")
    names = [s.value for s in splits or EVAL_SPLITS]
    unwind_on_sigterm()  # its sandboxes and vLLM stop with it
    limits = _limits(limit or [], names)
    specs = {name: scenarios(name, limits[name]) for name in names}
    fault_types = {name: {s.id: [f.type for f in s.faults] for s in specs[name]} for name in names}
    out = out or settings.data_dir / "eval" / f"eval-{time.strftime('%Y%m%d-%H%M%S')}"
    ledger = EvalLedger(out / "episodes.jsonl")
    results: dict[str, dict[str, dict[str, Any]]] = {}
    graded: dict[str, dict[str, dict[str, Grade]]] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    runs = [(p.value, p.value, settings.agent, None) for p in policy or []]
    for ref in checkpoints:
        runs.append(served(settings, ref, server_url))
    checkpoint_ids = {name for name, _, _, _ in runs[len(policy or []):]}
    for name, p, agent, server in runs:
        if guided is not None and p == "llm":
            agent = agent.model_copy(update={"llm": agent.llm.model_copy(update={"guided": guided})})
        # merged weights compute otherwise than an adapter on its base (rounding): not alike
        how = {"served": "merged"} if server is not None and not server.lora else {}
        conditions = {**_conditions(settings, name if name in checkpoint_ids else None, p, agent), **how}
        try:
            had = ledger.done(name, conditions)
        except ConditionsChanged as exc:
            raise fail(str(exc)) from None
        done = {split: {s.id: had[(split, s.id)] for s in specs[split] if (split, s.id) in had}
                for split in names}
        todo = {split: [s for s in specs[split] if (split, s.id) not in had] for split in names}
        if any(done.values()):
            console.print(f"{name}: {sum(map(len, done.values()))} episodes already in {ledger.path}")
        try:
            if server is not None and any(todo.values()):
                with console.status(f"starting vLLM for {name}"):
                    server.start()
                agent = agent.served_by(server.url)
            with Progress(*columns, console=console) as progress:
                tasks = {split: progress.add_task(f"{name} on {split}", total=len(specs[split]),
                                                  completed=len(done[split])) for split in names}
                for split, result in run_splits({k: v for k, v in todo.items() if v}, p, agent,
                                                settings.data_dir, workers,
                                                settings.trajectories.pseudonymise_ips):
                    ledger.add(LedgerEpisode(name=name, split=split, scenario=result.scenario,
                                             conditions=conditions, grade=result.grade))
                    done[split][result.scenario] = result.grade
                    progress.advance(tasks[split])
                graded[name] = done
                results[name] = {split: {**summarise(list(done[split].values())),
                                         "by_fault": by_fault(done[split], fault_types[split])}
                                 for split in names}
        finally:
            if server is not None:
                server.stop()
        if name in checkpoint_ids:  # with how it was measured: promotion compares like with like
            from opsagent.train.promote import measured_under

            measured = {**measured_under(p, agent), **how}
            model_registry(settings).record_eval(
                name, {f"{split}@{len(specs[split])}": {**results[name][split], "conditions": measured}
                       for split in names})
    # each run scenario by scenario against --against (else the first run): lost / won per task
    reference = against or runs[0][0]
    pairs = {name: {split: paired(graded[name][split], graded[reference][split]) for split in names}
             for name in graded if name != reference}
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(
        {"splits": {n: len(specs[n]) for n in names}, "policies": results,
         "paired": {"reference": reference, "runs": pairs} if pairs else None}, indent=2) + "\n")
    _plot(results, names, out / "eval.png")
    table = Table(title="; ".join(f"{n}: {len(specs[n])} scenarios" for n in names))
    for col in ("policy", "split", *COLUMNS):
        table.add_column(col, justify="left" if col in ("policy", "split") else "right")
    for p, by_split in results.items():
        for split, summary in by_split.items():
            table.add_row(p, split, *(str(summary.get(c)) for c in COLUMNS))
    console.print(table)
    if pairs:
        console.print(_paired_table(pairs, reference))
    console.print(f"wrote {out / 'eval.json'} and {out / 'eval.png'}")


def _paired_table(pairs: dict[str, dict[str, dict[str, Any]]], reference: str) -> Table:
    table = Table(title=f"scenario by scenario against {reference}: runs lost / won (sign test p)")
    for col in ("policy", "split", "scenarios", *PAIRED, "outcome changed"):
        table.add_column(col, justify="left" if col in ("policy", "split") else "right")
    for name, by_split in pairs.items():
        for split, p in by_split.items():
            changed = (f"{p[t]['lost']} / {p[t]['won']} ({p[t]['p']:.2g})" for t in PAIRED)
            table.add_row(name, split, str(p["scenarios"]), *changed, str(p["outcome_changed"]))
    return table


def _limits(given: list[str], names: list[str]) -> dict[str, int | None]:
    """Each split's scenario limit from `N` (every split) and `SPLIT=N` (that one; it wins)."""
    every: int | None = None
    own: dict[str, int] = {}
    for value in given:
        split, _, count = value.rpartition("=")
        if not count.isdigit() or int(count) < 1:
            raise fail(f"--limit {value!r}: give N or SPLIT=N with N ≥ 1")
        if not split:
            every = int(count)
        elif split not in names:
            raise fail(f"--limit {value!r}: {split!r} is not a split evaluated here ({', '.join(names)})")
        else:
            own[split] = int(count)
    return {name: own.get(name, every) for name in names}


def _conditions(settings: Settings, checkpoint_id: str | None, policy: str, agent: Any) -> dict[str, Any]:
    """What an episode's grade depends on besides the scenario: a kept episode counts again only
    under the same (a retrained checkpoint under the same id has other weights)."""
    from opsagent.train.promote import measured_under
    from opsagent.train.registry import weights_fingerprint

    weights = (weights_fingerprint(model_registry(settings).get(checkpoint_id))
               if checkpoint_id is not None else None)
    return {**measured_under(policy, agent), "weights": weights,
            "profile": agent.profile.model_dump(mode="json", exclude={"tokenizer"})}  # tokenizer: a path


def served(settings: Settings, ref: str, server_url: str | None) -> tuple[str, str, Any, Any]:
    """(name, policy, agent config, server to start) for a checkpoint: the llm policy on a vLLM
    server of its own, or on the running one at `server_url` (its adapter loaded there)."""
    from opsagent.train.serving import load_adapter_at, serve, served_models

    registry = model_registry(settings)
    try:
        checkpoint = registry.get(ref)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    shown = registry.prompt_profile(checkpoint)  # the prompt it was trained with
    if server_url is not None:
        try:
            key = settings.agent.llm.api_key.get_secret_value()
            if checkpoint.id not in served_models(server_url, key):
                load_adapter_at(server_url, checkpoint.id, checkpoint.path, key)
        except (RuntimeError, httpx.HTTPError, KeyError, ValueError) as exc:
            raise fail(f"--server-url: {exc}") from None
        return checkpoint.id, "llm", settings.agent.served_by(server_url, checkpoint.id, shown), None
    log = settings.data_dir / f"vllm-{checkpoint.id}.log"
    server = serve(registry, checkpoint, server_config(settings), log, own=True)  # merged per settings.vllm
    return checkpoint.id, "llm", settings.agent.served_by(model=checkpoint.id, profile=shown), server


def _plot(results: dict[str, dict[str, dict[str, Any]]], splits: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(splits), figsize=(5 * len(splits), 3.5), dpi=120, squeeze=False)
    width = 0.8 / max(1, len(results))
    for ax, split in zip(axes[0], splits, strict=True):
        for i, (policy, by_split) in enumerate(results.items()):
            values = [by_split[split].get(t) or 0 for t in TASKS]
            ax.bar([x + i * width for x in range(len(TASKS))], values, width, label=policy)
        ax.set_xticks([x + width * (len(results) - 1) / 2 for x in range(len(TASKS))], TASKS, fontsize=8)
        ax.set_ylim(0, 1.25)
        ax.set_ylabel("rate")
        ax.set_title(split)
        ax.legend(loc="upper center", ncol=len(results), frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
