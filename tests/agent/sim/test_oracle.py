"""The privileged oracle: exact diagnoses, and ground-truth remedies carried out through the
tools (so the mapping from sandbox actions to tool calls is proven on every fault)."""

from __future__ import annotations

import time

import pytest

from opsagent.agent.models import Diagnosis
from opsagent.agent.sim.oracle import Oracle
from opsagent.sandbox.faults import FAULTS
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from tests.live import requires_stack

pytestmark = [pytest.mark.slow, requires_stack]
NO_TOOL_CAN = {"node_disk_full"}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_oracle_answers_and_its_remedy_works(fault, box, ctx, registry):
    box.load(ScenarioSpec(faults=[FaultSpec(type=fault)], seed=6, now=time.time()), fault)
    truth = box.scenario.ground_truth()[0]
    answer = Oracle(box.scenario).next([{"role": "user", "content": "An alert fired."}], registry.openai())
    assert "tool_calls" not in answer  # it answers at once
    d = Diagnosis.model_validate_json(answer["content"])
    assert d.is_incident == truth.is_incident
    if not truth.is_incident:
        return
    assert d.components == truth.components and d.summary.startswith("privileged oracle")
    if fault in NO_TOOL_CAN:
        assert d.remediation == []
        return
    assert d.remediation
    for step in d.remediation:
        result = registry.call(ctx, step["tool"], step["args"])
        assert result.status == "success", (step, result.error)
    box.scenario.advance(600)
    assert box.scenario.mitigated()
