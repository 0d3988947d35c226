"""The charts on an incident's page: the alert's own expression over the incident window and
the golden signals of the services it names, read with range queries through the Prometheus
client the tools use, with the incident's steps marked on the same (environment) time axis."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from opsagent.agent.triage import workload
from opsagent.agent.verify import alert_rules
from opsagent.serve.schemas import ChartPanel, Charts, ChartSeries, Marker, TimelineEntry

BEFORE_S = 900.0  # context before the first alert
MAX_POINTS = 240
MAX_SERIES = 8
MARKED = {"diagnosis": "diagnosis", "approval": "approval", "executed": "action",
          "verification": "verification", "outcome": "outcome"}


def golden(namespace: str, service: str) -> list[tuple[str, str, str]]:
    """(title, PromQL, unit) of a service's golden signals, as the shop's services expose them."""
    sel = f'namespace="{namespace}",service="{service}"'
    pods = f'namespace="{namespace}",pod=~"{service}-.*"'
    return [
        (f"{service}: request rate", f"sum(rate(http_requests_total{{{sel}}}[5m]))", "req/s"),
        (f"{service}: error ratio", f'sum(rate(http_requests_total{{{sel},code=~"5.."}}[5m])) / '
         f"sum(rate(http_requests_total{{{sel}}}[5m]))", "ratio"),
        (f"{service}: p99 latency", "histogram_quantile(0.99, sum by (le) (rate("
         f"http_request_duration_seconds_bucket{{{sel}}}[5m])))", "s"),
        (f"{service}: CPU against limit",
         f'sum(rate(container_cpu_usage_seconds_total{{{pods},container!=""}}[5m])) / '
         f'sum(kube_pod_container_resource_limits{{{pods},resource="cpu"}})', "ratio"),
    ]


def services(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(namespace, service) the alerts name, through a service, deployment or pod label."""
    seen: dict[tuple[str, str], None] = {}
    for a in alerts:
        labels = a.get("labels") or {}
        name = labels.get("service") or labels.get("deployment") or (
            workload(labels["pod"]) if labels.get("pod") else None)
        if name and labels.get("namespace"):
            seen.setdefault((labels["namespace"], name), None)
    return list(seen)


def _stamp(value: str | None) -> float | None:
    if not value or value.startswith("0001-"):
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def named(alerts: list[dict[str, Any]]) -> set[str]:
    """Every label value of the alerts, and the workloads their pod labels belong to."""
    out: set[str] = set()
    for a in alerts:
        labels = a.get("labels") or {}
        out |= set(labels.values())
        if labels.get("pod"):
            out.add(workload(labels["pod"]))
    return out


def markers(alerts: list[dict[str, Any]], entries: list[TimelineEntry],
            onsets: list[dict[str, Any]] | None = None) -> list[Marker]:
    """The steps of the incident; and the onset of each known fault whose target the alerts
    name (a sandbox knows them; a real cluster does not)."""
    names = named(alerts)
    out = [Marker(at=f["onset"], kind="onset", label=f"{f['fault']} on {f['target']} began")
           for f in onsets or [] if f["target"] in names]
    for a in alerts:
        name = (a.get("labels") or {}).get("alertname", "alert")
        if (start := _stamp(a.get("startsAt"))) is not None:
            out.append(Marker(at=start, kind="firing", label=f"{name} firing"))
        if a.get("status") == "resolved" and (end := _stamp(a.get("endsAt"))) is not None:
            out.append(Marker(at=end, kind="resolved", label=f"{name} resolved"))
    for e in entries:
        kind = MARKED.get(e.kind.split(" ")[0])
        if kind and e.at is not None:
            if kind == "verification" and not e.data.get("cleared"):
                continue
            out.append(Marker(at=e.at, kind=kind, label=e.summary[:80]))
    return sorted(out, key=lambda m: m.at)


def _panel(ctx: Any, title: str, expr: str, unit: str, start: float, end: float,
           link: str = "") -> ChartPanel:
    step = max(15, math.ceil((end - start) / MAX_POINTS))
    try:
        raw = ctx.prometheus.custom_query_range(
            expr, start_time=dt.datetime.fromtimestamp(start, dt.UTC),
            end_time=dt.datetime.fromtimestamp(end, dt.UTC), step=f"{step}s")
    except Exception as exc:
        return ChartPanel(title=title, expr=expr, unit=unit, link=link, error=str(exc)[:300])
    series = [ChartSeries(labels=r.get("metric") or {},
                          points=[(float(t), float(v)) for t, v in r.get("values") or []
                                  if math.isfinite(float(v))])
              for r in raw[:MAX_SERIES]]
    return ChartPanel(title=title, expr=expr, unit=unit, link=link, series=series)


def charts(ctx: Any, registry: Any, state: dict[str, Any], entries: list[TimelineEntry],
           now: float, onsets: list[dict[str, Any]] | None = None) -> Charts:
    """The alerts' expressions first, then two services' golden signals, and the markers."""
    alerts = state.get("alerts") or []
    marks = markers(alerts, entries, onsets)
    names = sorted({(a.get("labels") or {}).get("alertname", "") for a in alerts} - {""})
    starts = [t for a in alerts if (t := _stamp(a.get("startsAt"))) is not None]
    times = [e.at for e in entries if e.at is not None]
    begun = [m.at for m in marks if m.kind == "onset"]
    start = min([*starts, *times, *begun, now]) - BEFORE_S
    end = min(now, max(times, default=now) + 300) if state.get("outcome") else now
    rules = alert_rules(registry, ctx)(names) if names else {}
    links = {(a.get("labels") or {}).get("alertname"): a.get("generatorURL", "") for a in alerts}
    out = [_panel(ctx, f"{name} (alert rule)", expr, "", start, end, links.get(name) or "")
           for name, expr in list(rules.items())[:3]]
    for namespace, service in services(alerts)[:2]:
        for title, expr, unit in golden(namespace, service):
            out.append(_panel(ctx, title, expr, unit, start, end))
    return Charts(start=start, end=end, panels=out, markers=marks)
