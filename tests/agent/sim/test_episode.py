"""Episodes through the whole graph, graded by the one grader: what a policy that fails, one that
never sees an incident, the expert on two faults at once, a policy that solves one of two, and
the expert on faults it has no pattern for score. (Real sandbox servers and Prometheus.)"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from opsagent.agent import expert_rules
from opsagent.agent.checkpoint import open_checkpointer
from opsagent.agent.config import AgentConfig
from opsagent.agent.models import Diagnosis, Evidence
from opsagent.agent.perturbed import Perturbed
from opsagent.agent.react import this_round
from opsagent.agent.runner import auto_approve
from opsagent.agent.sim.episode import EpisodeResult, run_episode
from opsagent.agent.sim.oracle import Oracle
from opsagent.agent.store import Store
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from opsagent.trajectories.export import dpo_rows
from opsagent.trajectories.grade import succeeded, summarise
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.store import TrajectoryStore
from tests.live import requires_stack

pytestmark = requires_stack

TWO = ScenarioSpec(faults=[FaultSpec(type="memory_leak", target="cart"),
                           FaultSpec(type="cpu_limit_too_low", target="catalog")], seed=7)
INCIDENTS = [ScenarioSpec(faults=[FaultSpec(type="bad_rollout", target="checkout")], seed=4),
             ScenarioSpec(faults=[FaultSpec(type="memory_leak", target="cart")], seed=7)]
HEALTHY = [ScenarioSpec(seed=4), ScenarioSpec(faults=[FaultSpec(type="benign_log_noise")], seed=7)]


def _answer(d: Diagnosis) -> dict[str, Any]:
    return {"role": "assistant", "content": d.model_dump_json()}


class Garbage:
    def next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
             answer: bool = False) -> dict[str, Any]:
        return {"role": "assistant", "content": "the cluster looks sad {not json"}


class NeverAnIncident:
    def __init__(self, evidence: bool = True):
        self.evidence = [Evidence(tool="k8s_list_pods", finding="every pod Running")] if evidence else []

    def next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
             answer: bool = False) -> dict[str, Any]:
        return _answer(Diagnosis(is_incident=False, hypothesis="fine", components=[], summary="all good",
                                 confidence=0.9, evidence=self.evidence))


class FirstFaultOnly:
    """The oracle's answer for the first fault; asked again, it hands over."""

    def __init__(self, oracle: Oracle):
        self.oracle = oracle

    def next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
             answer: bool = False) -> dict[str, Any]:
        if this_round(messages) is messages:
            return self.oracle.next(messages, tools)
        return _answer(Diagnosis(is_incident=True, hypothesis="unknown", components=[], summary="no idea",
                                 confidence=0.1))


def _run(box, tmp_path, spec: ScenarioSpec, policy: str, implementation: Any = None,
         now: float | None = None) -> EpisodeResult:
    store, trajectories = Store(tmp_path / "agent.db"), TrajectoryStore(tmp_path / "trajectories")
    try:
        with open_checkpointer(None, tmp_path) as cp:
            return run_episode(box, spec, policy, AgentConfig(), store, cp, auto_approve, now=now,
                               recorder=Recorder(trajectories), implementation=implementation)
    finally:
        store.close()
        trajectories.close()


def test_a_policy_that_answers_garbage_scores_zero_on_every_task(box, tmp_path):
    results = [_run(box, tmp_path, s, "garbage", Garbage()) for s in [*INCIDENTS, HEALTHY[0]]]
    summary = summarise([r.grade for r in results])
    assert {summary[k] for k in ("detection", "localisation", "analysis", "mitigation", "success")} == {0.0}
    assert summary["failed"] == 3 and summary["failures"] == {"malformed": 3}
    assert all(r.outcome == "escalated" for r in results)  # a failure escalates, but earns nothing


def test_never_an_incident_scores_only_the_share_of_healthy_scenarios(box, tmp_path):
    results = [_run(box, tmp_path, s, "never", NeverAnIncident()) for s in [*INCIDENTS, *HEALTHY]]
    summary = summarise([r.grade for r in results])
    assert summary["detection"] == 0.5  # 2 healthy of 4
    assert summary["localisation"] == summary["analysis"] == summary["mitigation"] == 0.0
    assert summary["failed"] == 0


def test_episodes_on_one_store_do_not_share_the_rate_limit(box, tmp_path):
    """A collection runs many episodes of one target at the same simulated hours on one store
    (batch workers); each is its own world, so the 4th rollback of checkout is not refused as
    the 4th action on it in 10 minutes (it was: a 1,028-run collection escalated 83%)."""
    now = time.time()
    results = [_run(box, tmp_path, INCIDENTS[0], "expert", now=now) for _ in range(4)]
    assert [r.outcome for r in results] == ["mitigated"] * 4
    assert all(r.grade.mitigated for r in results)


# The second: checkout's errors linger in the last 15 minutes of logs after its rollback (its
# callee catalog is still throttled); the expert must not name the fault it fixed again.
LINGERING = ScenarioSpec(faults=[FaultSpec(type="bad_rollout", target="checkout"),
                                 FaultSpec(type="cpu_limit_too_low", target="catalog")], seed=1001)


