"""An incident's timeline, as an SRE reads it: the alerts as they arrived (and were
redelivered or resolved), then what the agent did, in order: triage, investigation,
diagnosis with its evidence, runbook, gate decisions, approvals, actions, verification,
escalations, outcome."""

from __future__ import annotations

import json
from typing import Any

from opsagent.serve.schemas import TimelineEntry


def _call(action: dict[str, Any]) -> str:
    return f"{action.get('tool')} {json.dumps(action.get('args') or {}, sort_keys=True)}"


def agent_entries(state: dict[str, Any]) -> list[TimelineEntry]:
    out: list[TimelineEntry] = []
    stamps = state.get("stamps") or {}
    add = lambda kind, summary, data=None, at=None: out.append(  # noqa: E731
        TimelineEntry(at=at, kind=kind, summary=summary, data=data or {})
    )
    if t := state.get("triage"):
        add("triage", t.get("reason", ""), t, stamps.get("triage"))
    messages = state.get("messages") or []
    results = {m.get("tool_call_id"): m.get("content", "") for m in messages if m.get("role") == "tool"}
    for m in messages:
        for c in m.get("tool_calls") or []:
            fn = c["function"]
            add("tool call", f"{fn['name']}({fn['arguments'][:300]})",
                {"tool": fn["name"], "arguments": fn["arguments"], "result": results.get(c["id"])},
                stamps.get(f"call:{c['id']}"))
    if state.get("stuck"):
        add("stuck", state["stuck"], at=stamps.get("stuck"))
    rounds = state.get("diagnoses") or ([state["diagnosis"]] if state.get("diagnosis") else [])
    for i, d in enumerate(rounds):  # several when a fault was still burning after the first was fixed
        add(
            "diagnosis",
            f"{d.get('hypothesis')}: {d.get('summary')} [{', '.join(d.get('components') or [])}]",
            d,
            stamps.get(f"diagnosis:{i}"),
        )
    if book := state.get("runbook"):
        add("runbook", "; ".join(_call(a) for a in book.get("actions") or []) or "no action", book,
            stamps.get("runbook"))
    for i, decision in enumerate(state.get("decisions") or []):
        again = " (re-checked before it ran)" if decision.get("recheck") else ""
        add(
            f"gate {decision['verdict']}{again}",
            f"{_call(decision['action'])} ({decision.get('rule')}: {decision.get('reason')})",
            decision,
            stamps.get(f"decision:{i}"),
        )
    for a in state.get("approvals") or []:
        add(
            "approval",
            f"{a['decision']} by {a['by']} ({a['role']})" + (f": {a['reason']}" if a.get("reason") else ""),
            a,
            a.get("at"),
        )
    for i, e in enumerate(state.get("executed") or []):
        first = (e.get("text") or "").splitlines()[:1]
        add("executed", f"{_call(e)} → {e.get('status')}: {first[0] if first else ''}", e,
            stamps.get(f"executed:{i}"))
    for i, r in enumerate(state.get("refused") or []):
        add("refused", r.get("reason") or json.dumps(r)[:300], r, stamps.get(f"refused:{i}"))
    last = [state["verification"]] if state.get("verification") else []
    for i, v in enumerate([*(state.get("verifications") or []), *last]):
        add(
            "verification",
            f"{'cleared' if v.get('cleared') else 'NOT cleared'} after {v.get('after_s', 0):.0f}s",
            v,
            stamps.get(f"verification:{i}"),
        )
    for e in state.get("escalations") or []:
        add(e.get("kind", "escalation"), e.get("reason", ""), e, e.get("at"))
    if state.get("outcome"):
        add("outcome", state["outcome"], at=stamps.get("outcome"))
    return out


def timeline(events: list[dict[str, Any]], state: dict[str, Any]) -> list[TimelineEntry]:
    """Arrivals first (the first alert opened the incident), the agent's work, then later
    arrivals (more alerts, redeliveries, resolution) in the order they came."""
    arrivals = [TimelineEntry(**e) for e in events]
    return [*arrivals[:1], *agent_entries(state), *arrivals[1:]]
