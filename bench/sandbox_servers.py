"""The sandbox's protocol servers under the official clients: p50/p99 latency per call, and
full episodes per minute (load a scenario, push its 30 minutes of history to Prometheus, then
15 client calls: 5 Kubernetes, 5 Elasticsearch, 5 PromQL)."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from elasticsearch import Elasticsearch
from kubernetes import client, config

from opsagent.sandbox.prom.stack import binaries
from opsagent.sandbox.runtime import Sandbox
from opsagent.sandbox.scenario import generate


def _timed(fn: Callable[[], Any], n: int) -> dict[str, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p99_ms": samples[int(0.99 * (len(samples) - 1))]}


def run(calls: int = 100, episodes: int = 20) -> dict[str, Any]:
    try:
        binaries()
        with_prometheus = True
    except FileNotFoundError:
        with_prometheus = False
    specs = [s.model_copy(update={"now": time.time()}) for s in generate(seeds=range(2))]
    with tempfile.TemporaryDirectory() as tmp:
        box = Sandbox(specs[0], Path(tmp), prometheus=with_prometheus, clock=False).start()
        try:
            info = box.info()
            core = client.CoreV1Api(config.new_client_from_config(str(box.kubeconfig)))
            es = Elasticsearch(info["elasticsearch"]["url"],
                               basic_auth=("elastic", info["elasticsearch"]["password"]))
            prom = httpx.Client(base_url=info["prometheus"] or "http://127.0.0.1:9")
            pod = next(p.name for p in box.scenario.world.pods.values() if p.service == "frontend")

            def promql(query: str) -> Any:
                end = time.time()
                return prom.get("/api/v1/query_range", params={
                    "query": query, "start": end - 1800, "end": end, "step": 15}).json()

            probes: dict[str, Callable[[], Any]] = {
                "k8s list pods": lambda: core.list_namespaced_pod("shop"),
                "k8s pod log tail=100": lambda: core.read_namespaced_pod_log(pod, "shop", tail_lines=100),
                "k8s events by object": lambda: core.list_namespaced_event(
                    "shop", field_selector=f"involvedObject.name={pod}"),
                "es search bool+range+sort": lambda: es.search(index="logs-*", size=20, sort=[
                    {"@timestamp": "desc"}], query={"bool": {"must": [{"match": {"message": "error"}}],
                                                             "filter": [{"range": {"@timestamp": {
                                                                 "gte": "now-15m"}}}]}}),
                "es aggs terms+histogram": lambda: es.search(index="logs-*", size=0, aggs={
                    "s": {"terms": {"field": "service.name"}},
                    "t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"}}}),
            }
            if with_prometheus:
                probes["promql query_range 30m"] = lambda: promql(
                    'sum by (service) (rate(http_requests_total{code="503"}[5m]))')
            latency = {name: _timed(fn, calls) for name, fn in probes.items()}

            start = time.perf_counter()
            for i in range(episodes):
                box.load(specs[i % len(specs)].model_copy(update={"now": time.time()}), f"e{i}")
                for _ in range(5):
                    core.list_namespaced_pod("shop", label_selector="app.kubernetes.io/name=catalog")
                    es.search(index="logs-*", size=10, query={"match": {"log.level": "ERROR"}})
                    if with_prometheus:
                        promql(f'sum(rate(http_requests_total{{sandbox_episode="e{i}"}}[5m]))')
            elapsed = time.perf_counter() - start
            return {"latency": latency, "episodes": episodes,
                    "episodes_per_min": 60 * episodes / elapsed, "prometheus": with_prometheus}
        finally:
            box.stop()
