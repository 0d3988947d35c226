"""A running sandbox: every endpoint at once, faults injected while it runs, several side by
side, and (slow) the real Prometheus and Alertmanager fed by remote write."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import httpx
import pytest
from elasticsearch import Elasticsearch
from kubernetes import client, config

from opsagent.sandbox.runtime import Sandbox
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from tests import requires

requires_prometheus = requires.stack


def control(box: Sandbox, method: str, path: str, **kw):  # type: ignore[no-untyped-def]
    info = box.info()["control"]
    return httpx.request(method, info["url"] + path, timeout=10,
                         headers={"Authorization": f"Bearer {info['token']}"}, **kw)


def test_side_by_side_sandboxes_are_isolated(tmp_path):
    a = Sandbox(ScenarioSpec(seed=1), tmp_path / "a", prometheus=False, clock=False).start()
    b = Sandbox(ScenarioSpec(seed=2), tmp_path / "b", prometheus=False, clock=False).start()
    try:
        assert len({a.kube.port, b.kube.port, a.search.port, b.search.port}) == 4
        response = control(a, "POST", "/v1/faults", json={"type": "scaled_to_zero", "target": "cart"})
        assert response.status_code == 201 and response.json()["fault"] == "scaled_to_zero"
        apps_a = client.AppsV1Api(config.new_client_from_config(str(a.kubeconfig)))
        apps_b = client.AppsV1Api(config.new_client_from_config(str(b.kubeconfig)))
        assert apps_a.read_namespaced_deployment("cart", "shop").spec.replicas == 0
        assert apps_b.read_namespaced_deployment("cart", "shop").spec.replicas == 2
        status = control(a, "GET", "/v1/status").json()
        assert status["faults"] == ["scaled_to_zero"] and status["mitigated"] is False
        info = json.loads(a.info_path.read_text())
        es = Elasticsearch(info["elasticsearch"]["url"],
                           basic_auth=("elastic", info["elasticsearch"]["password"]))
        assert es.count(index="logs-*")["count"] > 1000
        bad = control(a, "POST", "/v1/faults", json={"type": "memory_leak", "target": "postgres"})
        assert bad.status_code == 400 and "not a valid target" in bad.json()["detail"]
        assert httpx.get(info["control"]["url"] + "/v1/status").status_code == 401
    finally:
        a.stop()
        b.stop()


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict, dict]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
@requires_prometheus
def test_prometheus_and_alertmanager_are_fed_for_real(tmp_path):
    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    spec = ScenarioSpec(faults=[FaultSpec(type="bad_rollout", target="cart")], seed=3, now=time.time())
    box = Sandbox(spec, tmp_path, webhook_url=f"http://127.0.0.1:{receiver.server_port}/alerts",
                  webhook_token="am-secret", evaluation_s=5, clock=False).start()
    try:
        prom = box.info()["prometheus"]
        end = time.time()
        result = httpx.get(f"{prom}/api/v1/query_range", params={
            "query": 'sum(rate(http_requests_total{service="cart",code="503"}[5m]))',
            "start": end - 1800, "end": end, "step": 60}).json()["data"]["result"]
        values = [float(v) for _, v in result[0]["values"]]
        assert values[0] == 0.0 and values[-1] > 1.0  # quiet before the bad release, not after
        rules = httpx.get(f"{prom}/api/v1/rules").json()["data"]["groups"]
        assert sum(len(g["rules"]) for g in rules) > 150
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _Receiver.received:
            time.sleep(1)
        headers, body = _Receiver.received[0]
        assert body["version"] == "4" and headers["Authorization"] == "Bearer am-secret"
        names = {a["labels"]["alertname"] for _, b in _Receiver.received for a in b["alerts"]}
        assert "Watchdog" in names
        sent = box.writer.sent
        box.tick()
        assert box.writer.sent == sent + 1
    finally:
        box.stop()
        receiver.shutdown()


@pytest.mark.slow
@requires_prometheus
def test_loading_a_new_scenario_forgets_the_old_history(tmp_path):
    now = time.time()
    box = Sandbox(ScenarioSpec(faults=[FaultSpec(type="bad_rollout", target="cart")], seed=3, now=now),
                  tmp_path, clock=False).start()
    try:
        prom = box.info()["prometheus"]

        def cart_errors() -> float:
            result = httpx.get(f"{prom}/api/v1/query", params={
                "query": 'sum(rate(http_requests_total{service="cart",code="503"}[5m]))'}).json()
            return float(result["data"]["result"][0]["value"][1]) if result["data"]["result"] else 0.0

        assert cart_errors() > 1.0
        box.load(ScenarioSpec(seed=4, now=time.time()), "healthy")
        assert cart_errors() == 0.0
        es = Elasticsearch(box.info()["elasticsearch"]["url"],
                           basic_auth=("elastic", box.info()["elasticsearch"]["password"]))
        assert es.count(index="logs-*", query={"match": {"message": "KeyError"}})["count"] == 0
    finally:
        box.stop()


@pytest.mark.slow
@requires_prometheus
def test_a_deleted_pod_s_series_end_at_once_as_a_scrape_would_end_them(tmp_path):
    """Remote write has no scrape to notice a series is gone: the writer sends Prometheus'
    staleness marker, so alerts about a deleted pod clear in the next evaluation, not after
    the 5-minute lookback."""
    box = Sandbox(ScenarioSpec(seed=4, now=time.time()), tmp_path, clock=False).start()
    try:
        prom = box.info()["prometheus"]
        api = client.CoreV1Api(config.new_client_from_config(config_file=str(box.kubeconfig)))
        pod = next(p.metadata.name for p in api.list_namespaced_pod("shop").items
                   if p.metadata.name.startswith("cart-"))

        def series() -> int:
            r = httpx.get(f"{prom}/api/v1/query", params={"query": f'kube_pod_info{{pod="{pod}"}}',
                                                          "time": box.scenario.world.now}).json()
            return len(r["data"]["result"])

        assert series() == 1
        api.delete_namespaced_pod(pod, "shop")
        box.advance(30)
        assert series() == 0
    finally:
        box.stop()
