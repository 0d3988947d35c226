"""`opsagent train sft|dpo` and `opsagent model list|show|import-base`: the ML engineer's side
of the checkpoint lifecycle."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from serve.settings import Settings

console = Console()
train_app = typer.Typer(help="Train the next checkpoint: SFT, then DPO (TRL + PEFT LoRA).",
                        no_args_is_help=True)
model_app = typer.Typer(help="Checkpoints: list, show, import a base, serve.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/] {message}")
    return typer.Exit(code=2)


def registry(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from train.registry import Registry

    settings: Settings = ctx.obj
    return Registry(settings.data_dir / "models")


def _train(ctx: typer.Context, stage: str, config: Path | None, base: str | None, dataset: Path | None,
           max_steps: int | None, learning_rate: float | None, checkpoint_id: str | None) -> None:
    from train.config import StageConfig
    from train.trainer import train

    overrides = {"stage": stage, "base": base, "dataset": dataset, "max_steps": max_steps,
                 "learning_rate": learning_rate}
    try:
        cfg = StageConfig.load(config, **overrides) if config else StageConfig.model_validate(
            {k: v for k, v in overrides.items() if v is not None})
    except FileNotFoundError as exc:
        raise _fail(f"--config: {exc}") from None
    except ValidationError as exc:
        raise _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    if cfg.stage != stage:
        raise _fail(f"the config is for stage {cfg.stage!r}, not {stage!r}")
    if not cfg.dataset.is_dir():
        raise _fail(f"dataset: {cfg.dataset} is not a dataset directory; make one with "
                    "`opsagent trajectories export`")
    reg = registry(ctx)
    try:
        checkpoint = train(cfg, reg, checkpoint_id)
    except KeyError as exc:
        raise _fail(f"base: {exc.args[0]}") from None
    m = checkpoint.train_metrics
    console.print(f"[green]{checkpoint.id}[/]: {m['steps']} steps, loss {m['first_loss']:.4f} → "
                  f"{m['last_loss']:.4f}, {m['tokens_per_s']:,.0f} tokens/s on {m['device']}; "
                  f"adapter in {checkpoint.path}")


ConfigOpt = Annotated[Path | None, typer.Option(help="stage config YAML (train/configs/)")]


@train_app.command()
def sft(ctx: typer.Context, config: ConfigOpt = None, base: str | None = None, dataset: Path | None = None,
        max_steps: int | None = None, learning_rate: float | None = None, id_: Annotated[
            str | None, typer.Option("--id", help="checkpoint id (default sft-<time>)")] = None) -> None:
    """Supervised fine-tuning on exported successes, assistant tokens only."""
    _train(ctx, "sft", config, base, dataset, max_steps, learning_rate, id_)


@train_app.command()
def dpo(ctx: typer.Context, config: ConfigOpt = None, base: str | None = None, dataset: Path | None = None,
        max_steps: int | None = None, learning_rate: float | None = None, id_: Annotated[
            str | None, typer.Option("--id", help="checkpoint id (default dpo-<time>)")] = None) -> None:
    """Preference optimisation from the SFT result on exported pairs."""
    _train(ctx, "dpo", config, base, dataset, max_steps, learning_rate, id_)


@model_app.command("list")
def list_models(ctx: typer.Context) -> None:
    reg = registry(ctx)
    current = reg.current()
    table = Table(title="checkpoints")
    for col in ("", "id", "kind", "parent", "created", "loss", "held-out mitigation"):
        table.add_column(col)
    for c in reg.list():
        m = c.train_metrics
        loss = f"{m['first_loss']:.3f} → {m['last_loss']:.3f}" if m.get("first_loss") is not None else "-"
        table.add_row("*" if current and current.id == c.id else "", c.id, c.kind, c.parent or "-",
                      dt.datetime.fromtimestamp(c.created, dt.UTC).strftime("%Y-%m-%d %H:%M"), loss,
                      str(c.eval_metrics.get("mitigation", "-")))
    console.print(table)


@model_app.command()
def show(ctx: typer.Context, checkpoint_id: str) -> None:
    """A checkpoint and its lineage, as JSON."""
    reg = registry(ctx)
    try:
        chain = reg.lineage(checkpoint_id)
    except KeyError as exc:
        raise _fail(str(exc.args[0])) from None
    typer.echo(json.dumps({"checkpoint": chain[0].model_dump(mode="json"),
                           "lineage": [c.id for c in chain]}, indent=2))


@model_app.command("import-base")
def import_base_cmd(ctx: typer.Context, name: str, current: Annotated[
        bool, typer.Option(help="make it the current checkpoint")] = False) -> None:
    """Import a base model without a hub: `tiny` or `gemma3-270m`."""
    from train.base_models import NAMES, import_base

    if name not in NAMES:
        raise _fail(f"unknown base {name!r}; choose one of {', '.join(NAMES)}")
    reg = registry(ctx)
    with console.status(f"importing {name}"):
        checkpoint = import_base(name, reg)
    if current:
        reg.set_current(checkpoint.id)
    console.print(f"[green]{checkpoint.id}[/] in {checkpoint.path}" + (" (current)" if current else ""))
