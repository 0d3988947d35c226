"""One iteration of the loop on the tiny model, for real: teacher and current checkpoint
collect in sandboxes (the current one served by vLLM), export, SFT, DPO, evaluation of both on
held-out scenarios through the same server, and the promotion verdict."""

from __future__ import annotations

import json

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
    assert candidate.eval_metrics["held-out@1"]["episodes"] == 1
    assert registry.get("tiny").eval_metrics["held-out@1"] == result["before"]
    assert result["verdict"]["reasons"]
    assert (registry.current().id == candidate.id) == result["verdict"]["promote"]
    store = TrajectoryStore(tmp_path / "trajectories")
    assert store.count(checkpoint="tiny") >= 3  # collected and evaluated with the served base
    assert store.count(checkpoint=candidate.id) == 1 and store.count(policy="expert") == 2


def test_eval_serves_and_compares_checkpoints(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from opsagent.serve.cli.main import app
    from opsagent.train.registry import Checkpoint
    from opsagent.train.tiny import save_tiny

    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    registry = ModelRegistry(tmp_path / "models")
    registry.add(Checkpoint(id="tiny", kind="base", path=save_tiny(tmp_path / "models" / "bases" / "tiny")))
    registry.set_current("tiny")
    out = CliRunner().invoke(
        app,
        [
            "eval",
            "--checkpoint",
            "current",
            "--scenarios",
            "held-out-faults",
            "--limit",
            "1",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "e"),
        ],
    )
    assert out.exit_code == 0, out.output
    figures = json.loads((tmp_path / "e" / "eval.json").read_text())["policies"]["tiny"]
    assert figures["episodes"] == 1 and figures["tokens"] > 0 and 0 <= figures["validity"] <= 1
    assert registry.get("tiny").eval_metrics["held-out-faults@1"] == figures
