"""PromQL tools over prometheus-api-client: instant and range queries (summarised, not dumped),
metric and label discovery, firing alerts."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import requests
from prometheus_api_client import PrometheusApiClientException
from pydantic import Field

from opsagent.tools.anomaly import summarize
from opsagent.tools.base import Args, Risk, Tool, ToolResult
from opsagent.tools.context import ToolContext

TRANSIENT = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)


def _labels(metric: dict[str, str]) -> str:
    name = metric.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest else name or "{}"


def _call(ctx: ToolContext, tool: str, args: Args, fn) -> ToolResult | object:  # type: ignore[no-untyped-def]
    try:
        return ctx.retry(fn, TRANSIENT)
    except PrometheusApiClientException as exc:
        return ToolResult(tool=tool, args=args.model_dump(), status="error",
                          error=f"Prometheus rejected the query: {exc}")


def _query_now(ctx: ToolContext, query: str) -> list[dict]:
    """An instant query at the environment's now (not the Prometheus server's)."""
    return ctx.prometheus.custom_query(query, params={"time": ctx.now()})


class Instant(Args):
    query: str = Field(description="PromQL expression, e.g. "
                       "sum by (pod) (rate(container_cpu_usage_seconds_total[5m]))")
    limit: int = Field(default=30, ge=1, le=200, description="at most this many series")


def _instant(ctx: ToolContext, a: Instant) -> ToolResult:
    result = _call(ctx, "prometheus_query", a, lambda: _query_now(ctx, a.query))
    if isinstance(result, ToolResult):
        return result
    if not result:
        return ToolResult(tool="prometheus_query", args=a.model_dump(), status="no_data",
                          text=f"no series match {a.query}")
    rows = sorted(result, key=lambda r: -abs(float(r["value"][1])) if "value" in r else 0)
    lines = [f"{_labels(r['metric'])} => {float(r['value'][1]):.6g}" for r in rows[: a.limit]]
    if len(rows) > a.limit:
        lines.append(f"... {len(rows) - a.limit} more series (raise limit or aggregate)")
    return ToolResult(tool="prometheus_query", args=a.model_dump(), status="success",
                      text="\n".join(lines), data=result)


class Range(Args):
    query: str = Field(description="PromQL expression to evaluate over time")
    minutes: int = Field(default=30, ge=1, le=360, description="how far back from now")
    step_s: int = Field(default=60, ge=5, le=3600, description="resolution in seconds")
    limit: int = Field(default=20, ge=1, le=100, description="at most this many series")


def _range(ctx: ToolContext, a: Range) -> ToolResult:
    end = datetime.fromtimestamp(ctx.now(), UTC)
    start = datetime.fromtimestamp(end.timestamp() - a.minutes * 60, UTC)
    result = _call(ctx, "prometheus_query_range", a, lambda: ctx.prometheus.custom_query_range(
        a.query, start_time=start, end_time=end, step=f"{a.step_s}s"))
    if isinstance(result, ToolResult):
        return result
    if not result:
        return ToolResult(tool="prometheus_query_range", args=a.model_dump(), status="no_data",
                          text=f"no series match {a.query} in the last {a.minutes} minutes")
    lines = [f"{len(result)} series over the last {a.minutes}m, step {a.step_s}s "
             "(anomalies: robust z-score > 3.5 against the first third of the window)"]
    summaries = []
    for series in result:
        points = [(float(t), float(v)) for t, v in series["values"]]
        summaries.append((series["metric"], summarize(points)))
    summaries.sort(key=lambda ms: (-len(ms[1].windows), -abs(ms[1].last)))
    for metric, summary in summaries[: a.limit]:
        lines.append(f"{_labels(metric)}: {summary.describe()}")
    if len(summaries) > a.limit:
        lines.append(f"... {len(summaries) - a.limit} more series")
    return ToolResult(tool="prometheus_query_range", args=a.model_dump(), status="success",
                      text="\n".join(lines),
                      data=[{"metric": m, "last": s.last, "windows": s.windows} for m, s in summaries])


class MetricNames(Args):
    contains: str = Field(default="", description="only names containing this text, e.g. 'memory'")
    limit: int = Field(default=100, ge=1, le=1000)


def _names(ctx: ToolContext, a: MetricNames) -> ToolResult:
    result = _call(ctx, "prometheus_metric_names", a, ctx.prometheus.all_metrics)
    if isinstance(result, ToolResult):
        return result
    names = [n for n in result if a.contains.lower() in n.lower()]
    status = "success" if names else "no_data"
    return ToolResult(tool="prometheus_metric_names", args=a.model_dump(), status=status,
                      text="\n".join(names[: a.limit]) or f"no metric name contains {a.contains!r}",
                      data=names)


class LabelValues(Args):
    label: str = Field(description="label name, e.g. namespace, pod, service, node")
    metric: str = Field(default="", description="restrict to series of this metric name")


def _label_values(ctx: ToolContext, a: LabelValues) -> ToolResult:
    selector = a.metric or '{__name__=~".+"}'
    query = f"count by ({a.label}) ({selector})"
    result = _call(ctx, "prometheus_label_values", a, lambda: _query_now(ctx, query))
    if isinstance(result, ToolResult):
        return result
    values = sorted({r["metric"].get(a.label, "") for r in result} - {""})
    return ToolResult(tool="prometheus_label_values", args=a.model_dump(),
                      status="success" if values else "no_data",
                      text=", ".join(values) or f"no values for label {a.label}", data=values)


class Alerts(Args):
    state: str = Field(default="firing", pattern="^(firing|pending|all)$")


def _alerts(ctx: ToolContext, a: Alerts) -> ToolResult:
    def fetch() -> list[dict]:
        r = requests.get(f"{ctx.cfg.prometheus_url}/api/v1/alerts", timeout=ctx.cfg.timeout_s)
        r.raise_for_status()
        return r.json()["data"]["alerts"]

    alerts = [x for x in ctx.retry(fetch, TRANSIENT) if a.state == "all" or x["state"] == a.state]
    alerts = [x for x in alerts if x["labels"].get("alertname") not in ("Watchdog", "InfoInhibitor")]
    if not alerts:
        return ToolResult(tool="prometheus_alerts", args=a.model_dump(), status="no_data",
                          text="no alerts" if a.state == "all" else f"no {a.state} alerts")
    now = ctx.now()
    lines = []
    for x in sorted(alerts, key=lambda x: x["labels"].get("alertname", "")):
        labels = {k: v for k, v in x["labels"].items() if k != "alertname"}
        since = datetime.fromisoformat(x["activeAt"].replace("Z", "+00:00")).timestamp()
        summary = x.get("annotations", {}).get("description") or x.get("annotations", {}).get("summary", "")
        lines.append(f"{x['labels']['alertname']} [{x['state']}, {int((now - since) // 60)}m] "
                     f"{_labels(labels)}: {summary}")
    return ToolResult(tool="prometheus_alerts", args=a.model_dump(), status="success",
                      text="\n".join(lines), data=alerts, untrusted=True)


class Rules(Args):
    contains: str = Field(default="", description="only rules whose name contains this")
    kind: str = Field(default="alert", pattern="^(alert|record)$", description="alerting or recording rules")
    firing_only: bool = Field(default=False)


def _rules(ctx: ToolContext, a: Rules) -> ToolResult:
    def fetch() -> list[dict]:
        r = requests.get(f"{ctx.cfg.prometheus_url}/api/v1/rules", params={"type": a.kind},
                         timeout=ctx.cfg.timeout_s)
        r.raise_for_status()
        return r.json()["data"]["groups"]

    lines, data = [], []
    for group in ctx.retry(fetch, TRANSIENT):
        for rule in group["rules"]:
            if a.contains.lower() not in rule["name"].lower():
                continue
            if a.firing_only and rule.get("state") != "firing":
                continue
            expr = " ".join(rule["query"].split())
            data.append({"name": rule["name"], "expr": expr, "state": rule.get("state")})
            if a.kind == "record":
                lines.append(f"{rule['name']} = {expr[:300]}")
                continue
            lines.append(f"{rule['name']} [{rule.get('state', '?')}, for {rule.get('duration', 0)}s, "
                         f"{rule.get('labels', {}).get('severity', '-')}]: {expr[:300]}")
    return ToolResult(tool="prometheus_rules", args=a.model_dump(), status="success" if lines else "no_data",
                      text="\n".join(lines) or f"no matching {a.kind} rules", data=data)


class Anomalies(Args):
    query: str = Field(description="PromQL of the metric around an alert, e.g. "
                       "rate(container_cpu_cfs_throttled_periods_total[5m])")
    minutes: int = Field(default=60, ge=5, le=360)
    step_s: int = Field(default=60, ge=5, le=3600)


def _anomalies(ctx: ToolContext, a: Anomalies) -> ToolResult:
    ranged = _range(ctx, Range(query=a.query, minutes=a.minutes, step_s=a.step_s, limit=100))
    if ranged.status != "success":
        ranged.tool = "metric_anomalies"
        return ranged
    flagged = [d for d in ranged.data if d["windows"]]
    flagged.sort(key=lambda d: -max(abs(z) for _, _, z in d["windows"]))
    if not flagged:
        return ToolResult(tool="metric_anomalies", args=a.model_dump(), status="no_data",
                          text=f"none of {len(ranged.data)} series departs from its baseline "
                          "(robust z-score > 3.5 against the first third of the window)")
    lines = [f"{len(flagged)} of {len(ranged.data)} series depart from their own baseline "
             "(robust z-score > 3.5 against the first third of the window):"]
    for d in flagged[:15]:
        spans = ", ".join(f"{time.strftime('%H:%M', time.gmtime(s))}-{time.strftime('%H:%M', time.gmtime(e))}"
                          f" (z={z:+.1f})" for s, e, z in d["windows"][:3])
        lines.append(f"{_labels(d['metric'])}: now {d['last']:.4g}; {spans}")
    return ToolResult(tool="metric_anomalies", args=a.model_dump(), status="success",
                      text="\n".join(lines), data=flagged)


class Usage(Args):
    namespace: str = Field(default="shop")
    sort_by: str = Field(default="cpu", pattern="^(cpu|memory)$")


def _usage(ctx: ToolContext, a: Usage) -> ToolResult:
    sel = f'namespace="{a.namespace}",container!=""'
    limits = f'kube_pod_container_resource_limits{{namespace="{a.namespace}"'
    queries = {
        "cpu": f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{sel}}}[5m]))",
        "memory": f"sum by (pod) (container_memory_working_set_bytes{{{sel}}})",
        "cpu_limit": f'sum by (pod) ({limits},resource="cpu"}})',
        "mem_limit": f'sum by (pod) ({limits},resource="memory"}})',
        "throttled": f"sum by (pod) (rate(container_cpu_cfs_throttled_periods_total{{{sel}}}[5m])) / "
                     f"sum by (pod) (rate(container_cpu_cfs_periods_total{{{sel}}}[5m]))",
    }
    values: dict[str, dict[str, float]] = {}
    for key, query in queries.items():
        result = _call(ctx, "pod_resource_usage", a, lambda q=query: _query_now(ctx, q))
        if isinstance(result, ToolResult):
            return result
        values[key] = {r["metric"].get("pod", ""): float(r["value"][1]) for r in result}
    pods = sorted(values["cpu"] or values["memory"], key=lambda p: -values[a.sort_by].get(p, 0))
    if not pods:
        return ToolResult(tool="pod_resource_usage", args=a.model_dump(), status="no_data",
                          text=f"no usage metrics for namespace {a.namespace}")
    lines = []
    for pod in pods:
        cpu, mem = values["cpu"].get(pod, 0.0), values["memory"].get(pod, 0.0)
        cpu_lim, mem_lim = values["cpu_limit"].get(pod), values["mem_limit"].get(pod)
        cpu_share = f" ({cpu / cpu_lim:.0%} of limit)" if cpu_lim else ""
        mem_share = f" ({mem / mem_lim:.0%} of limit)" if mem_lim else ""
        lines.append(f"{pod} cpu={cpu * 1000:.0f}m{cpu_share} memory={mem / 2**20:.0f}Mi{mem_share} "
                     f"throttled={values['throttled'].get(pod, 0.0):.0%}")
    return ToolResult(tool="pod_resource_usage", args=a.model_dump(), status="success",
                      text="\n".join(lines), data=values)


TOOLS = [
    Tool("prometheus_query", "Evaluate a PromQL expression now; returns the matching series and values.",
         Instant, Risk.READ, ("monitor", "diagnose"), _instant),
    Tool("prometheus_query_range", "Evaluate PromQL over a recent window; each series is summarised "
         "(last/min/max/mean, trend, where it departs from its own baseline), not dumped.",
         Range, Risk.READ, ("monitor", "diagnose"), _range),
    Tool("prometheus_metric_names", "List metric names, optionally those containing some text.",
         MetricNames, Risk.READ, ("diagnose",), _names),
    Tool("prometheus_label_values", "List the values a label takes, optionally for one metric.",
         LabelValues, Risk.READ, ("diagnose",), _label_values),
    Tool("prometheus_alerts", "List the alerts Prometheus has firing (or pending) now.",
         Alerts, Risk.READ, ("monitor", "diagnose"), _alerts),
    Tool("prometheus_rules", "List alerting rules (name, state, for, severity, expression).",
         Rules, Risk.READ, ("monitor", "diagnose"), _rules),
    Tool("metric_anomalies", "For a metric around an alert, the series that depart from their own "
         "baseline and when (robust z-scores).", Anomalies, Risk.READ, ("diagnose",), _anomalies),
    Tool("pod_resource_usage", "CPU and memory each pod uses now, against its limits, and how much "
         "it is CPU-throttled.", Usage, Risk.READ, ("monitor", "diagnose"), _usage),
]
