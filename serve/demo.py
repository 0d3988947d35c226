"""The main job, live: a sandbox with real Prometheus and Alertmanager, the service listening,
a fault injected, the alert travelling Prometheus → Alertmanager → webhook, the agent
diagnosing, an approval in the queue (decided automatically or on the page), the action
executed, the alert resolving, the trajectory stored and graded."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import BaseModel, SecretStr

from opsagent.agent.config import VerifyConfig
from opsagent.sandbox.prom.stack import free_port
from opsagent.sandbox.runtime import Sandbox
from opsagent.sandbox.scenario import ScenarioSpec
from opsagent.serve.app import create_app
from opsagent.serve.config import TokenConfig
from opsagent.serve.engine import Engine
from opsagent.serve.settings import Settings
from opsagent.tools.config import sandbox_config
from opsagent.trajectories.grade import grade_against_truth
from opsagent.trajectories.models import Environment

Say = Callable[[str], None]


class DemoResult(BaseModel):
    url: str
    fault: str
    target: str
    incident: str | None = None
    alert_seconds: float | None = None  # injection → incident opened by the webhook
    outcome: str | None = None
    diagnosis: str | None = None
    executed: list[str] = []
    approvals: list[str] = []
    resolved_seconds: float | None = None  # injection → Alertmanager's resolved notification
    trajectory: str | None = None
    grade: dict[str, Any] | None = None
    policy: str = "expert"


@contextmanager
def serving(engine: Engine, host: str, port: int) -> Iterator[uvicorn.Server]:
    """The app under uvicorn in a thread, the engine started and stopped with it."""
    server = uvicorn.Server(uvicorn.Config(create_app(engine), host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the service did not start on {host}:{port}")
        time.sleep(0.05)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def demo_settings(settings: Settings, port: int, auto: bool, policy: str) -> tuple[Settings, dict[str, str]]:
    """Fresh tokens for this run; checks every 15 s after acting (a real cluster's default is 60 s)."""
    tokens = {
        "admin": secrets.token_urlsafe(18),
        "approver": secrets.token_urlsafe(18),
        "alertmanager": secrets.token_urlsafe(18),
    }
    service = settings.service.model_copy(
        update={
            "port": port,
            "policy": policy,
            "auto_approve": auto,
            "tokens": [
                TokenConfig(name="demo-admin", token=SecretStr(tokens["admin"]), role="admin"),
                TokenConfig(name="demo-sre", token=SecretStr(tokens["approver"]), role="approver"),
            ],
            "alertmanager_token": SecretStr(tokens["alertmanager"]),
        }
    )
    agent = settings.agent.model_copy(
        update={"verify": VerifyConfig(interval_s=15, timeout_s=600, consecutive=2)}
    )
    return settings.model_copy(update={"service": service, "agent": agent}), tokens


def run_demo(
    settings: Settings,
    fault: str,
    target: str | None,
    seed: int,
    say: Say,
    show: Callable[[str, dict[str, Any]], None],
    run_dir: Path,
    auto: bool = True,
    policy: str = "expert",
    resolve_timeout_s: float = 300,
    keep: Callable[[], None] | None = None,
) -> DemoResult:
    port = settings.service.port if settings.service.port and _free(settings.service.port) else free_port()
    settings, tokens = demo_settings(settings, port, auto, policy)
    host = settings.service.host
    url = f"http://{host}:{port}"
    say(f"starting a healthy sandbox (Kubernetes API, Elasticsearch API, Prometheus, Alertmanager → {url})")
    box = Sandbox(
        ScenarioSpec(seed=seed, now=time.time()),
        run_dir,
        clock=True,
        evaluation_s=5,
        for_scale=0.1,
        webhook_url=f"{url}/v1/alerts/alertmanager",
        webhook_token=tokens["alertmanager"],
    ).start()
    try:
        truth: dict[str, Any] = {}
        env = Environment(kind="sandbox", scenario=f"{fault}@{target or 'auto'}", seed=seed, faults=[fault])

        def grade(incident: str, state: dict[str, Any]) -> None:
            record = engine.trajectories.get(incident)
            if record is not None and truth:
                engine.recorder.grade(
                    incident, grade_against_truth(record, [truth], box.scenario.mitigated()), [truth]
                )

        engine = Engine(
            settings, sandbox_config(box.run_dir), environment=env, on_done=grade, onsets=box.onsets
        )
        result = DemoResult(url=url, fault=fault, target=target or "", policy=policy)
        with serving(engine, host, port):
            say(f"opsagent is listening: pages at {url}/#token={tokens['admin']}")
            engine.watch(lambda incident, kind, data: show(kind, data))
            time.sleep(10)  # a few evaluations of the healthy cluster first
            injected, injected_at = time.monotonic(), time.time()
            truth.update(box.inject(fault, target))
            result.target = truth["components"][0]
            say(
                f"injected {fault} into {', '.join(truth['components'])}; waiting for Prometheus to fire "
                f"{', '.join(box.scenario.faults[-1].alerts)} and Alertmanager to deliver it"
            )
            expected = set(box.scenario.faults[-1].alerts)
            incident = poll(lambda: _opened_by(engine, expected), 300)
            if incident is None:
                say(
                    "no incident was opened within 5 minutes: see the Prometheus and Alertmanager logs in "
                    f"{box.run_dir / 'monitoring' / 'logs'}"
                )
                return result
            events = engine.inbox.events(incident)
            result.incident, result.alert_seconds = incident, events[0]["at"] - injected_at
            arrivals = "; ".join(f"{e['summary']} at +{e['at'] - injected_at:.0f}s" for e in events)
            say(f"Alertmanager → webhook: incident {incident} ({arrivals})")
            if not auto:
                page = f"{url}/approvals#token={tokens['approver']}"
                say(f"decide the pending action on the approval page: {page}")
            poll(lambda: (engine.store.incident(incident) or {}).get("status") == "done" or None, 1800)
            state = engine.checkpoint_state(incident)
            say("waiting for Alertmanager's resolved notification")
            if poll(lambda: engine.inbox.alerts_resolved(incident) or None, resolve_timeout_s):
                result.resolved_seconds = time.monotonic() - injected
            d = state.get("diagnosis") or {}
            result.outcome, result.diagnosis = state.get("outcome"), d.get("summary") or state.get("stuck")
            result.executed = [
                f"{e['tool']} {e['args']} → {e['status']}" for e in state.get("executed") or []
            ]
            result.approvals = [f"{a['decision']} by {a['by']}" for a in state.get("approvals") or []]
            poll(
                lambda: (
                    (engine.trajectories.get(incident) or None)
                    and (engine.trajectories.get(incident).grade is not None or None)
                ),
                30,
            )
            record = engine.trajectories.get(incident)
            if record is not None:
                result.trajectory = record.id
                result.grade = record.grade.model_dump(exclude_defaults=True) if record.grade else None
            if keep is not None:
                keep()
        return result
    finally:
        box.stop()


def _opened_by(engine: Engine, names: set[str]) -> str | None:
    """The incident that the fault's own alert opened (others may open beside it)."""
    for row in engine.store.incidents():
        alerts = [a for e in engine.inbox.events(row["id"]) for a in e["data"].get("alerts", [])]
        if names & {a.get("labels", {}).get("alertname") for a in alerts}:
            return row["id"]
    return None


def poll(probe: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    """The probe's first truthy value within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    return None


def _free(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
        return False
    except httpx.HTTPError:
        return True
