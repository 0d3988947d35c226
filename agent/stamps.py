"""When each step of an incident happened, on the environment's clock: the graph stamps what a
node added (a tool result, a diagnosis, a gate decision, an execution, a verification), so the
timeline shows a time on every row and a chart can mark the steps on the metric's own axis."""

from __future__ import annotations

from typing import Any

from opsagent.agent.state import IncidentState


def stamp(s: IncidentState, update: dict[str, Any], now: float) -> dict[str, Any]:
    """`update` with "stamps" for what it adds to `s`; unchanged when it adds nothing."""
    new: dict[str, float] = {}
    if "messages" in update:
        for m in update["messages"][len(s.get("messages") or []):]:
            if m.get("role") == "tool" and m.get("tool_call_id"):
                new[f"call:{m['tool_call_id']}"] = now
    if update.get("diagnosis") and update.get("diagnoses"):
        new[f"diagnosis:{len(update['diagnoses']) - 1}"] = now
    for key in ("decisions", "executed", "refused"):
        for i in range(len(s.get(key) or []), len(update.get(key) or [])):
            new[f"{key.removesuffix('s')}:{i}"] = now
    for key in ("triage", "runbook", "stuck", "outcome"):  # the latest of each
        if update.get(key) and update.get(key) != s.get(key):
            new[key] = now
    if update.get("verification") and not s.get("verification"):
        new[f"verification:{len(s.get('verifications') or [])}"] = now
    if not new:
        return update
    return {**update, "stamps": {**(s.get("stamps") or {}), **update.get("stamps", {}), **new}}
