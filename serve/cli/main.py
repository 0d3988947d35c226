"""The `opsagent` command: one entry point, a subcommand group per area."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from opsagent.serve.cli.answer_pairs import answer_pairs_cmd
from opsagent.serve.cli.collect import collect_cmd
from opsagent.serve.cli.common import fail
from opsagent.serve.cli.model import loop, model_app, train_app
from opsagent.serve.cli.run import approvals_app, run
from opsagent.serve.cli.sandbox import app as sandbox_app
from opsagent.serve.cli.service import demo, serve
from opsagent.serve.cli.tools import app as tools_app
from opsagent.serve.cli.trajectories import app as trajectories_app
from opsagent.serve.cli.trajectories import eval_cmd
from opsagent.serve.settings import load_settings

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
trajectories_app.command("collect")(collect_cmd)
trajectories_app.command("answer-pairs")(answer_pairs_cmd)
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
        raise fail(str(exc)) from None
    except ValidationError as exc:
        lines = (f"setting {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise fail("\n".join(lines)) from None


if __name__ == "__main__":
    app()
