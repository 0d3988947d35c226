"""`opsagent train sft|dpo` and `opsagent model list|show|import-base|export|import|serve|promote`:
the ML engineer's side of the checkpoint lifecycle."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
import yaml
from pydantic import ValidationError
from rich.table import Table

from opsagent.serve.cli.common import (
    console,
    fail,
    model_registry,
    server_config,
    unwind_on_sigterm,
)
from opsagent.serve.settings import Settings

train_app = typer.Typer(
    help="Train the next checkpoint: SFT, then DPO (TRL + PEFT LoRA).", no_args_is_help=True
)
model_app = typer.Typer(
    help="Checkpoints: list, show, import a base, bundle for another machine, serve, promote.",
    no_args_is_help=True,
)


def _train(
    ctx: typer.Context,
    stage: str,
    config: Path | None,
    base: str | None,
    dataset: Path | None,
    max_steps: int | None,
    learning_rate: float | None,
    checkpoint_id: str | None,
) -> None:
    from opsagent.train.config import load_stage, stage_config
    from opsagent.train.optimizer_state import NoOptimizerState
    from opsagent.train.trainer import train

    overrides = {
        "base": base,
        "dataset": dataset,
        "max_steps": max_steps,
        "learning_rate": learning_rate,
    }
    try:
        if config is not None:
            declared = (yaml.safe_load(config.read_text()) or {}).get("stage", stage)
            if declared != stage:
                raise fail(f"the config is for stage {declared!r}, not {stage!r}")
            cfg = load_stage(config, **overrides)
        else:
            cfg = stage_config({"stage": stage, **{k: v for k, v in overrides.items() if v is not None}})
    except FileNotFoundError as exc:
        raise fail(f"--config: {exc}") from None
    except ValidationError as exc:
        # The stage tag leads each location (the discriminated union's branch): name the field alone.
        errors = [(e["loc"][1:] if e["loc"][:1] == (stage,) else e["loc"], e["msg"]) for e in exc.errors()]
        raise fail("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors)) from None
    if not cfg.dataset.is_dir():
        raise fail(
            f"dataset: {cfg.dataset} is not a dataset directory; make one with `opsagent trajectories export`"
        )
    reg = model_registry(ctx.obj)
    try:
        checkpoint = train(cfg, reg, checkpoint_id)
    except KeyError as exc:
        raise fail(f"base: {exc.args[0]}") from None
    except NoOptimizerState as exc:
        raise fail(str(exc)) from None
    m = checkpoint.train_metrics
    console.print(
        f"[green]{checkpoint.id}[/]: {m['steps']} steps, loss {m['first_loss']:.4f} → "
        f"{m['last_loss']:.4f}, {m['tokens_per_s']:,.0f} tokens/s on {m['device']}; "
        f"adapter in {checkpoint.path}"
    )


ConfigOpt = Annotated[Path | None, typer.Option(help="stage config YAML (train/configs/)")]


def _stage_command(stage: str, summary: str):  # type: ignore[no-untyped-def]
    def command(
        ctx: typer.Context,
        config: ConfigOpt = None,
        base: str | None = None,
        dataset: Path | None = None,
        max_steps: int | None = None,
        learning_rate: float | None = None,
        id_: Annotated[
            str | None, typer.Option("--id", help="checkpoint id (default: <stage>-<time>)")
        ] = None,
    ) -> None:
        _train(ctx, stage, config, base, dataset, max_steps, learning_rate, id_)

    command.__doc__ = summary
    return command


train_app.command("sft")(
    _stage_command("sft", "Supervised fine-tuning on exported successes, assistant tokens only.")
)
train_app.command("dpo")(
    _stage_command("dpo", "Preference optimisation from the SFT result on exported pairs.")
)


@model_app.command("list")
def list_models(ctx: typer.Context) -> None:
    from opsagent.train.promote import score

    reg = model_registry(ctx.obj)
    current = reg.current()
    table = Table(title="checkpoints")
    for col in ("", "id", "kind", "parent", "created", "loss", "held-out task score"):
        table.add_column(col)
    for c in reg.list():
        m = c.train_metrics
        loss = f"{m['first_loss']:.3f} → {m['last_loss']:.3f}" if m.get("first_loss") is not None else "-"
        held = next((k for k in c.eval_metrics if k.startswith("held-out@")), None)  # promotion's suite
        table.add_row(
            "*" if current and current.id == c.id else "",
            c.id,
            c.kind,
            c.parent or "-",
            dt.datetime.fromtimestamp(c.created, dt.UTC).strftime("%Y-%m-%d %H:%M"),
            loss,
            f"{score(c.eval_metrics[held]):.3f} ({held})" if held else "-",
        )
    console.print(table)


@model_app.command()
def show(ctx: typer.Context, checkpoint_id: str) -> None:
    """A checkpoint and its lineage, as JSON."""
    reg = model_registry(ctx.obj)
    try:
        chain = reg.lineage(checkpoint_id)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    typer.echo(
        json.dumps(
            {"checkpoint": chain[0].model_dump(mode="json"), "lineage": [c.id for c in chain]}, indent=2
        )
    )


@model_app.command("import-base")
def import_base_cmd(
    ctx: typer.Context,
    name: str,
    current: Annotated[bool, typer.Option(help="make it the current checkpoint")] = False,
) -> None:
    """Import a base model without a hub: `tiny` or `gemma3-270m`."""
    from opsagent.train.base_models import NAMES, import_base

    if name not in NAMES:
        raise fail(f"unknown base {name!r}; choose one of {', '.join(NAMES)}")
    reg = model_registry(ctx.obj)
    with console.status(f"importing {name}"):
        checkpoint = import_base(name, reg)
    if current:
        reg.set_current(checkpoint.id)
    console.print(f"[green]{checkpoint.id}[/] in {checkpoint.path}" + (" (current)" if current else ""))


@model_app.command("export")
def export_cmd(
    ctx: typer.Context,
    checkpoint_id: Annotated[str, typer.Argument(help="id or current")],
    out: Annotated[Path, typer.Option(help="folder to write <id>/ into (one per trained checkpoint)")],
    optimizer: Annotated[bool, typer.Option(
        help="also its AdamW moments (about twice the adapter's size), so a stage with "
             "carry_optimizer: true can continue it where it is imported")] = False,
) -> None:
    """Bundle a trained checkpoint (its adapter, registry entry, prompt profile and trained
    ancestors) for another machine or a commit; `opsagent model import` registers it there."""
    from opsagent.train.bundle import export_bundle

    reg = model_registry(ctx.obj)
    try:
        folders = export_bundle(reg, reg.get(checkpoint_id).id, out, optimizer=optimizer)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    for folder in folders:
        console.print(f"[green]{folder.name}[/] in {folder}")


@model_app.command("import")
def import_cmd(
    ctx: typer.Context,
    bundle: Annotated[Path, typer.Argument(help="a folder written by `opsagent model export`")],
) -> None:
    """Register a bundled checkpoint (its base must be imported here first)."""
    from opsagent.train.bundle import import_bundle

    try:
        checkpoint = import_bundle(model_registry(ctx.obj), bundle)
    except ValueError as exc:
        raise fail(str(exc)) from None
    console.print(f"[green]{checkpoint.id}[/] ({checkpoint.kind}, profile {checkpoint.profile}) in "
                  f"{checkpoint.path}")


@model_app.command("serve")
def serve_cmd(
    ctx: typer.Context,
    checkpoint_id: Annotated[str, typer.Argument(help="id or current")] = "current",
    port: int = 8000,
) -> None:
    """Serve a checkpoint with vLLM (OpenAI API, tool calling, LoRA) until Ctrl-C."""
    from opsagent.train.serving import serve

    reg = model_registry(ctx.obj)
    try:
        checkpoint = reg.get(checkpoint_id)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    settings: Settings = ctx.obj
    unwind_on_sigterm()  # vLLM stops with it
    server = serve(reg, checkpoint, server_config(settings, port), settings.data_dir / "vllm.log")
    with console.status(f"starting vLLM for {checkpoint.id} (log: {server.log_path})"):
        try:
            server.start()
        except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
            raise fail(str(exc)) from None
    console.print(
        f"serving {checkpoint.id} at {server.url} (models: {', '.join(server.models())}); Ctrl-C stops"
    )
    try:
        while server.healthy():
            time.sleep(5)
        raise fail(f"vLLM stopped; its log:\n{server.log_tail()}")
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@model_app.command()
def promote(
    ctx: typer.Context,
    checkpoint_id: str,
    split: Annotated[str, typer.Option(
        help="eval key to compare, e.g. held-out@10, or confirm@117 for a final candidate; "
        "default: the first held-out one")] = "",
    server_url: Annotated[str | None, typer.Option(
        help="a running vLLM (its /v1 URL) to load the promoted adapter into, without a restart")] = None,
) -> None:
    """Make a checkpoint current if its held-out figures beat the current one's, safely."""
    from opsagent.train.promote import held_out_verdict
    from opsagent.train.serving import load_adapter_at, served_models

    reg = model_registry(ctx.obj)
    try:
        candidate, current = reg.get(checkpoint_id), reg.current()
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    try:
        compared, verdict = held_out_verdict(candidate, current, split)
    except ValueError as exc:
        raise fail(f"{exc}; run `opsagent loop` or evaluate it first") from None
    if verdict.promote:
        reg.set_current(checkpoint_id)
    console.print(
        ("[green]promoted[/] " if verdict.promote else "[red]refused[/] ") + f"on {compared}: "
        + "; ".join(verdict.reasons)
    )
    if not verdict.promote:
        raise typer.Exit(code=1)
    if server_url is not None and candidate.kind != "base":
        key = ctx.obj.agent.llm.api_key.get_secret_value()
        try:
            if candidate.id not in served_models(server_url, key):
                load_adapter_at(server_url, candidate.id, candidate.path, key)
        except (RuntimeError, httpx.HTTPError) as exc:
            raise fail(f"promoted, but --server-url could not load it: {exc}") from None
        console.print(f"{server_url} serves {candidate.id}")