@pytest.mark.parametrize(("spec", "first", "second"), [
    (TWO, "memory leak", "CPU limit too low"), (LINGERING, "defective release", "CPU limit too low")])
def test_the_expert_diagnoses_two_faults_in_two_rounds(box, tmp_path, spec, first, second):
    result = _run(box, tmp_path, spec, "expert")
    g = result.grade
    assert result.outcome == "mitigated" and g.faults == 2
    assert g.detected and g.localised and g.analysed and g.mitigated
    record = TrajectoryStore(tmp_path / "trajectories").get(result.incident)
    found = [d["components"] for d in record.diagnoses]
    assert found == [[f"shop/Deployment/{f.target}"] for f in spec.faults]
    assert f"Diagnosis 1: {first}" in record.report and f"Diagnosis 2: {second}" in record.report
    assert record.grade == g  # stored beside the trajectory, the same grade


def test_half_of_two_faults_solved_is_neither_localised_nor_mitigated(box, tmp_path):
    now = time.time()
    box.load(TWO.model_copy(update={"now": now}))
    result = _run(box, tmp_path, TWO, "first-only", FirstFaultOnly(Oracle(box.scenario)), now=now)
    g = result.grade
    assert g.detected and g.localised is False and g.analysed is False and g.mitigated is False
    assert g.localised_at_k == {"1": False, "3": False}
    record = TrajectoryStore(tmp_path / "trajectories").get(result.incident)
    assert len(record.diagnoses) == 2 and "still wrong" in record.report


@pytest.mark.parametrize("spec", [INCIDENTS[1], TWO.model_copy(update={"faults": TWO.faults[1:]})],
                         ids=["memory_leak", "cpu_limit_too_low"])
def test_with_no_pattern_the_expert_escalates_with_the_right_components(box, tmp_path, monkeypatch, spec):
    monkeypatch.setattr(expert_rules, "RULES", ())  # a fault it was never written for
    result = _run(box, tmp_path, spec, "expert")
    record = TrajectoryStore(tmp_path / "trajectories").get(result.incident)
    d = record.diagnosis
    assert result.outcome == "escalated" and d["is_incident"] and d["remediation"] == []
    assert d["components"] == [f"shop/Deployment/{spec.faults[0].target}"], json.dumps(d, indent=1)
    assert d["evidence"] and result.grade.detected and result.grade.localised and not result.grade.failure


def test_no_incident_without_evidence_while_a_critical_alert_fires_is_not_accepted(box, tmp_path):
    result = _run(box, tmp_path, INCIDENTS[0], "never", NeverAnIncident(evidence=False))
    record = TrajectoryStore(tmp_path / "trajectories").get(result.incident)
    assert "a critical alert is firing" in json.dumps(record.messages)  # told once, then given up
    assert result.outcome == "escalated" and result.grade.failure == "unsupported"
    assert not result.grade.detected


LEAK = ScenarioSpec(faults=[FaultSpec(type="db_connection_leak", target="catalog")], seed=7)


@pytest.mark.parametrize(("kind", "spec"), [
    ("wrong_remediation", INCIDENTS[1]), ("harmful_action", INCIDENTS[1]),
    ("premature_diagnosis", INCIDENTS[1]), ("skipped_follow_up", LEAK), ("wrong_analysis", INCIDENTS[1])])
def test_the_perturbed_teacher_fails_where_the_teacher_succeeds_and_they_pair(box, tmp_path, kind, spec):
    now = time.time()  # the same world for both, word for word
    good = _run(box, tmp_path, spec, "expert", now=now)
    bad = _run(box, tmp_path, spec, "perturbed", Perturbed(kind), now=now)
    assert succeeded(good.grade) and not succeeded(bad.grade), bad.grade
    store = TrajectoryStore(tmp_path / "trajectories")
    pairs = dpo_rows([store.get(good.incident), store.get(bad.incident)])
    assert [p["reason"] for p in pairs] == [f"perturbed: {kind}"]
    assert pairs[0]["chosen"][0]["role"] == pairs[0]["rejected"][0]["role"] == "assistant"
    assert pairs[0]["chosen"][0] != pairs[0]["rejected"][0]
    # the decision where they part, and nothing after it: no tool result is trained as a completion
    assert len(pairs[0]["chosen"]) == len(pairs[0]["rejected"]) == 1
    assert "perturb" not in json.dumps(pairs[0]["rejected"])  # the mistake is not labelled in the text
    if kind == "wrong_analysis":  # localised and mitigated, but the fault misnamed, and nothing else
        assert bad.grade.localised and bad.grade.mitigated and bad.grade.analysed is False
        chosen, rejected = (json.loads(p[0]["content"]) for p in (pairs[0]["chosen"], pairs[0]["rejected"]))
        differ = {k for k in chosen if chosen[k] != rejected[k]}
        assert "hypothesis" in differ and differ & {"level", "fault_type"}
        assert differ <= {"hypothesis", "level", "fault_type"}
