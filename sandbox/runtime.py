"""A running sandbox: one scenario served over the Kubernetes API, the Elasticsearch API and a
real Prometheus + Alertmanager, with simulated time running in step with the wall clock.
Several can run side by side: each has its own run directory and ports."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from opsagent.sandbox.errors import SandboxError
from opsagent.sandbox.faults import get_fault
from opsagent.sandbox.httpserver import AppServer
from opsagent.sandbox.kube.app import Cluster
from opsagent.sandbox.kube.server import KubeServer
from opsagent.sandbox.prom.remote_write import RemoteWriter
from opsagent.sandbox.prom.stack import PromStack
from opsagent.sandbox.scenario import Scenario, ScenarioSpec
from opsagent.sandbox.search.app import SearchCredentials
from opsagent.sandbox.search.app import create_app as create_search_app

log = logging.getLogger(__name__)


class Sandbox:
    def __init__(self, spec: ScenarioSpec, run_dir: Path, *, prometheus: bool = True,
                 webhook_url: str | None = None, webhook_token: str | None = None,
                 evaluation_s: int = 15, clock: bool = True, for_scale: float | None = None):
        self.run_dir = run_dir
        self.scenario = Scenario.build(spec)
        self.cluster = Cluster(self.scenario.world)
        self.search_creds = SearchCredentials()
        self.control_token = secrets.token_urlsafe(18)
        self.kube = KubeServer(self.cluster, run_dir)
        self.search = AppServer(create_search_app(self.cluster, self.search_creds), "elasticsearch")
        self.control = AppServer(_control_app(self), "sandbox-control")
        self.prom = PromStack(run_dir / "monitoring", webhook_url, evaluation_s, webhook_token, for_scale) \
            if prometheus else None
        self.writer: RemoteWriter | None = None
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run_clock, name="sandbox-clock", daemon=True)

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> Sandbox:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.kube.start()
        self.search.start()
        self.control.start()
        self.kubeconfig = self.kube.write_kubeconfig(self.run_dir / "kubeconfig")
        if self.prom is not None:
            self.prom.start()
            self.writer = RemoteWriter(self.prom.prometheus_url)
            self.writer.push(self.scenario.world.frames)
        self.info_path = self.run_dir / "sandbox.json"
        self.info_path.write_text(json.dumps(self.info(), indent=2))
        self.info_path.chmod(0o600)
        if self._clock:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for part in (self.control, self.search, self.kube):
            part.stop()
        if self.writer is not None:
            self.writer.close()
        if self.prom is not None:
            self.prom.stop()

    def info(self) -> dict[str, Any]:
        """Endpoints and credentials, as written to sandbox.json (mode 0600)."""
        return {
            "scenario": self.scenario.spec.id, "seed": self.scenario.spec.seed,
            "kubeconfig": str(self.kubeconfig), "kubernetes": self.kube.url,
            "elasticsearch": {"url": self.search.url, "username": "elastic",
                              "password": self.search_creds.password,
                              "api_key": self.search_creds.api_key},
            "prometheus": self.prom.prometheus_url if self.prom else None,
            "alertmanager": self.prom.alertmanager_url if self.prom else None,
            "control": {"url": self.control.url, "token": self.control_token},
        }

    def load(self, spec: ScenarioSpec, episode: str | None = None) -> None:
        """Serve another scenario on the same servers (for back-to-back episodes). Prometheus
        forgets the previous history first; `episode` also labels the new series."""
        scenario = Scenario.build(spec)
        with self.cluster.lock:
            self.scenario = scenario
            self.cluster.world = scenario.world
        if self.prom is not None:
            self.prom.reset()
            labels = {"sandbox_episode": episode} if episode else None
            if self.writer is None:
                self.writer = RemoteWriter(self.prom.prometheus_url, labels)
            else:
                self.writer.restart(labels)
            self.writer.push(scenario.world.frames)

    # ---- time ---------------------------------------------------------------------------
    def _run_clock(self) -> None:
        world = self.scenario.world
        while not self._stop.is_set():
            behind = time.time() - world.now
            if behind < world.dt:
                self._stop.wait(min(1.0, world.dt - behind))
                continue
            self.tick()

    def tick(self, steps: int = 1) -> None:
        """Steps of simulated time; then the new metric frames go to Prometheus, in one push."""
        with self.cluster.lock:
            for _ in range(steps):
                self.scenario.world.tick()
        if self.writer is not None:
            try:
                self.writer.push(self.scenario.world.frames)
            except Exception as exc:  # keep simulating; the next push retries what is missing
                log.warning("remote write failed: %s", exc)

    def advance(self, seconds: float) -> None:
        """Run simulated time ahead of the wall clock (episodes in batch): each step's frames
        still reach Prometheus, at their simulated timestamps."""
        self.tick(max(1, round(seconds / self.scenario.world.dt)))

    # ---- faults ---------------------------------------------------------------------------
    def onsets(self) -> list[dict[str, Any]]:
        """Each fault of the scenario, its target and when it started (environment time): what
        an incident page marks on its charts. Ground truth: for people, never for the agent."""
        with self.cluster.lock:
            return [{"fault": f.id, "target": f.target, "onset": f.onset} for f in self.scenario.faults]

    def inject(self, fault: str, target: str | None = None, severity: float = 1.0) -> dict[str, Any]:
        """Start a fault now; returns its ground truth."""
        cls = get_fault(fault)
        with self.cluster.lock:
            world = self.scenario.world
            options = cls.candidates(world)
            chosen = target or options[0]
            if chosen not in options:
                raise SandboxError(f"{chosen!r} is not a valid target for {fault}; valid: "
                                   f"{', '.join(options)}")
            instance = cls(chosen, severity, world.now)
            instance.inject(world)
            instance.injected = True
            self.scenario.faults.append(instance)
            return instance.ground_truth(world).model_dump(mode="json")


def _control_app(sandbox: Sandbox) -> FastAPI:
    app = FastAPI(title="opsagent sandbox control", openapi_url=None, docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def authenticate(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.headers.get("authorization") != f"Bearer {sandbox.control_token}":
            return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401)
        return await call_next(request)

    @app.get("/v1/status")
    def status() -> dict[str, Any]:
        with sandbox.cluster.lock:
            health = sandbox.scenario.health()
            return {"scenario": sandbox.scenario.spec.id, "now": sandbox.scenario.world.now,
                    "faults": [f.id for f in sandbox.scenario.faults],
                    "mitigated": sandbox.scenario.mitigated(),
                    "health": {"error_ratio": health.error_ratio, "p99_ms": health.p99_ms,
                               "unavailable_replicas": health.unavailable_replicas}}

    @app.post("/v1/faults")
    def inject(body: dict[str, Any]) -> JSONResponse:
        if not isinstance(body.get("type"), str):
            return JSONResponse({"detail": "field 'type' (a fault id) is required"}, status_code=422)
        try:
            truth = sandbox.inject(body["type"], body.get("target"), float(body.get("severity", 1.0)))
        except SandboxError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=exc.code)
        return JSONResponse(truth, status_code=201)

    return app
