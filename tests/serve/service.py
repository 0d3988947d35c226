"""The service under test: the real app over a real engine, against a live sandbox (Kubernetes
API, Elasticsearch API, real Prometheus) whose simulated time runs ahead while the agent
waits, so an incident takes seconds. Tokens for every role."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from opsagent.agent.config import AgentConfig
from opsagent.sandbox.runtime import Sandbox
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from opsagent.serve.config import ServiceConfig, TokenConfig
from opsagent.serve.engine import Engine
from opsagent.serve.settings import Settings
from opsagent.tools.config import sandbox_config

PAYLOADS = Path(__file__).parent / "payloads"
TOKENS = {
    "viewer": "viewer-token-0123456789",
    "approver": "approver-token-0123456789",
    "security-approver": "security-token-0123456789",
    "admin": "admin-token-0123456789",
}
ALERTMANAGER = "alertmanager-token-0123456789"


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ALERTMANAGER if role == 'alertmanager' else TOKENS[role]}"}


def payload(name: str, **changes: Any) -> dict[str, Any]:
    """A notification recorded from the real Alertmanager 0.25 (in the live demo), optionally changed."""
    body = copy.deepcopy(json.loads((PAYLOADS / f"alertmanager-{name}.json").read_text()))
    body.update(changes)
    return body


def service_config(**changes: Any) -> ServiceConfig:
    tokens = [
        TokenConfig(name=f"sre-{role}", token=SecretStr(token), role=role)  # type: ignore[arg-type]
        for role, token in TOKENS.items()
    ]
    return ServiceConfig(
        policy="expert", tokens=tokens, alertmanager_token=SecretStr(ALERTMANAGER), workers=2, **changes
    )


def engine(box: Sandbox, data_dir: Path, checkpoint_url: str | None = None, **changes: Any) -> Engine:
    """`checkpoint_url`: postgresql://... to checkpoint incidents in Postgres, as deployed."""
    agent = AgentConfig(checkpoint_url=checkpoint_url)
    settings = Settings(data_dir=data_dir, service=service_config(**changes), agent=agent)
    return Engine(
        settings, sandbox_config(box.run_dir), clock=lambda: box.scenario.world.now, wait=box.advance,
        onsets=box.onsets,
    )


def reset(box: Sandbox, fault: str = "bad_rollout", target: str = "checkout") -> None:
    """A fresh world with the fault in its history (Prometheus forgets the previous one)."""
    box.load(ScenarioSpec(faults=[FaultSpec(type=fault, target=target)], seed=3, now=time.time()))


def until(probe: Callable[[], Any], timeout: float = 60, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout}s")
