"""The expert policy on every fault of the catalogue, through the live sandbox's real clients:
it must find the incident (or its absence), the faulty component, the level and the type, and
its proposed remediation, once carried out, must mitigate the incident."""

from __future__ import annotations

import time

import pytest

from agent.expert import Expert
from agent.react import investigate
from sandbox.faults import FAULTS
from sandbox.scenario import FaultSpec, ScenarioSpec
from tests.live import requires_stack

pytestmark = [pytest.mark.slow, requires_stack]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_expert_diagnoses_and_mitigates(fault, box, ctx, registry):
    box.load(ScenarioSpec(faults=[FaultSpec(type=fault)], seed=5, now=time.time()), fault)
    truth = box.scenario.ground_truth()[0]
    transcript = investigate(Expert(), registry, ctx, "An alert fired in the shop; investigate.")
    diagnosis = transcript.diagnosis
    assert diagnosis is not None and transcript.malformed_calls == 0
    assert diagnosis.is_incident == truth.is_incident
    assert transcript.messages[2]["role"] == "assistant" and transcript.messages[2]["tool_calls"]
    if not truth.is_incident:
        return
    assert set(diagnosis.components) & set(truth.components), (diagnosis.components, truth.components)
    assert diagnosis.level == truth.level.value and diagnosis.fault_type == truth.fault_type.value
    assert diagnosis.evidence
    if not diagnosis.remediation:  # no tool can fix it (e.g. a node's disk): escalate
        assert fault in ("node_disk_full", "dns_failure", "db_credentials_revoked", "tls_cert_expired")
        return
    for step in diagnosis.remediation:
        result = registry.call(ctx, step["tool"], step["args"])
        assert result.status == "success", result.error
    box.scenario.advance(600)
    assert box.scenario.mitigated(), diagnosis.remediation
