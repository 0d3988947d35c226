"""`opsagent serve` (the service, against the configured cluster or a running sandbox) and
`opsagent demo` (the whole loop, live, on this machine)."""

from __future__ import annotations

import json
import secrets
import tempfile
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import SecretStr
from rich.panel import Panel

from opsagent.serve.cli.common import (
    console,
    fail,
    model_registry,
    server_config,
    show_step,
    unwind_on_sigterm,
)
from opsagent.serve.config import TokenConfig
from opsagent.serve.settings import Settings

if TYPE_CHECKING:  # what a command needs loads when it runs: `opsagent --help` stays quick
    from opsagent.train.serving import ModelServer


def _admin_token(settings: Settings) -> Settings:
    """No token configured: make an admin token once, kept in data_dir (mode 0600)."""
    if settings.service.tokens:
        return settings
    path = settings.data_dir / "service-admin-token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    console.print(f"no service.tokens configured: the admin token is in {path}")
    admin = TokenConfig(name="admin", token=SecretStr(path.read_text().strip()), role="admin")
    service = settings.service.model_copy(update={"tokens": [admin]})
    return settings.model_copy(update={"service": service})


def serve(
    ctx: typer.Context,
    sandbox: Annotated[
        Path | None,
        typer.Option(
            help="run directory of a running `opsagent sandbox up`; default: the cluster in settings.tools"
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="default: service.host")] = None,
    port: Annotated[int | None, typer.Option(help="default: service.port")] = None,
    access_log: Annotated[bool, typer.Option(help="log every request")] = False,
) -> None:
    """Run the service: Alertmanager webhook, chat, incidents, the approval queue and its pages."""
    import uvicorn

    from opsagent.serve.app import create_app
    from opsagent.serve.engine import Engine
    from opsagent.tools.config import sandbox_config

    settings = _admin_token(ctx.obj)
    try:
        tools = sandbox_config(sandbox) if sandbox else None
    except FileNotFoundError as exc:
        raise fail(f"--sandbox: {exc}") from None
    engine = Engine(settings, tools)
    cfg = settings.service
    console.print(
        f"opsagent on http://{host or cfg.host}:{port or cfg.port} (policy {cfg.policy}; "
        f"{cfg.workers} incident workers); Ctrl-C stops"
    )
    uvicorn.run(
        create_app(engine),
        host=host or cfg.host,
        port=port if port is not None else cfg.port,
        log_level="info",
        access_log=access_log,
    )


def _model_server(settings: Settings, policy: str) -> tuple[ModelServer | None, Settings]:
    """The registry's current checkpoint served by vLLM, when asked for (llm) or available (auto)."""
    from opsagent.train.serving import serve as serve_checkpoint

    registry = model_registry(settings)
    current = registry.current() if policy != "expert" else None
    config = server_config(settings)
    if current is None or not config.python.exists():
        if policy == "llm":
            raise fail(
                "--policy llm: no current checkpoint (opsagent model import-base tiny --current) "
                "or no vLLM (.venv-vllm; ./run.sh makes it)"
            )
        console.print(
            "[bold]policy: the rule-based expert[/] (no current checkpoint to serve; "
            "`opsagent model import-base ... --current` or `opsagent loop` makes one)"
        )
        return None, settings
    server = serve_checkpoint(registry, current, config, settings.data_dir / "vllm-demo.log")
    with console.status(f"starting vLLM for checkpoint {current.id} (log: {server.log_path})"):
        try:
            server.start()
        except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
            raise fail(f"vLLM did not start: {exc}") from None
    console.print(f"[bold]policy: the model[/] — checkpoint {current.id} served by vLLM at {server.url}")
    return server, settings.model_copy(update={"agent": settings.agent.served_by(
        server.url, current.id, registry.prompt_profile(current))})


class DemoApproval(StrEnum):
    AUTO = "auto"
    PAGE = "page"


class DemoPolicy(StrEnum):
    AUTO = "auto"
    EXPERT = "expert"
    LLM = "llm"


def demo(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Option(help="FAULT[@TARGET] to inject")] = "bad_rollout@checkout",
    seed: int = 7,
    approve: Annotated[
        DemoApproval, typer.Option(help="auto: approve at once; page: wait for the approval page")
    ] = DemoApproval.AUTO,
    policy: Annotated[
        DemoPolicy,
        typer.Option(
            help="auto: the current checkpoint served by vLLM when there is one, else the rule-based "
            "expert; expert; llm"
        ),
    ] = DemoPolicy.AUTO,
    keep: Annotated[
        bool, typer.Option(help="keep serving the pages after the incident, until Ctrl-C")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """The whole loop, live: fault → Prometheus → Alertmanager → webhook → agent → approval →
    action → alert resolved → trajectory stored."""
    from opsagent.sandbox.faults import FAULTS
    from opsagent.serve.demo import run_demo

    settings: Settings = ctx.obj
    fault, _, target = scenario.partition("@")
    if fault not in FAULTS:
        raise fail(f"--scenario: unknown fault type {fault!r}; see `opsagent sandbox faults`")
    unwind_on_sigterm()
    server, settings = _model_server(settings, policy)
    policy = "llm" if server is not None else "expert"

    def hold() -> None:
        console.print("serving the pages until Ctrl-C")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass

    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = run_demo(
                settings,
                fault,
                target or None,
                seed,
                lambda m: console.print(f"[dim]{m}[/]"),
                show_step,
                Path(tmp) / "sandbox",
                auto=approve == "auto",
                policy=policy,
                keep=hold if keep else None,
            )
        except (FileNotFoundError, RuntimeError) as exc:
            raise fail(str(exc)) from None
        finally:
            if server is not None:
                server.stop()
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    lines = [
        f"incident     {result.incident} (opened {result.alert_seconds or 0:.0f}s after the injection)",
        f"diagnosis    {result.diagnosis}",
        f"approvals    {'; '.join(result.approvals) or 'none'}",
        f"executed     {'; '.join(result.executed) or 'nothing'}",
        f"outcome      {result.outcome}",
        "alert        "
        + (
            f"resolved, Alertmanager told the webhook {result.resolved_seconds:.0f}s after the injection"
            if result.resolved_seconds
            else "not resolved before the demo ended"
        ),
        f"trajectory   {result.trajectory} in {settings.data_dir / 'trajectories'}",
        f"grade        {json.dumps(result.grade)}",
        f"pages        {result.url} (the service has stopped)",
    ]
    console.print(Panel("\n".join(lines), title=f"{result.fault} on {result.target}"))
