"""`opsagent tools ...`: list the agent's tools, print their schemas, or call one against the
configured cluster (or a running sandbox) as an SRE would try it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from opsagent.serve.cli.common import console, fail
from opsagent.tools.catalog import default_registry
from opsagent.tools.config import ToolsConfig, sandbox_config
from opsagent.tools.context import ToolContext

app = typer.Typer(help="The agent's tools: list them, print their schemas, call one.",
                  no_args_is_help=True)


@app.command("list")
def list_tools(role: Annotated[str | None, typer.Option(help="monitor | diagnose | repair")] = None) -> None:
    """List the tools with their risk class and roles."""
    table = Table(title="tools")
    for col in ("name", "risk", "roles", "what it does"):
        table.add_column(col, overflow="fold")
    for tool in default_registry().for_role(role):  # type: ignore[arg-type]
        table.add_row(tool.name, tool.risk.value, ",".join(tool.roles), tool.description)
    console.print(table)


@app.command()
def schema(role: Annotated[str | None, typer.Option(help="monitor | diagnose | repair")] = None) -> None:
    """Print the tools as an OpenAI `tools` array (what the model is offered)."""
    typer.echo(json.dumps(default_registry().openai(role), indent=2))  # type: ignore[arg-type]


@app.command()
def call(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="tool name (see `opsagent tools list`)")],
    args: Annotated[str, typer.Option("--args", help="arguments as a JSON object")] = "{}",
    sandbox: Annotated[str | None, typer.Option(help="call against this running sandbox")] = None,
) -> None:
    """Call one tool and print what the model would read."""
    settings = ctx.obj
    if sandbox is not None:
        base = settings.data_dir if settings is not None else Path(".opsagent")
        try:
            cfg = sandbox_config(base / "sandbox" / sandbox)
        except FileNotFoundError as exc:
            raise fail(str(exc)) from None
    else:
        cfg = settings.tools if settings is not None else ToolsConfig()
    tool_ctx = ToolContext(cfg)
    try:
        result = default_registry().call(tool_ctx, name, args)
    finally:
        tool_ctx.close()
    colour = {"success": "green", "no_data": "yellow"}.get(result.status, "red")
    console.print(f"[{colour}]{result.status}[/] {result.tool} {result.args} "
                  f"({result.elapsed_ms:.0f} ms{', truncated' if result.truncated else ''})")
    console.print(escape(result.text), soft_wrap=True)
    raise typer.Exit(code=1 if result.status == "error" else 0)
