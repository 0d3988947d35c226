"""SFT then DPO with TRL + PEFT LoRA on the tiny model, from exported trajectories: the loss
goes down, the results are registered with their lineage, and training resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from opsagent.train.config import DPOStageConfig, LoraSettings, SFTStageConfig
from opsagent.train.registry import Checkpoint, ModelRegistry
from opsagent.train.tiny import save_tiny
from opsagent.train.trainer import train
from opsagent.trajectories.export import export
from opsagent.trajectories.models import Environment, Grade
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.store import TrajectoryStore

pytestmark = pytest.mark.slow
TOOLS = [{"type": "function", "function": {"name": "k8s_rollout_undo", "description": "undo a rollout",
                                           "parameters": {"type": "object", "properties": {}}}}]


def _conversation(service: str, answer: str) -> list[dict]:
    return [{"role": "system", "content": "You are an SRE."},
            {"role": "user", "content": f"{service} answers 503 since its release."},
            {"role": "assistant", "content": "Check the logs.", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "logs_patterns", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "a", "name": "logs_patterns",
             "content": f"{service} NullPointerException"},
            {"role": "assistant", "content": answer}]


def _dataset(root: Path) -> Path:
    store = TrajectoryStore(root / "store")
    recorder = Recorder(store)
    for i, service in enumerate(["checkout", "cart", "catalog", "auth"] * 2):
        good = json.dumps({"components": [f"shop/Deployment/{service}"], "remediation": "undo"})
        bad = json.dumps({"components": ["shop/Deployment/redis"], "remediation": "restart redis"})
        for tag, answer, ok in (("good", good, True), ("bad", bad, False)):
            env = Environment(kind="sandbox", scenario=f"bad_rollout@{service}#s{i}", seed=i,
                              faults=["bad_rollout"], targets=[service])
            recorder.start(f"{tag}{i}", "scenario", "t", [], env, "expert", TOOLS)
            recorder.finish(f"{tag}{i}", {"messages": _conversation(service, answer), "usage": {"steps": 2}})
            recorder.grade(f"{tag}{i}", Grade(source="ground-truth", detected=True, localised=ok, analysed=ok,
                                              mitigated=ok))
    counts = export(list(store.iter()), root / "data")
    assert counts["sft"] == 4 and counts["dpo"] == 8  # duplicates dropped; every scenario gives a pair
    return root / "data"


def test_sft_then_dpo_lowers_the_loss_and_registers_the_lineage(tmp_path):
    data = _dataset(tmp_path)
    registry = ModelRegistry(tmp_path / "models")
    registry.add(Checkpoint(id="tiny", kind="base", path=save_tiny(tmp_path / "models" / "bases" / "tiny")))
    lora = LoraSettings(r=8, alpha=16, dropout=0.0)
    sft = train(SFTStageConfig(base="tiny", dataset=data / "sft", max_steps=8, learning_rate=5e-3,
                            batch_size=2, grad_accum=1, lora=lora, max_length=1024, save_steps=4),
                registry, "sft-1")
    m = sft.train_metrics
    assert m["last_loss"] < m["first_loss"] and m["steps"] == 8 and m["tokens_per_s"] > 0
    assert len(m["curve"]) == 8 and m["rows_left_out_too_long"] == 0
    assert m["activation_checkpointing"] is False  # as configured (TRL's own default would recompute)
    assert sft.profile == "full"  # the export's own (counts.json), not guessed
    rates = m["matmul_gflops"]  # trained in whichever dtype multiplied faster on this machine
    assert m["dtype"] == max(rates, key=rates.get) and m["achieved_gflops"] > 0
    assert (sft.path / "adapter_config.json").is_file() and sft.base == "tiny" and sft.parent == "tiny"
    dpo = train(DPOStageConfig(base="sft-1", dataset=data / "dpo", max_steps=6, learning_rate=5e-3,
                            batch_size=2, grad_accum=1, lora=lora, max_length=1024,
                            gradient_checkpointing=True, loss_type=["sigmoid", "sft"],
                            loss_weights=[1.0, 0.5], warmup_steps=3, carry_optimizer=True, save_steps=3),
                registry, "dpo-1")
    assert dpo.train_metrics["last_loss"] < dpo.train_metrics["first_loss"]
    # it went on from the SFT run's AdamW moments: its step count goes on from the SFT run's 8
    carried = Path(dpo.train_metrics["optimizer_carried_from"])
    assert carried == tmp_path / "models" / "sft-1" / "trainer" / "checkpoint-8" / "optimizer.pt"
    state = torch.load(tmp_path / "models" / "dpo-1" / "trainer" / "checkpoint-6" / "optimizer.pt",
                       weights_only=True)["state"]
    assert {s["step"].item() for s in state.values()} == {14.0}
    rates = [lr for _, lr in dpo.train_metrics["learning_rates"]]  # rising to 5e-3 over 3 steps, then down
    assert rates[0] < rates[1] < rates[2] < 5e-3 and max(rates) <= 5e-3 and rates[-1] < max(rates)
    assert dpo.config["loss_type"] == ["sigmoid", "sft"]  # DPO + the chosen answers' NLL (RPO)
    assert dpo.train_metrics["activation_checkpointing"] is True
    assert [c.id for c in registry.lineage("dpo-1")] == ["dpo-1", "sft-1", "tiny"]
    assert (dpo.path / "adapter_config.json").is_file() and not (dpo.path / "ref").exists()
    assert dpo.base == "tiny" and dpo.datasets and dpo.config["beta"] == 0.1 and dpo.commit
    # more steps on the same output directory resume from its last checkpoint
    more = train(SFTStageConfig(base="tiny", dataset=data / "sft", max_steps=10, learning_rate=5e-3,
                             batch_size=2, grad_accum=1, lora=lora, max_length=1024, save_steps=4,
                             output=tmp_path / "models" / "sft-1"), registry, "sft-2")
    m = more.train_metrics
    assert m["resumed"] and m["steps"] == 10 and m["resumed_at_step"] == 8 and m["rows_seen"] == 20
    # its rate counts the tokens it trained itself (2 steps), not the 8 steps before the resume
    assert 0 < m["tokens_this_run"] < m["tokens_seen"] / 3
    runtime = (m["runtime_s"] - 0.005, m["runtime_s"] + 0.005)  # recorded to 0.01 s; these steps are short
    assert m["tokens_this_run"] / runtime[1] <= m["tokens_per_s"] + 0.1
    assert m["tokens_per_s"] - 0.1 <= m["tokens_this_run"] / runtime[0]


def test_rows_longer_than_max_length_are_left_out_whole():
    from datasets import Dataset

    from opsagent.train.tiny import build_tokenizer
    from opsagent.train.trainer import _within

    tokenizer = build_tokenizer()
    rows = Dataset.from_list([{"messages": _conversation(s, "undo"), "tools": json.dumps(TOOLS)}
                              for s in ("cart", "checkout" * 200)])
    kept, left_out = _within(rows, tokenizer, 400)
    assert left_out == 1 and len(kept) == 1 and kept[0]["messages"][1]["content"].startswith("cart")
    assert _within(rows, tokenizer, None) == (rows, 0)


def test_sgd_moves_a_weight_by_its_gradient_where_a_fresh_adamw_moves_every_weight_by_the_rate(tmp_path):
    """Why the stage offers SGD: DPO from an imported bundle has no AdamW moments to carry, and a
    fresh AdamW's first step moves every weight of the adapter by about the learning rate."""
    from safetensors.torch import load_file

    data = _dataset(tmp_path)
    registry = ModelRegistry(tmp_path / "models")
    registry.add(Checkpoint(id="tiny", kind="base", path=save_tiny(tmp_path / "models" / "bases" / "tiny")))
    lora = LoraSettings(r=8, alpha=16, dropout=0.0)
    sft = train(SFTStageConfig(base="tiny", dataset=data / "sft", max_steps=4, learning_rate=5e-3,
                               batch_size=2, grad_accum=1, lora=lora, max_length=1024), registry, "sft-1")
    start = load_file(sft.path / "adapter_model.safetensors")

    def moved(optimizer: str, rate: float) -> torch.Tensor:
        dpo = train(DPOStageConfig(base="sft-1", dataset=data / "dpo", max_steps=1, learning_rate=rate,
                                   batch_size=2, grad_accum=1, lora=lora, max_length=1024,
                                   optimizer=optimizer, warmup_steps=0), registry, f"dpo-{optimizer}")
        after = load_file(dpo.path / "adapter_model.safetensors")
        return torch.cat([(after[k] - start[k]).abs().flatten() for k in start])

    adamw = moved("adamw_torch", 1e-4)
    assert adamw.median() == pytest.approx(1e-4, rel=0.05)  # every weight, whatever its gradient
    sgd = moved("sgd", 1e-2)
    assert sgd.max() > 0 and sgd.median() < sgd.max() / 20  # by its gradient: most barely move
    with pytest.raises(ValueError, match="cannot be carried into sgd"):
        DPOStageConfig(base="sft-1", dataset=data / "dpo", optimizer="sgd", carry_optimizer=True)
