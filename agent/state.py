"""An incident's state in the graph: what a trajectory records (trajectories.records), plus the
graph's own bookkeeping. JSON only, so every transition is a checkpoint anyone can read back."""

from __future__ import annotations

from typing import Any

from opsagent.trajectories.records import RecordedState, RefusalRecord, Usage, new_usage


class IncidentState(RecordedState, total=False):
    incident_id: str
    source: str                      # alertmanager | chat | scenario
    requested_by: str | None         # who asked in a chat (separation of duties)
    task: str                        # what the user or the alert asked, as the model reads it
    alerts: list[dict[str, Any]]
    round: int                       # which diagnosis round (a fault still firing starts another)
    cursor: int                      # the runbook action being gated, approved or executed
    refused: list[RefusalRecord]     # never proposed again
    replan: str | None               # why the runbook must be made again
    repairs: int
    started_at: float
    escalate: str | None             # the reason to hand over to a human
    route: str


def usage_of(s: IncidentState) -> Usage:
    """A copy of what the policy spent so far (zero before the first step)."""
    return Usage(**s["usage"]) if s.get("usage") else new_usage()
