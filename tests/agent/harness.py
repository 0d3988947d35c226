"""Builds the agent on a live sandbox for tests: the same Deps the episode runner builds, with
the pieces a test needs to reach (store, checkpointer files, gate policy, pager)."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from opsagent.agent.checkpoint import open_checkpointer
from opsagent.agent.config import AgentConfig
from opsagent.agent.deps import Deps
from opsagent.agent.gate import GatePolicy
from opsagent.agent.notify import LogNotifier, Notifier
from opsagent.agent.runner import IncidentRunner
from opsagent.agent.store import Store
from opsagent.sandbox.httpserver import AppServer
from opsagent.sandbox.runtime import Sandbox
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from opsagent.tools.config import sandbox_config
from opsagent.tools.context import ToolContext
from opsagent.tools.registry import ToolRegistry
from opsagent.trajectories.recorder import Recorder


def load(box: Sandbox, fault: str, target: str | None = None, seed: int = 3) -> None:
    spec = ScenarioSpec(faults=[FaultSpec(type=fault, target=target)], seed=seed, now=time.time())
    box.load(spec, spec.id)


@contextmanager
def agent(box: Sandbox, registry: ToolRegistry, data: Path, policy: Any, *, cfg: AgentConfig | None = None,
          gate_policy: GatePolicy | None = None, notifier: Notifier | None = None,
          recorder: Recorder | None = None, policy_name: str = "test"):
    """An IncidentRunner over the sandbox, its store and checkpointer in `data`."""
    cfg = cfg or AgentConfig()
    ctx = ToolContext(sandbox_config(box.run_dir), now=lambda: box.scenario.world.now)
    store = Store(data / "agent.db")
    with open_checkpointer(cfg.checkpoint_url, data) as cp:
        deps = Deps.from_config(cfg, ctx, store, policy_name, implementation=policy, registry=registry,
                                gate_policy=gate_policy or GatePolicy.load(),
                                notifier=notifier or LogNotifier(),
                                clock=lambda: box.scenario.world.now, wait=box.advance)
        if not box.prom:
            deps = replace(deps, alert_rules=lambda names: {})
        try:
            yield IncidentRunner(deps, cp, recorder)
        finally:
            store.close()
            ctx.close()


class Receiver:
    """A webhook receiver (a real HTTP server) that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        app = FastAPI()

        @app.post("/page")
        async def page(request: Request) -> dict[str, str]:
            with self.lock:
                self.received.append({"body": json.loads(await request.body()),
                                      "authorization": request.headers.get("authorization")})
            return {"status": "ok"}

        self.server = AppServer(app, "receiver")

    def __enter__(self) -> Receiver:
        self.server.start()
        self.url = f"{self.server.url}/page"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
