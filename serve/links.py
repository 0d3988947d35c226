"""Links out of an incident page, to where an SRE would go next: the Prometheus graph of each
alert's expression, the alert in the Alertmanager that sent it and a silence form filled in
with its labels, and each pod or workload it names in the cluster's dashboard (when one is
configured). Only http(s) addresses become links: alert payloads are not trusted."""

from __future__ import annotations

import string
from typing import Any
from urllib.parse import quote, urlsplit

from opsagent.agent.triage import fingerprint
from opsagent.serve.schemas import Link

MAX_ALERTS = 10
KINDS = {"pod": "pod", "deployment": "deployment", "statefulset": "statefulset", "daemonset": "daemonset",
         "service": "service", "node": "node"}
PLACES = {"namespace", "kind", "name"}


def check_dashboard(template: str) -> str:
    """A dashboard address template names only {namespace}, {kind} and {name}."""
    if urlsplit(template).scheme not in ("http", "https"):
        raise ValueError("service.dashboard_url: must be an http(s) address")
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    if fields - PLACES:
        raise ValueError(f"service.dashboard_url: unknown placeholder(s) {sorted(fields - PLACES)}; "
                         "use {namespace}, {kind} and {name}")
    return template


def _web(url: str | None) -> bool:
    return bool(url) and urlsplit(url).scheme in ("http", "https")


def matchers(labels: dict[str, str]) -> str:
    """Alertmanager's filter syntax: {a="x",b="y"}, values escaped as PromQL strings."""
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"')
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items())) + "}"


def alert_links(events: list[dict[str, Any]]) -> list[Link]:
    out: list[Link] = []
    seen: set[str] = set()
    for e in events:
        am = (e.get("data") or {}).get("alertmanager")
        for a in (e.get("data") or {}).get("alerts") or []:
            labels = a.get("labels") or {}
            key = fingerprint(a)
            if key in seen or len(seen) >= MAX_ALERTS:
                continue
            seen.add(key)
            name = labels.get("alertname", "alert")
            if _web(a.get("generatorURL")):
                out.append(Link(kind="prometheus", title=f"{name}: Prometheus graph", url=a["generatorURL"]))
            if _web(am):
                base, f = am.rstrip("/"), quote(matchers(labels), safe="")
                out.append(Link(kind="alertmanager", title=f"{name} in Alertmanager",
                                url=f"{base}/#/alerts?silenced=true&inhibited=true&filter={f}"))
                comment = quote(f"opsagent: {name} is being handled", safe="")
                out.append(Link(kind="silence", title=f"silence {name}",
                                url=f"{base}/#/silences/new?filter={f}&comment={comment}"))
    return out


def objects(alerts: list[dict[str, Any]], components: list[str]) -> list[tuple[str, str, str]]:
    """(namespace, kind, name) the alerts' labels and the diagnoses' components name."""
    seen: dict[tuple[str, str, str], None] = {}
    for a in alerts:
        labels = a.get("labels") or {}
        for label, kind in KINDS.items():
            if labels.get(label):
                seen.setdefault((labels.get("namespace", "") if kind != "node" else "", kind, labels[label]))
    for c in components:
        parts = c.split("/")
        if len(parts) == 3 and parts[1].lower() in KINDS:
            seen.setdefault((parts[0], parts[1].lower(), parts[2]))
    return list(seen)


def dashboard_links(template: str | None, alerts: list[dict[str, Any]], components: list[str]) -> list[Link]:
    if not template:
        return []
    out = []
    for namespace, kind, name in objects(alerts, components)[:MAX_ALERTS]:
        where = f"{namespace}/{name}" if namespace else name
        url = template.format(namespace=quote(namespace, safe=""), kind=kind, name=quote(name, safe=""))
        out.append(Link(kind="dashboard", title=f"{kind} {where} in the dashboard", url=url))
    return out


def links(events: list[dict[str, Any]], state: dict[str, Any], dashboard: str | None) -> list[Link]:
    alerts = [a for e in events for a in (e.get("data") or {}).get("alerts") or []]
    rounds = state.get("diagnoses") or ([state["diagnosis"]] if state.get("diagnosis") else [])
    components = [c for d in rounds for c in d.get("components") or []]
    return [*alert_links(events), *dashboard_links(dashboard, alerts, components)]
