"""One iteration of the loop on the tiny model, for real: teacher and current checkpoint
collect in sandboxes (the current one served by vLLM), export, SFT, DPO, evaluation of both on
held-out scenarios through the same server, and the promotion verdict. (`opsagent eval` of a
served checkpoint is in test_serving.py, on that module's server.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from opsagent.agent.config import AgentConfig, Budgets, LLMConfig
from opsagent.train.loop import LoopConfig, iterate
from opsagent.train.registry import ModelRegistry
from opsagent.trajectories.store import TrajectoryStore
from tests import requires
from tests.live import requires_stack

pytestmark = [
    pytest.mark.slow,
    requires_stack,
    requires.vllm,
]


def test_one_iteration_on_the_tiny_model(tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    agent = AgentConfig(llm=LLMConfig(max_tokens=48), budgets=Budgets(max_steps=4))
    cfg = LoopConfig(
        base="tiny", episodes=2, held_out=1, workers=1, sft_steps=2, dpo_steps=1, max_length=8192
    )
    result = iterate(cfg, registry, tmp_path, agent)
    candidate = registry.get(result["candidate"])
    assert result["current"] == "tiny" and result["exported"]["sft"] >= 1
    assert [c.id for c in registry.lineage(candidate.id)][-1] == "tiny"
    splits = ("held-out", "held-out-targets", "held-out-faults")
    assert all(candidate.eval_metrics[f"{s}@1"]["episodes"] == 1 for s in splits)
    assert {s: registry.get("tiny").eval_metrics[f"{s}@1"] for s in splits} == result["before"]
    assert set(result["evaluated"]) == {"tiny", *(c for c in result["evaluated"] if c != "tiny")}
    assert len(result["evaluated"]) == 3  # parent, SFT and DPO, each on every split
    assert result["verdict"]["reasons"] and Path(result["learning_curve"]).stat().st_size > 10_000
    assert (registry.current().id == candidate.id) == result["verdict"]["promote"]
    store = TrajectoryStore(tmp_path / "trajectories")
    assert store.count(checkpoint="tiny") >= 5  # collected and evaluated with the served base
    assert store.count(checkpoint=candidate.id) == 3 and store.count(policy="expert") == 2
    # the small base's compact prompt: exported with it, recorded with the result, evaluated with it
    assert result["exported"]["profile"] == "compact" and candidate.profile == "compact"
    assert {t.profile for t in store.iter(checkpoint=candidate.id)} == {"compact"}
