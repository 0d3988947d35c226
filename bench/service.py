"""The service on loopback, as deployed (uvicorn, one process): Alertmanager notifications
accepted per second and their p50/p99 latency at 1, 10 and 100 concurrent senders (each one
stored durably before the 202, then handled by the dispatcher); and the approval round trip:
the SRE's decision answered, the incident resumed and the action executed, the incident done
(against a live sandbox with real Prometheus; simulated time runs ahead while verifying)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from opsagent.sandbox.prom.stack import free_port
from opsagent.sandbox.runtime import Sandbox
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from opsagent.serve.config import ServiceConfig, TokenConfig
from opsagent.serve.demo import poll, serving
from opsagent.serve.engine import Engine
from opsagent.serve.settings import Settings
from opsagent.tools.config import sandbox_config

PAYLOAD = Path(__file__).resolve().parents[1] / "tests" / "serve" / "payloads" / "alertmanager-firing.json"
AM, ADMIN = "bench-alertmanager-token", "bench-admin-token-0000"


def _settings(data_dir: Path) -> Settings:
    service = ServiceConfig(
        policy="expert",
        alertmanager_token=SecretStr(AM),
        tokens=[TokenConfig(name="bench", token=SecretStr(ADMIN), role="admin")],
    )
    return Settings(data_dir=data_dir, service=service)


def _pct(samples: list[float], q: float) -> float:
    samples = sorted(samples)
    return samples[min(len(samples) - 1, int(q * (len(samples) - 1)))]


async def _senders(
    url: str, concurrency: int, total: int, path: str = "/v1/alerts/alertmanager"
) -> dict[str, float]:
    """`concurrency` senders, each with its own connection (as separate Alertmanagers would be),
    sharing `total` notifications."""
    body = json.loads(PAYLOAD.read_text())
    latencies: list[float] = []
    counter = iter(range(total))

    async def sender() -> None:
        async with httpx.AsyncClient(
            base_url=url, timeout=60, headers={"Authorization": f"Bearer {AM}"}
        ) as client:
            for i in counter:
                # Distinct groups, as many alert groups from a large cluster would be.
                payload = {
                    **body,
                    "groupKey": f'{{}}:{{alertname="Bench{i}"}}',
                    "alerts": [
                        {
                            **body["alerts"][0],
                            "fingerprint": f"{i:016x}",
                            "labels": {**body["alerts"][0]["labels"], "alertname": "Watchdog"},
                        }
                    ],
                }
                start = time.perf_counter()
                r = await (client.post(path, json=payload) if path.startswith("/v1") else client.get(path))
                latencies.append((time.perf_counter() - start) * 1000)
                assert r.status_code in (200, 202), r.text

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return {
        "alerts_per_s": total / wall,
        "p50_ms": statistics.median(latencies),
        "p99_ms": _pct(latencies, 0.99),
    }


def webhook(total: int = 1000) -> dict[str, dict[str, float]]:
    """`opsagent serve` in its own process (as deployed) and the senders in this one. Watchdog
    notifications: accepted, stored, handled as heartbeats (no incident to run), so the figure
    is the webhook's own cost."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            **os.environ,
            "OPSAGENT_DATA_DIR": tmp,
            "OPSAGENT_SERVICE__ALERTMANAGER_TOKEN": AM,
            "OPSAGENT_SERVICE__POLICY": "expert",
            "OPSAGENT_SERVICE__TOKENS": json.dumps([{"name": "bench", "token": ADMIN, "role": "admin"}]),
        }
        log = (Path(tmp) / "serve.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "opsagent.serve.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _until(lambda: _answers(f"{url}/readyz"), 60)
            for concurrency in (1, 10, 100):
                out[f"{concurrency} sender(s)"] = asyncio.run(_senders(url, concurrency, total))
                # The same load on /healthz (no auth, no storage): what the HTTP stack alone costs here.
                out[f"{concurrency} sender(s), /healthz"] = asyncio.run(
                    _senders(url, concurrency, total, "/healthz")
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
    return out


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def approval_round_trip(rounds: int = 5) -> dict[str, float]:
    """Each round a fresh service (the gate's rate limit would refuse a fourth rollback of the
    same Deployment within ten minutes) on a fresh copy of the faulty world."""
    decided, executed, done = [], [], []
    body = json.loads(PAYLOAD.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        spec = ScenarioSpec(
            faults=[FaultSpec(type="bad_rollout", target="checkout")], seed=3, now=time.time()
        )
        box = Sandbox(spec, Path(tmp) / "sandbox", clock=False).start()
        try:
            for i in range(rounds):
                box.load(spec.model_copy(update={"now": time.time()}))
                engine = Engine(
                    _settings(Path(tmp) / f"data-{i}"),
                    sandbox_config(box.run_dir),
                    clock=lambda: box.scenario.world.now,
                    wait=box.advance,
                )
                marks: dict[str, float] = {}
                engine.watch(lambda _, kind, data, marks=marks: marks.setdefault(kind, time.perf_counter()))
                port = free_port()
                with (
                    serving(engine, "127.0.0.1", port),
                    httpx.Client(base_url=f"http://127.0.0.1:{port}") as client,
                ):
                    client.post(
                        "/v1/alerts/alertmanager", json=body, headers={"Authorization": f"Bearer {AM}"}
                    ).raise_for_status()
                    approval = _until(lambda engine=engine: engine.store.approvals("pending"))[0]
                    engine.wait_idle(approval["incident"], 120)
                    start = time.perf_counter()
                    client.post(
                        f"/v1/approvals/{approval['id']}",
                        json={"decision": "approve"},
                        headers={"Authorization": f"Bearer {ADMIN}"},
                    ).raise_for_status()
                    decided.append((time.perf_counter() - start) * 1000)
                    _until(lambda marks=marks: "done" in marks)
                    executed.append((marks["execute"] - start) * 1000)
                    done.append((marks["done"] - start) * 1000)
        finally:
            box.stop()
    return {
        "decision_answered_ms": statistics.median(decided),
        "action_executed_ms": statistics.median(executed),
        "incident_done_ms": statistics.median(done),
        "rounds": float(rounds),
    }


def _until(probe: Any, timeout: float = 120) -> Any:
    value = poll(probe, timeout, every=0.01)
    if not value:
        raise TimeoutError("the service did not get there in time")
    return value


def run() -> dict[str, Any]:
    return {"webhook": webhook(), "approval": approval_round_trip()}
