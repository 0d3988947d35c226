"""What every command group shares: the one way a command fails, the settings it was given,
the model registry and the model server's settings they name, and how a step is shown."""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.text import Text

from opsagent.serve.settings import Settings

if TYPE_CHECKING:  # the training stack loads only for the commands that use it
    from opsagent.train.registry import ModelRegistry
    from opsagent.train.serving import ServerConfig

console = Console()


def unwind_on_sigterm() -> None:
    """SIGTERM (systemd, `docker stop`, a CI runner) unwinds like Ctrl-C, so the children a
    command started (sandboxes, Prometheus, Alertmanager, vLLM) are stopped, not orphaned."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def stop_requested() -> threading.Event:
    """For a command that runs until stopped: SIGINT and SIGTERM set the returned event rather
    than raise wherever the main thread is (mid-start, mid-import), so it always unwinds."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def fail(message: str) -> typer.Exit:
    """Print `error: message` on stderr; raise the returned Exit (code 2, a usage error)."""
    Console(stderr=True).print(f"[red]error:[/] {message}")
    return typer.Exit(code=2)


def model_registry(settings: Settings) -> ModelRegistry:
    from opsagent.train.registry import ModelRegistry

    return ModelRegistry(settings.data_dir / "models")


def server_config(settings: Settings, port: int = 0) -> ServerConfig:
    """The model server's settings (`vllm`), on `port` (0: any free one)."""
    return settings.vllm.model_copy(update={"port": port})


def say(label: str, style: str, text: str) -> None:
    """A label in colour, then text from the cluster or the model, never read as markup."""
    console.print(Text.assemble((label, style), " ", text))


def show_step(node: str, update: dict[str, Any]) -> None:
    """Print a graph transition as it happens (run, demo)."""
    if node == "monitor":
        t = update["triage"]
        say("monitor", "bold", f"{t['reason']} (severity {t['severity']})")
    elif node == "diagnose" and update.get("messages"):
        m = update["messages"][-1]
        if m.get("role") == "assistant" and m.get("tool_calls"):
            say("diagnose", "bold cyan", (m.get("content") or "").strip())
            for c in m["tool_calls"]:
                say("  →", "dim", f"{c['function']['name']}({c['function']['arguments'][:140]})")
        elif update.get("diagnosis"):
            d = update["diagnosis"]
            where = ", ".join(d["components"])
            say("diagnosis", "bold cyan", f"{d['hypothesis']}: {d['summary']} [{where}]")
    elif node == "repair" and update.get("runbook"):
        for a in update["runbook"]["actions"]:
            say("repair", "bold magenta", f"{a['tool']} {json.dumps(a['args'])} — {a['why']}")
    elif node == "gate":
        d = update["decisions"][-1]
        colour = {"allow": "bold green", "approve": "bold yellow", "deny": "bold red"}[d["verdict"]]
        say(f"gate {d['verdict']}", colour, f"{d['action']['tool']} ({d['rule']}: {d['reason']})")
    elif node == "approval":
        a = update["approvals"][-1]
        say("approval", "bold", f"{a['decision']} by {a['by']} ({a['role']})"
             + (f": {a['reason']}" if a.get("reason") else ""))
    elif node == "execute":
        e = update["executed"][-1]
        first = e["text"].splitlines()[0] if e["text"] else ""
        say("execute", "bold", f"{e['tool']} → {e['status']}: {first}")
    elif node == "verify":
        v = update["verification"]
        say("verify", "bold", f"{'cleared' if v.get('cleared') else 'NOT cleared'} after "
             f"{v.get('after_s', 0):.0f}s (environment clock)")
    elif node == "escalate":
        say("escalate", "bold red", update["escalations"][-1]["reason"])
