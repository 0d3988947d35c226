"""Every fault in the catalogue, played out for real: its symptoms show in metrics, events and
logs; one of its ground-truth mitigations resolves it; a harmful action makes it worse; and the
same seed rebuilds the same world."""

from __future__ import annotations

import pytest

from opsagent.sandbox.actions import parse_action
from opsagent.sandbox.faults import FAULTS, Level
from opsagent.sandbox.faults.base import missing_symptoms
from opsagent.sandbox.scenario import Scenario
from tests.conftest import build, fork

ALL = sorted(FAULTS)
INCIDENTS = sorted(k for k, f in FAULTS.items() if f.is_incident)
_CACHE: dict[str, Scenario] = {}


def scenario(fault: str) -> Scenario:
    if fault not in _CACHE:
        _CACHE[fault] = build(fault, seed=5)
    return fork(_CACHE[fault])


def mean_badness(sc: Scenario, ticks: int) -> float:
    total = 0.0
    for _ in range(ticks):
        sc.world.tick()
        total += sc.health().badness()
    return total / ticks


def test_catalogue_is_broad():
    assert len(INCIDENTS) >= 20
    categories = {FAULTS[f].category for f in INCIDENTS}
    assert {"application", "configuration", "resource", "node", "network", "dependency",
            "operator"} <= categories
    assert {FAULTS[f].level for f in INCIDENTS} == set(Level)
    assert len(ALL) > len(INCIDENTS), "no red herrings"


@pytest.mark.parametrize("fault", ALL)
def test_symptoms_appear(fault):
    sc = scenario(fault)
    f = sc.faults[0]
    symptoms = f.symptoms(sc.world)
    assert symptoms.metrics, "every fault must show in metrics"
    assert symptoms.logs, "every fault must show in logs"
    assert symptoms.events or symptoms.no_events_because
    assert missing_symptoms(sc.world, symptoms, since=f.onset) == []
    # Before the onset the shop was healthy: nothing of it is visible yet.
    before = [e for e in sc.world.events if e.last_timestamp < f.onset and e.type == "Warning"]
    assert before == []


@pytest.mark.parametrize("fault", INCIDENTS)
def test_incident_is_real_and_persists(fault):
    sc = scenario(fault)
    assert sc.is_incident and not sc.mitigated()
    sc.advance(600)
    assert not sc.mitigated(), "an incident must not vanish on its own within 10 minutes"


@pytest.mark.parametrize("fault", INCIDENTS)
def test_a_mitigation_resolves_it(fault):
    sc = scenario(fault)
    truth = sc.ground_truth()[0]
    assert truth.components and truth.level and truth.fault_type and truth.mitigations
    for action in truth.mitigations[0]:
        sc.apply(action)
    sc.advance(600)
    assert sc.mitigated()
    health = sc.health()
    assert health.slo_ok, health
    assert health.unavailable_replicas == 0


@pytest.mark.parametrize("fault", INCIDENTS)
def test_a_harmful_action_makes_it_worse(fault):
    untouched = scenario(fault)
    harmed = scenario(fault)
    truth = harmed.ground_truth()[0]
    assert truth.harmful
    for action in truth.harmful:
        harmed.apply(parse_action(action))
    worse = mean_badness(harmed, 40)  # ten minutes: crash loops need time to average out
    baseline = mean_badness(untouched, 40)
    assert worse > baseline * 1.05 + 0.5, (worse, baseline)


@pytest.mark.parametrize("fault", ALL)
def test_same_seed_same_world(fault):
    a = build(fault, seed=5)
    b = scenario(fault)
    assert a.world.fingerprint() == b.world.fingerprint()
    assert a.faults[0].target == b.faults[0].target
    for sc in (a, b):
        sc.advance(120)
    assert a.world.fingerprint() == b.world.fingerprint()


def test_noise_is_not_an_incident():
    for fault in sorted(set(ALL) - set(INCIDENTS)):
        sc = scenario(fault)
        truth = sc.ground_truth()[0]
        assert not sc.is_incident and sc.mitigated()
        assert truth.level is None and truth.mitigations == [[]]
        assert sc.health().slo_ok
