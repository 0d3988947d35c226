"""Builds the agent on a live sandbox for tests: the same Deps the episode runner builds, with
the pieces a test needs to reach (store, checkpointer files, gate policy, pager)."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request

from agent.checkpoint import open_checkpointer
from agent.config import AgentConfig
from agent.episode import alert_rules
from agent.facts import KubeFacts
from agent.gate import Gate, GatePolicy
from agent.graph import Deps
from agent.notify import LogNotifier, Notifier
from agent.runner import IncidentRunner
from agent.store import Store
from sandbox.httpserver import AppServer
from sandbox.runtime import Sandbox
from sandbox.scenario import FaultSpec, ScenarioSpec
from tools.cli import sandbox_config
from tools.context import ToolContext
from tools.registry import Registry
from trajectories.recorder import Recorder


def load(box: Sandbox, fault: str, target: str | None = None, seed: int = 3) -> None:
    spec = ScenarioSpec(faults=[FaultSpec(type=fault, target=target)], seed=seed, now=time.time())
    box.load(spec, spec.id)


@contextmanager
def agent(box: Sandbox, registry: Registry, data: Path, policy: Any, *, cfg: AgentConfig | None = None,
          gate_policy: GatePolicy | None = None, notifier: Notifier | None = None,
          recorder: Recorder | None = None, policy_name: str = "test"):
    """An IncidentRunner over the sandbox, its store and checkpointer in `data`."""
    cfg = cfg or AgentConfig()
    ctx = ToolContext(sandbox_config(box.run_dir), now=lambda: box.scenario.world.now)
    store = Store(data / "agent.db")
    with open_checkpointer(cfg.checkpoint_url, data) as cp:
        deps = Deps(policy=policy, registry=registry, ctx=ctx,
                    gate=Gate(gate_policy or GatePolicy.load(), KubeFacts(ctx),
                              clock=lambda: box.scenario.world.now),
                    store=store, notifier=notifier or LogNotifier(), config=cfg, wait=box.advance,
                    clock=lambda: box.scenario.world.now, policy_name=policy_name,
                    alert_rules=alert_rules(registry, ctx) if box.prom else lambda names: {})
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
