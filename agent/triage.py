"""The monitor's triage of an incoming alert group or message: deduplicate by fingerprint,
decide whether it is an incident, its severity and what it touches. Labels are read as data;
annotations are never interpreted (they can carry anyone's text)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from typing import Any

from opsagent.agent.models import Triage

SEVERITY = {"critical": 3, "warning": 2, "info": 1, "none": 0}
NOT_INCIDENT = {"Watchdog", "InfoInhibitor"}
ROUTINE = "Routine check requested"  # the task when nothing fired and nobody complained
MAX_SHOWN, MAX_CHARS = 30, 300  # alerts quoted in full in the task, characters of each's text
SCOPE_LABELS = ("service", "deployment", "statefulset", "daemonset", "job_name", "container", "pod",
                "node", "instance", "namespace", "persistentvolumeclaim", "horizontalpodautoscaler")


def fingerprint(alert: dict[str, Any]) -> str:
    """Alertmanager's fingerprint when given, else a hash of the label set (as Alertmanager's)."""
    if alert.get("fingerprint"):
        return str(alert["fingerprint"])
    labels = json.dumps(alert.get("labels", {}), sort_keys=True)
    return hashlib.sha256(labels.encode()).hexdigest()[:16]


def _since(alert: dict[str, Any]) -> float | None:
    stamp = alert.get("startsAt")
    if not stamp or stamp.startswith("0001"):
        return None
    try:
        return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def workload(value: str) -> str:
    """A pod name's workload (checkout-7d9f8b6c5d-x2k4q -> checkout)."""
    parts = value.split("-")
    if len(parts) > 2 and len(parts[-1]) == 5 and len(parts[-2]) in (9, 10):
        return "-".join(parts[:-2])
    return value


def triage(alerts: list[dict[str, Any]], core_services: list[str]) -> Triage:
    if not alerts:
        return Triage(is_incident=True, severity="none", services=[], alerts=[],
                      reason="no alert: a question or report from a person; investigate")
    unique = {fingerprint(a): a for a in alerts}
    firing = [a for a in unique.values() if a.get("status", "firing") == "firing"]
    names = sorted({a.get("labels", {}).get("alertname", "?") for a in firing})
    real = [a for a in firing if a.get("labels", {}).get("alertname") not in NOT_INCIDENT]
    severity = max((a.get("labels", {}).get("severity", "warning") for a in real),
                   key=lambda s: SEVERITY.get(s, 2), default="none")
    seen: dict[str, None] = {}  # an ordered set: linear in the alerts, however many
    for a in real:
        for key in SCOPE_LABELS:
            if value := a.get("labels", {}).get(key):
                seen.setdefault(workload(value), None)
    services = list(seen)
    core_set = set(core_services)
    touched = bool(core_set & seen.keys())
    core = [a for a in real if touched and _since(a) is not None
            and any(workload(v) in core_set for v in a.get("labels", {}).values())]
    impact = min((_since(a) for a in core), default=None)  # type: ignore[type-var]
    if not real:
        reason = ("all alerts resolved" if not firing else
                  f"only {', '.join(names)}: heartbeat/inhibition alerts, not an incident")
        return Triage(is_incident=False, severity="none", services=[], alerts=names, reason=reason)
    quiet = SEVERITY.get(severity, 2) < SEVERITY["warning"]  # investigate, but never page for it
    return Triage(is_incident=True, severity=severity, services=services, alerts=names,
                  impact_since=None if quiet else impact,
                  reason=f"{len(real)} firing alert(s) of severity {severity} "
                  f"({len(alerts) - len(unique)} duplicate(s) dropped)")


def describe(alerts: list[dict[str, Any]], shown: int = MAX_SHOWN) -> str:
    """The alerts as the model reads them: labels and annotations are quoted as data. A storm
    is summarised (the first `shown` alerts, then counts by name), since the task is part of
    every checkpoint and of the model's context."""
    if not alerts:
        return f"{ROUTINE} by the on-call: is anything wrong in the cluster? Investigate."
    lines = []
    for a in alerts[:shown]:
        labels = {k: v for k, v in a.get("labels", {}).items() if k not in ("alertname", "severity")}
        notes = a.get("annotations") or {}
        note = str(notes.get("description") or notes.get("summary", ""))
        lines.append(f"- {a.get('labels', {}).get('alertname')} ({a.get('labels', {}).get('severity', '?')}, "
                     f"{a.get('status', 'firing')}) labels={json.dumps(labels, sort_keys=True)[:MAX_CHARS]}: "
                     f"{note[:MAX_CHARS]}{'…' if len(note) > MAX_CHARS else ''}")
    if rest := alerts[shown:]:
        counts = Counter(str(a.get("labels", {}).get("alertname", "?")) for a in rest)
        lines.append(f"- and {len(rest)} more: " + ", ".join(f"{n} ×{c}" for n, c in counts.most_common(20))
                     + (f", {len(counts) - 20} other names" if len(counts) > 20 else ""))
    return "Alertmanager reports these alerts:\n" + "\n".join(lines) + "\nInvestigate and mitigate."
