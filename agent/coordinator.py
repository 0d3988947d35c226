"""The coordinator node owns routing, the budget and time-based paging; monitor triages the
input; escalate and report end the incident. Each node is one function of (deps, state) that
returns a partial update of the JSON state."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END

from opsagent.agent.deps import Deps
from opsagent.agent.notify import Page
from opsagent.agent.report import render
from opsagent.agent.state import IncidentState, usage_of
from opsagent.agent.triage import triage


def coordinator(d: Deps, s: IncidentState) -> dict[str, Any]:
    update: dict[str, Any] = {}
    if "usage" not in s:
        update.update(usage=usage_of(s), started_at=d.clock(), decisions=[], approvals=[],
                      executed=[], refused=[], escalations=[], messages=[], model_calls=[],
                      cursor=0, repairs=0, diagnosis=None, runbook=None, outcome=None)
    state = {**s, **update}
    page = _page_if_long(d, state)  # type: ignore[arg-type]
    if page:
        update["escalations"] = [*state["escalations"], page]
    route, extra = _route(state)  # type: ignore[arg-type]
    return {**update, **extra, "route": route}


def _page_if_long(d: Deps, s: IncidentState) -> dict[str, Any] | None:
    since = (s.get("triage") or {}).get("impact_since")
    minutes = d.config.escalation.page_after_minutes
    if since is None or any(e["kind"] == "page" for e in s["escalations"]) or s.get("outcome"):
        return None
    if d.clock() - since < minutes * 60:
        return None
    reason = f"a core service is impacted for more than {minutes:g} minutes"
    return send_page(d, s, reason)


def send_page(d: Deps, s: IncidentState, reason: str) -> dict[str, Any]:
    t = s.get("triage") or {}
    summary = (s.get("diagnosis") or {}).get("summary") or s.get("task", "")[:500]
    sent = d.notifier.page(Page(incident=s["incident_id"], severity=t.get("severity", "warning"),
                                     reason=reason, summary=summary, services=t.get("services", [])))
    return {"kind": "page", "reason": reason, "at": d.clock(), **sent}


def _route(s: IncidentState) -> tuple[str, dict[str, Any]]:
    if s.get("outcome") or s.get("escalate"):
        return ("escalate" if s.get("escalate") else "report"), {}
    if not s.get("triage"):
        return "monitor", {}
    if not s["triage"]["is_incident"]:
        return "report", {"outcome": "no_incident"}
    if s.get("diagnosis") is None:
        if s.get("stuck"):
            return "escalate", {"escalate": s["stuck"]}
        return "diagnose", {}
    if not s["diagnosis"]["is_incident"]:
        return "report", {"outcome": "no_incident"}
    if s.get("runbook") is None:
        return "repair", {}
    if s["cursor"] < len(s["runbook"]["actions"]):
        return "gate", {}
    if s.get("verification") is None:
        return "verify", {}
    if s["verification"].get("cleared"):
        return "report", {"outcome": "mitigated"}
    return "escalate", {"escalate": "actions were taken but the symptoms persist"}


def monitor(d: Deps, s: IncidentState) -> dict[str, Any]:
    verdict = triage(s.get("alerts") or [], d.config.escalation.core_services)
    return {"triage": verdict.model_dump(), "route": "coordinator"}


def escalate(d: Deps, s: IncidentState) -> dict[str, Any]:
    reason = s.get("escalate") or "escalated"
    page = send_page(d, s, reason)
    return {"escalations": [*s["escalations"], {**page, "kind": "escalation"}],
            "outcome": "escalated", "escalate": None, "route": "report"}


def report(d: Deps, s: IncidentState) -> dict[str, Any]:
    return {"report": render(s), "route": END}
