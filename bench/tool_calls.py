"""Tool call latency (p50/p99) against a live sandbox through the real clients, and how much
the summarising tools compress: raw log characters per character of the pattern summary, and
raw range-query JSON per character of the range summary."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from opsagent.sandbox.runtime import Sandbox
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from opsagent.tools.catalog import default_registry
from opsagent.tools.config import sandbox_config
from opsagent.tools.context import ToolContext

CALLS = {
    "k8s_list_pods": {"namespace": "shop"},
    "k8s_describe_pod": None,  # filled with a real pod name
    "k8s_pod_logs": None,
    "k8s_events": {"warnings_only": False},
    "k8s_rollout_history": {"name": "checkout"},
    "prometheus_query": {"query": 'sum by (service) (rate(http_requests_total{code="503"}[5m]))'},
    "prometheus_query_range": {"query": "sum by (service) (rate(http_requests_total[5m]))",
                               "minutes": 30},
    "pod_resource_usage": {"namespace": "shop"},
    "logs_search": {"level": "ERROR", "minutes": 30},
    "logs_patterns": {"minutes": 30},
    "knowledge_search": {"query": "connection refused service target port"},
}


def run(n: int = 30) -> dict[str, Any]:
    spec = ScenarioSpec(faults=[FaultSpec(type="bad_rollout", target="checkout")], seed=3,
                        now=time.time())
    with tempfile.TemporaryDirectory() as tmp:
        box = Sandbox(spec, Path(tmp) / "sandbox" / "bench", clock=False).start()
        ctx = ToolContext(sandbox_config(box.run_dir))
        registry = default_registry()
        try:
            pod = next(p.name for p in box.scenario.world.pods.values() if p.service == "checkout")
            calls = {**CALLS, "k8s_describe_pod": {"name": pod},
                     "k8s_pod_logs": {"name": pod, "tail_lines": 100}}
            latency = {}
            for name, args in calls.items():
                samples = []
                for _ in range(n):
                    result = registry.call(ctx, name, args)
                    assert result.status in ("success", "no_data"), (name, result.error)
                    samples.append(result.elapsed_ms)
                samples.sort()
                latency[name] = {"p50_ms": statistics.median(samples),
                                 "p99_ms": samples[int(0.99 * (len(samples) - 1))]}
            patterns = registry.call(ctx, "logs_patterns", {"minutes": 30, "max_lines": 5000})
            query = 'sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="shop"}[5m]))'
            end = time.time()
            raw = ctx.prometheus.custom_query_range(query, start_time=_dt(end - 1800),
                                                    end_time=_dt(end), step="15s")
            summary = registry.call(ctx, "prometheus_query_range", {"query": query, "minutes": 30,
                                                                    "step_s": 15, "limit": 100})
            return {"latency": latency,
                    "logs_patterns": {"lines": patterns.data["lines"],
                                      "raw_chars": patterns.data["raw_chars"],
                                      "summary_chars": len(patterns.text),
                                      "compression": patterns.data["raw_chars"] / len(patterns.text)},
                    "range_summary": {"series": len(raw), "raw_json_chars": len(json.dumps(raw)),
                                      "summary_chars": len(summary.text),
                                      "compression": len(json.dumps(raw)) / len(summary.text)}}
        finally:
            ctx.close()
            box.stop()


def _dt(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)