def loop(
    ctx: typer.Context,
    base: Annotated[str, typer.Option(help="base checkpoint id (tiny or gemma3-270m are imported)")] = "tiny",
    episodes: Annotated[int, typer.Option(help="training scenarios, each run by teacher and current")] = 20,
    held_out: Annotated[int, typer.Option(help="held-out scenarios to evaluate on")] = 10,
    iterations: int = 1,
    workers: int = 2,
    sft_steps: int = 30,
    dpo_steps: int = 10,
    learning_rate: float = 2e-4,
    max_length: int = 8192,
    server_url: Annotated[str | None, typer.Option(
        help="a running vLLM (/v1 URL, e.g. `opsagent model serve`) serving the base; adapters are "
        "loaded into it; default: start one per iteration")] = None,
) -> None:
    """Collect → export → SFT → DPO → evaluate → promote, printing the before/after table."""
    from opsagent.train.loop import LoopConfig, iterate
    from opsagent.train.serving import AttachedServer

    settings: Settings = ctx.obj
    cfg = LoopConfig(
        base=base,
        episodes=episodes,
        held_out=held_out,
        workers=workers,
        sft_steps=sft_steps,
        dpo_steps=dpo_steps,
        learning_rate=learning_rate,
        max_length=max_length,
    )
    reg = model_registry(ctx.obj)
    unwind_on_sigterm()  # its sandboxes and vLLM stop with it
    for i in range(iterations):
        attached = None
        if server_url is not None:
            attached = AttachedServer(server_url, settings.agent.llm.api_key.get_secret_value())
        try:
            result = iterate(cfg, reg, settings.data_dir, settings.agent, server_config(settings), attached)
        except (RuntimeError, httpx.HTTPError) as exc:
            if attached is None:
                raise
            raise fail(f"--server-url: {exc}") from None
        table = Table(title=f"iteration {i + 1}: {result['current']} → {result['candidate']}")
        table.add_column("")
        table.add_column(f"before ({result['current']})", justify="right")
        table.add_column(f"after ({result['candidate']})", justify="right")
        for key in (
            "detection",
            "localisation",
            "analysis",
            "mitigation",
            "failed",
            "validity",
            "malformed",
            "denied",
            "harmful_executed",
            "tool_calls",
            "tokens",
            "seconds",
        ):
            for split in result["after"]:
                table.add_row(f"{split} {key}", str(result["before"][split].get(key)),
                              str(result["after"][split].get(key)))
        console.print(table)
        v = result["verdict"]
        console.print(
            ("[green]promoted[/]: " if v["promote"] else "[yellow]kept current[/]: ")
            + "; ".join(v["reasons"])
        )
        (settings.data_dir / "loop" / "last.json").write_text(json.dumps(result, indent=2, default=str))
