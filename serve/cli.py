"""The `opsagent` command: one entry point, a subcommand group per area."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from sandbox.cli import app as sandbox_app
from serve.agent_cli import approvals_app, run
from serve.model_cli import loop, model_app, train_app
from serve.service_cli import demo, serve
from serve.settings import load_settings
from serve.trajectories_cli import app as trajectories_app
from serve.trajectories_cli import eval_cmd
from tools.cli import app as tools_app

app = typer.Typer(
    help="opsagent: an AIOps agent runtime with its own trajectory trainer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(tools_app, name="tools")
app.add_typer(approvals_app, name="approvals")
app.command()(run)
app.add_typer(trajectories_app, name="trajectories")
app.command("eval")(eval_cmd)
app.add_typer(train_app, name="train")
app.add_typer(model_app, name="model")
app.command()(loop)
app.command()(serve)
app.command()(demo)


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(help="YAML settings file (env: OPSAGENT_CONFIG)")] = None,
) -> None:
    """Settings come from OPSAGENT_* environment variables over the config file over defaults."""
    try:
        ctx.obj = load_settings(config)
    except FileNotFoundError as exc:
        Console(stderr=True).print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    except ValidationError as exc:
        err = Console(stderr=True)
        for e in exc.errors():
            field = ".".join(str(p) for p in e["loc"])
            err.print(f"[red]error:[/] setting {field}: {e['msg']}")
        raise typer.Exit(code=2) from None


if __name__ == "__main__":
    app()
