"""Scenarios: composition, generation, leak-free splits and clear errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from opsagent.sandbox.errors import InvalidError, UnknownFaultError
from opsagent.sandbox.faults import incident_faults
from opsagent.sandbox.scenario import FaultSpec, Scenario, ScenarioSpec, generate, split
from tests.conftest import fork


def test_two_faults_at_once_need_both_mitigations():
    sc = Scenario.build(ScenarioSpec(seed=4, faults=[
        FaultSpec(type="bad_rollout", target="cart"),
        FaultSpec(type="tls_cert_expired"),
    ]))
    truths = sc.ground_truth()
    assert [t.fault for t in truths] == ["bad_rollout", "tls_cert_expired"]
    half = fork(sc)
    for action in truths[0].mitigations[0]:
        half.apply(action)
    half.advance(600)
    assert not half.mitigated()
    for truth in truths:
        for action in truth.mitigations[0]:
            sc.apply(action)
    sc.advance(600)
    assert sc.mitigated() and sc.health().slo_ok


def test_a_fault_with_a_red_herring():
    sc = Scenario.build(ScenarioSpec(seed=4, faults=[
        FaultSpec(type="memory_leak", target="cart"), FaultSpec(type="benign_restart"),
    ]))
    real, herring = sc.ground_truth()
    assert real.is_incident and not herring.is_incident
    for action in real.mitigations[0]:
        sc.apply(action)
    sc.advance(600)
    assert sc.mitigated()


def test_onset_lies_inside_the_history():
    sc = Scenario.build(ScenarioSpec(seed=9, faults=[FaultSpec(type="bad_rollout", onset_s=600)]))
    fault = sc.faults[0]
    assert fault.onset == sc.spec.now - 600
    before = [f for f in sc.world.frames if f.t < fault.onset]
    after = [f for f in sc.world.frames if f.t > fault.onset + 120]
    assert all(f.health[0] < 0.01 for f in before)
    assert all(f.health[0] > 0.01 for f in after)


def test_unknown_fault_and_bad_target_are_named():
    with pytest.raises(UnknownFaultError, match="no_such_fault"):
        Scenario.build(ScenarioSpec(faults=[FaultSpec(type="no_such_fault")]))
    with pytest.raises(InvalidError, match=r"faults\[0\].target"):
        Scenario.build(ScenarioSpec(faults=[FaultSpec(type="memory_leak", target="postgres")]))
    with pytest.raises(ValidationError, match="severity"):
        FaultSpec(type="memory_leak", severity=0)


def test_generate_covers_every_fault_target_and_seed():
    specs = generate(seeds=range(2))
    assert {s.faults[0].type for s in specs} == set(incident_faults())
    assert {s.seed for s in specs} == {0, 1}
    assert len({s.id for s in specs}) == len(specs)


@pytest.mark.parametrize(("by", "held"), [
    ("seed", {2}), ("fault", {"dns_failure", "memory_leak"}), ("target", {"checkout"}),
])
def test_splits_do_not_leak(by, held):
    specs = generate(seeds=range(3), with_noise=True)
    train, rest = split(specs, by, held)
    assert train and rest and len(train) + len(rest) == len(specs)

    def keys(spec):
        return {"seed": {spec.seed}, "fault": {f.type for f in spec.faults},
                "target": {f.target for f in spec.faults}}[by]

    assert all(not keys(s) & held for s in train)
    assert all(keys(s) & held for s in rest)
