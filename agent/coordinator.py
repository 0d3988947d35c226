"""The coordinator node owns routing, the budget and time-based paging; monitor triages the
input; escalate and report end the incident. Each node is one function of (deps, state) that
returns a partial update of the JSON state."""

from __future__ import annotations

import json
from typing import Any

from langgraph.graph import END

from opsagent.agent.deps import Deps
from opsagent.agent.notify import Page
from opsagent.agent.react import ROUND
from opsagent.agent.report import render
from opsagent.agent.state import IncidentState, usage_of
from opsagent.agent.triage import triage


def coordinator(d: Deps, s: IncidentState) -> dict[str, Any]:
    update: dict[str, Any] = {}
    if "usage" not in s:
        update.update(usage=usage_of(s), started_at=d.clock(), decisions=[], approvals=[],
                      executed=[], refused=[], escalations=[], messages=[], model_calls=[],
                      cursor=0, repairs=0, round=0, diagnosis=None, diagnoses=[], runbook=None,
                      outcome=None)
    state = {**s, **update}
    page = _page_if_long(d, state)  # type: ignore[arg-type]
    if page:
        update["escalations"] = [*state["escalations"], page]
    route, extra = _route(state, d.config.budgets.max_rounds)  # type: ignore[arg-type]
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


def _route(s: IncidentState, max_rounds: int) -> tuple[str, dict[str, Any]]:
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
    failing = s["verification"].get("still_failing") or {}
    if failing and s.get("round", 0) + 1 < max_rounds:
        return "diagnose", _next_round(s, failing)
    return "escalate", {"escalate": "actions were taken but the symptoms persist: "
                        + "; ".join(sorted(failing))[:600]}


def _next_round(s: IncidentState, failing: dict[str, str]) -> dict[str, Any]:
    """Symptoms persist after this round's actions (another fault may be burning): the policy
    is asked again, with what still fails; its next diagnosis is recorded beside this one."""
    done = "; ".join(f"{e['tool']} {json.dumps(e['args'], sort_keys=True)} ({e['status']})"
                     for e in s["executed"]) or "none"
    checks = "\n".join(f"- {q}" + (f" => {text.splitlines()[0][:200]}" if text else "")
                       for q, text in sorted(failing.items())[:8])
    ask = {"role": "user", "content": f"{ROUND} ({done}). These checks still fail:\n{checks}\n"
           "Investigate what is still wrong: another fault may be burning. Answer with a new "
           "Diagnosis of it, or with an empty remediation to hand over to a human."}
    return {"round": s.get("round", 0) + 1, "messages": [*s["messages"], ask], "diagnosis": None,
            "runbook": None, "verification": None, "cursor": 0,
            "verifications": [*(s.get("verifications") or []), s["verification"]]}


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
