"""What the SFT export lets in besides the teacher's successes: its right diagnoses handed to a
human, and near-duplicates of a fault type it would otherwise starve. (Real runs of the teacher:
sandbox servers and Prometheus.)"""

from __future__ import annotations

import json

from opsagent.agent.checkpoint import open_checkpointer
from opsagent.agent.config import AgentConfig
from opsagent.agent.runner import auto_approve
from opsagent.agent.sim.episode import run_episode
from opsagent.agent.store import Store
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from opsagent.trajectories.export import Filters, export
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.store import TrajectoryStore
from tests.live import requires_stack


def recorded(box, tmp_path, specs):
    store, trajectories = Store(tmp_path / "agent.db"), TrajectoryStore(tmp_path / "trajectories")
    try:
        with open_checkpointer(None, tmp_path) as cp:
            for spec in specs:
                run_episode(box, spec, "expert", AgentConfig(), store, cp, auto_approve,
                            recorder=Recorder(trajectories))
        return list(trajectories.iter())
    finally:
        store.close()
        trajectories.close()


def sft(tmp_path, name):
    from datasets import load_from_disk

    return list(load_from_disk(str(tmp_path / name / "sft")))


@requires_stack
def test_the_teachers_right_hand_over_is_a_row_only_when_asked_for(box, tmp_path):
    records = recorded(box, tmp_path, [
        ScenarioSpec(faults=[FaultSpec(type="dns_failure", target="coredns")], seed=4),
        ScenarioSpec(faults=[FaultSpec(type="bad_rollout", target="checkout")], seed=4)])
    assert sorted(r.outcome for r in records) == ["escalated", "mitigated"]

    plain = export(records, tmp_path / "plain", Filters(parallel_order=0))
    assert (plain["sft"], plain["dropped"]) == (1, {"not a success": 1})
    assert export(records, tmp_path / "data", Filters(parallel_order=0, hand_overs=True))["sft"] == 2
    row = next(r for r in sft(tmp_path, "data") if r["fault"] == "dns_failure")
    answer = json.loads(row["messages"][-1]["content"])
    assert "kube-system/ConfigMap/coredns" in answer["components"]  # named rightly,
    assert answer["remediation"] == [] and row["outcome"] == "escalated"  # and left to a human


@requires_stack
def test_near_duplicates_are_taken_back_only_up_to_the_floor_of_their_fault_type(box, tmp_path):
    same = ScenarioSpec(faults=[FaultSpec(type="scaled_to_zero", target="cart")], seed=4)
    other = ScenarioSpec(faults=[FaultSpec(type="bad_rollout", target="checkout")], seed=4)
    records = recorded(box, tmp_path, [same, same, same, other])  # one world thrice: copies

    plain = export(records, tmp_path / "plain", Filters(parallel_order=0))
    assert (plain["sft"], plain["dropped"]) == (2, {"near-duplicate": 2})
    floor = export(records, tmp_path / "data", Filters(parallel_order=0, min_per_fault=2))
    assert (floor["sft"], floor["dropped"]) == (3, {"near-duplicate": 1})
    assert floor["near-duplicates taken back"] == 1
    faults = sorted(r["fault"] for r in sft(tmp_path, "data"))
    assert faults == ["bad_rollout", "scaled_to_zero", "scaled_to_zero"]
