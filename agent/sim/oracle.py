"""The `oracle` policy (sandbox only, privileged): it reads the scenario's ground truth and takes
the shortest correct path, so it is the reference for minimal steps and gold training data.
Only graders and this policy may read ground truth; it is labelled as such in what it writes."""

from __future__ import annotations

from typing import Any

from opsagent.agent.models import Diagnosis, Evidence
from opsagent.sandbox.scenario import Scenario
from opsagent.trajectories.actions import as_tool_call


class Oracle:
    """Answers at once from ground truth: no investigation, the first remedy that tools can
    carry out (or escalation when none can)."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario

    def next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
             answer: bool = False) -> dict[str, Any]:
        world = self.scenario.world  # several faults: those still unmitigated first
        faults = sorted((f for f in self.scenario.faults if f.is_incident), key=lambda f: f.mitigated(world))
        truths = [f.ground_truth(world) for f in faults]
        if not truths:
            diagnosis = Diagnosis(is_incident=False, hypothesis="no incident", components=[],
                                  summary="privileged oracle: the scenario has no incident", confidence=1.0)
            return {"role": "assistant", "content": diagnosis.model_dump_json()}
        truth = truths[0]
        remediation: list[dict[str, Any]] = []
        for option in truth.mitigations:
            calls = [as_tool_call(a) for a in option]
            if all(calls):
                remediation = [{**c, "why": "ground-truth mitigation"} for c in calls]  # type: ignore[dict-item]
                break
        diagnosis = Diagnosis(
            is_incident=True, hypothesis=truth.fault.replace("_", " "), components=truth.components,
            level=truth.level.value if truth.level else None,
            fault_type=truth.fault_type.value if truth.fault_type else None,
            summary=f"privileged oracle: {truth.summary}", confidence=1.0,
            evidence=[Evidence(tool="ground_truth", finding=truth.summary)], remediation=remediation)
        return {"role": "assistant", "content": diagnosis.model_dump_json()}
