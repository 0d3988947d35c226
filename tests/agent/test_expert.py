"""The expert policy on every fault of the catalogue, through the whole graph and the live
sandbox's real clients: it must find the incident (or its absence), the faulty component, the
level and the type; its remediation, gated and carried out, must mitigate the incident."""

from __future__ import annotations

import time

import jsonschema
import pytest

from opsagent.agent.expert import Expert
from opsagent.agent.models import FAULT_TYPES, LEVELS, Diagnosis, answer_schema
from opsagent.agent.runner import auto_approve
from opsagent.sandbox.faults import FAULTS
from opsagent.sandbox.faults.base import FaultType, Level
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from tests.agent.harness import agent
from tests.live import requires_stack


def test_the_guided_answer_schema_is_the_diagnosis_bounded():
    """Guided decoding holds answers to it (agent.llm): the Diagnosis' fields in their order, and
    the levels and fault types the simulator's ground truth uses."""
    schema = answer_schema()
    assert list(schema["properties"]) == list(Diagnosis.model_fields)
    assert set(schema["required"]) == {n for n, f in Diagnosis.model_fields.items() if f.is_required()}
    assert tuple(Level) == LEVELS and tuple(FaultType) == FAULT_TYPES
    jsonschema.Draft202012Validator.check_schema(schema)
    with pytest.raises(jsonschema.ValidationError, match="too long"):
        jsonschema.validate({"is_incident": True, "hypothesis": "x" * 81, "components": [], "summary": "",
                             "confidence": 0.5}, schema)


@pytest.mark.slow
@requires_stack
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_expert_diagnoses_and_mitigates(fault, box, registry, tmp_path):
    box.load(ScenarioSpec(faults=[FaultSpec(type=fault)], seed=5, now=time.time()), fault)
    truth = box.scenario.ground_truth()[0]
    with agent(box, registry, tmp_path, Expert()) as runner:
        runner.start("inc", "An alert fired in the shop; investigate.", [], source="chat")
        state = runner.drive("inc", auto_approve)
    diagnosis = state["diagnosis"]
    assert diagnosis is not None and state["usage"]["malformed"] == 0
    jsonschema.validate(diagnosis, answer_schema())  # the teacher's answer fits guided decoding's bounds
    assert diagnosis["is_incident"] == truth.is_incident
    assert state["messages"][2]["role"] == "assistant" and state["messages"][2]["tool_calls"]
    if not truth.is_incident:
        assert state["outcome"] == "no_incident" and not state["executed"]
        return
    assert set(diagnosis["components"]) & set(truth.components), (diagnosis["components"], truth.components)
    assert diagnosis["level"] == truth.level.value and diagnosis["fault_type"] == truth.fault_type.value
    assert diagnosis["evidence"]
    # Its symptom, written before its conclusion, is the finding its evidence leads with.
    assert diagnosis["symptom"] == diagnosis["evidence"][0]["finding"]
    if fault in ("node_disk_full", "dns_failure"):  # no tool may fix it (a node's disk; kube-system)
        assert state["outcome"] == "escalated" and not state["executed"]
        return
    assert all(e["status"] == "success" for e in state["executed"]), state["executed"]
    assert state["outcome"] == "mitigated" and box.scenario.mitigated(), state["report"]
