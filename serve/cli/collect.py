"""`opsagent trajectories collect`: the data engine. The teacher (expert), and when asked the
perturbed teacher on the same worlds (preference pairs) and the current checkpoint, through the
whole graph in parallel sandboxes with real Prometheus; every run graded and stored, a share of
them with the input reworded (chat questions in English and Chinese, paraphrased alerts)."""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from opsagent.serve.cli.common import console, fail, unwind_on_sigterm
from opsagent.serve.cli.trajectories import served
from opsagent.serve.settings import Settings, resolve_model
from opsagent.trajectories.grade import summarise
from opsagent.trajectories.splits import Split, scenarios

if TYPE_CHECKING:  # loads with the command that runs, not with `opsagent --help`
    from opsagent.agent.sim.batch import Job

SHOWN = ("episodes", "detection", "localisation", "analysis", "mitigation", "success", "failed",
         "harmful_executed", "steps", "tool_calls")


def plan(specs: list[Any], perturbed: float, augmented: float, checkpoint: bool, seed: int) -> list[Job]:
    """One job per scenario: the teacher; the perturbed teacher beside it for a share of them;
    the checkpoint when asked; the input reworded for a share (the same variant for the whole job,
    so a pair still differs only where the policies do)."""
    from opsagent.agent.sim.augment import KINDS
    from opsagent.agent.sim.batch import Job

    rng = random.Random(seed)
    jobs = []
    for spec in specs:
        policies = ["expert", *(["perturbed"] if rng.random() < perturbed else []),
                    *(["llm"] if checkpoint else [])]
        variant = rng.choice(KINDS) if rng.random() < augmented else None
        jobs.append(Job(spec=spec, policies=policies, variant=variant))
    return jobs


def collect_cmd(
    ctx: typer.Context,
    split: Annotated[Split, typer.Option(help="the scenario split to draw from")] = Split.TRAIN,
    episodes: Annotated[int, typer.Option(min=1, help="scenarios to run (each by the teacher)")] = 60,
    workers: Annotated[int, typer.Option(min=1, help="parallel sandboxes")] = 2,
    perturbed: Annotated[float, typer.Option(min=0, max=1, help="share of scenarios also run by the "
                                             "perturbed teacher (preference pairs)")] = 0.5,
    augmented: Annotated[float, typer.Option(min=0, max=1, help="share of scenarios with the input "
                                             "reworded (chat EN/ZH, paraphrased alerts)")] = 0.3,
    checkpoint: Annotated[str | None, typer.Option(help="also run this checkpoint (or current), "
                                                   "served by vLLM")] = None,
    server_url: Annotated[str | None, typer.Option(help="a running vLLM for --checkpoint")] = None,
    seed: Annotated[int, typer.Option(help="which scenarios, pairs and variants")] = 0,
) -> None:
    """Collect graded trajectories into the store (then `opsagent trajectories export`)."""
    from opsagent.agent.sim.batch import run_jobs

    settings: Settings = resolve_model(ctx.obj)
    # Pages of simulated incidents would only bury the progress bar (workers inherit this).
    logging.getLogger("opsagent.agent.notify").setLevel(logging.ERROR)
    try:
        specs = scenarios(split.value, episodes, seed)
    except ValueError as exc:
        raise fail(f"--split: {exc}") from None
    jobs = plan(specs, perturbed, augmented, checkpoint is not None, seed)
    unwind_on_sigterm()  # its worker sandboxes (and vLLM) stop with it
    agent, server = settings.agent, None
    if checkpoint is not None:
        name, _, agent, server = served(settings, checkpoint, server_url)
        if server is not None:
            with console.status(f"starting vLLM for {name}"):
                server.start()
            agent = agent.served_by(server.url)
    total = sum(len(j.policies) for j in jobs)
    grades: dict[str, list] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    started = time.perf_counter()
    try:
        with Progress(*columns, console=console) as progress:
            title = f"{split.value}: {len(jobs)} scenarios, {total} runs, {workers} sandbox(es)"
            task = progress.add_task(title, total=total)
            for result in run_jobs(jobs, agent, settings.data_dir, workers,
                                   pseudonymise_ips=settings.trajectories.pseudonymise_ips):
                grades.setdefault(result.policy, []).append(result.grade)
                progress.advance(task)
    finally:
        if server is not None:
            server.stop()
    minutes = (time.perf_counter() - started) / 60
    table = Table(title=f"{total} graded runs in {minutes:.1f} min ({total / minutes:.0f}/min)")
    table.add_column("policy", no_wrap=True, min_width=9)
    for key in SHOWN:
        table.add_column(key, justify="right")
    for policy, rows in sorted(grades.items()):
        summary = summarise(rows)
        table.add_row(policy, *(str(summary.get(k)) for k in SHOWN))
    console.print(table)
    console.print(f"stored in {settings.data_dir / 'trajectories'}; "
                  "next: `opsagent trajectories export --out DIR`")
