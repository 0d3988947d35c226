"""The rule files the sandbox's Prometheus loads: the kube-prometheus rules, whole, and the
application rules a team would add beside them (error ratio, latency, error-budget burn,
datastore saturation), written in the same style."""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import yaml

KUBE_PROMETHEUS = Path(__file__).parent / "rules" / "kube-prometheus"
RUNBOOKS = "https://runbooks.shop.internal"


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict:
    return {"alert": name, "expr": expr, "for": for_, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description,
                            "runbook_url": f"{RUNBOOKS}/{name.lower()}"}}


APP_RULES: dict[str, Any] = {"groups": [
    {"name": "shop.rules", "rules": [
        {"record": "service:http_requests:rate5m",
         "expr": "sum by (namespace, service) (rate(http_requests_total[5m]))"},
        {"record": "service:http_request_errors:ratio_rate5m",
         "expr": 'sum by (namespace, service) (rate(http_requests_total{code=~"5.."}[5m]))\n/\n'
                 "sum by (namespace, service) (rate(http_requests_total[5m]))"},
        {"record": "service:http_request_errors:ratio_rate30m",
         "expr": 'sum by (namespace, service) (rate(http_requests_total{code=~"5.."}[30m]))\n/\n'
                 "sum by (namespace, service) (rate(http_requests_total[30m]))"},
        {"record": "service:http_request_duration_seconds:p99_5m",
         "expr": "histogram_quantile(0.99, sum by (namespace, service, le) "
                 "(rate(http_request_duration_seconds_bucket[5m])))"},
    ]},
    {"name": "shop.alerts", "rules": [
        _alert("ShopServiceHighErrorRate",
               "service:http_request_errors:ratio_rate5m > 0.05", "5m", "critical",
               "A service answers more than 5% of its requests with errors.",
               "{{ $labels.namespace }}/{{ $labels.service }} answers {{ $value | humanizePercentage }} "
               "of its requests with errors."),
        _alert("ShopErrorBudgetBurn",
               "service:http_request_errors:ratio_rate5m > (14.4 * 0.01)\nand\n"
               "service:http_request_errors:ratio_rate30m > (14.4 * 0.01)", "2m", "critical",
               "A service burns its 99% availability error budget 14x too fast.",
               "{{ $labels.namespace }}/{{ $labels.service }} is burning its error budget at over "
               "14.4 times the sustainable rate."),
        _alert("ShopServiceLatencyHigh",
               "service:http_request_duration_seconds:p99_5m > 0.5", "10m", "warning",
               "A service's p99 latency is above its 500 ms objective.",
               "{{ $labels.namespace }}/{{ $labels.service }} p99 latency is "
               "{{ $value | humanizeDuration }}."),
        _alert("PostgresTooManyConnections",
               "max(max_over_time(pg_stat_activity_count[5m])) by (namespace, server) / "
               "max(pg_settings_max_connections) by (namespace, server) > 0.9", "2m", "critical",
               "PostgreSQL is close to its connection limit.",
               "{{ $labels.server }} uses {{ $value | humanizePercentage }} of max_connections."),
        _alert("RedisEvictionStorm",
               "rate(redis_evicted_keys_total[5m]) > 10", "5m", "warning",
               "Redis is evicting keys continuously.",
               "{{ $labels.instance }} evicts {{ $value | humanize }} keys per second; its memory "
               "limit is below the working set."),
    ]},
]}


def _seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", duration))


def _scale_for(spec: dict[str, Any], scale: float) -> dict[str, Any]:
    for group in spec["groups"]:
        for rule in group["rules"]:
            if "alert" in rule and rule.get("for"):
                rule["for"] = f"{max(1, round(_seconds(str(rule['for'])) * scale))}s"
    return spec


@functools.cache
def rule_specs() -> tuple[tuple[str, dict[str, Any]], ...]:
    """(file name, rule spec) of every rule file, parsed once per process: the kube-prometheus
    manifests take ~0.5 s to parse, and every episode's alert evaluation reads them. Callers
    copy before changing a spec."""
    specs = [(m.name.replace("-prometheusRule", ".rules"), yaml.safe_load(m.read_text())["spec"])
             for m in sorted(KUBE_PROMETHEUS.glob("*.yaml"))]
    return (*specs, ("shop.rules.yaml", APP_RULES))


def write_rule_files(directory: Path, for_scale: float | None = None) -> list[Path]:
    """One rule file per kube-prometheus manifest (its `spec`), and the application rules.
    `for_scale` shortens every `for:` clause by one factor for a live demo (a fault injected
    into a running sandbox would otherwise stay pending for up to an hour of wall time); the
    order in which alerts fire stays as on a real cluster."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, spec in rule_specs():
        path = directory / name
        scaled = _scale_for(copy.deepcopy(spec), for_scale) if for_scale else spec
        path.write_text(yaml.safe_dump(scaled, sort_keys=False))
        written.append(path)
    return written
