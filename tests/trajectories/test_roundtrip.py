"""The loop's data path end to end: incidents handled in the live sandbox are recorded, graded
against the ground truth, exported, and the exported rows load unchanged into TRL's SFTTrainer
and DPOTrainer, where a real training step runs on a tiny model built here."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from opsagent.agent.expert import Expert
from opsagent.agent.models import Diagnosis
from opsagent.agent.runner import auto_approve
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from opsagent.trajectories.export import Filters, export
from opsagent.trajectories.grade import grade_against_truth
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.store import TrajectoryStore
from tests.agent.harness import agent
from tests.live import requires_stack

pytestmark = [requires_stack, pytest.mark.slow]
NOW = time.time()
SPEC = ScenarioSpec(faults=[FaultSpec(type="bad_rollout", target="checkout")], seed=3, now=NOW)


class WrongRestart(Expert):
    """Investigates like the expert, then blames the wrong service."""

    def next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
             answer: bool = False) -> dict[str, Any]:
        message = super().next(messages, tools)
        if message.get("tool_calls"):
            return message
        wrong = Diagnosis(is_incident=True, hypothesis="cart is stuck", components=["shop/Deployment/cart"],
                          level="Application", fault_type="Operation Error", summary="restart cart",
                          confidence=0.4,
                          remediation=[{"tool": "k8s_rollout_restart", "args": {"name": "cart"}}])
        return {"role": "assistant", "content": wrong.model_dump_json()}


class DeniedFirst(Expert):
    """First proposes deleting the database pod (the gate denies it), then the expert's answer."""

    def next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
             answer: bool = False) -> dict[str, Any]:
        message = super().next(messages, tools)
        if message.get("tool_calls") or any("denied" in (m.get("content") or "") for m in messages
                                            if m["role"] == "user"):
            return message
        d = Diagnosis.model_validate_json(message["content"])
        d.remediation = [{"tool": "k8s_delete_pod", "args": {"name": "postgres-0"}, "why": "reset it"}]
        return {"role": "assistant", "content": d.model_dump_json()}


def test_record_grade_export_and_train(box, registry, tmp_path):
    store = TrajectoryStore(tmp_path / "trajectories")
    recorder = Recorder(store)
    for name, policy in (("expert", Expert()), ("wrong", WrongRestart()), ("denied-first", DeniedFirst())):
        box.load(SPEC, name)
        with agent(box, registry, tmp_path / name, policy, recorder=recorder, policy_name=name) as runner:
            runner.start(name, "checkout errors", [], source="chat",
                         environment=_environment())
            runner.drive(name, auto_approve)
        truths = [t.model_dump(mode="json") for t in box.scenario.ground_truth()]
        recorder.grade(name, grade_against_truth(store.get(name), truths, box.scenario.mitigated()), truths)

    good, wrong, denied = (store.get(n) for n in ("expert", "wrong", "denied-first"))
    assert good.complete and good.grade.mitigated and good.grade.localised and good.grade.analysed
    assert good.grade.localised_at_k == {"1": True, "3": True} and good.grade.validity == 1.0
    assert wrong.grade.mitigated is False and wrong.grade.localised is False
    assert denied.grade.denied == 1 and denied.grade.mitigated
    assert good.tools and good.messages[0]["role"] == "system"
    assert good.ground_truth[0]["fault"] == "bad_rollout"
    assert {r["policy"] for r in store.list(fault="bad_rollout")} == {"expert", "wrong", "denied-first"}

    counts = export(list(store.iter()), tmp_path / "data", Filters())
    assert counts["sft"] == 1 and counts["dropped"] == {"not a success": 1, "denied actions": 1}
    assert counts["dpo"] == 2
    card = (tmp_path / "data" / "sft" / "README.md").read_text()
    assert "content hash" in card and "from 3 recorded trajectories" in card
    assert "| bad_rollout | 1 |" in card and '"denied actions": 1' in card  # rows by fault; what was left out

    from datasets import load_from_disk
    sft, dpo = load_from_disk(str(tmp_path / "data" / "sft")), load_from_disk(str(tmp_path / "data" / "dpo"))
    kinds = sorted(dpo["kind"])
    assert kinds == ["refused-vs-replanned", "success-vs-failure"]
    pair = dpo[kinds.index("success-vs-failure")] if dpo[0]["kind"] == "success-vs-failure" else dpo[1]
    assert pair["chosen"][0]["role"] == "assistant" and "checkout" in pair["chosen"][0]["content"]
    assert "cart" in pair["rejected"][0]["content"]
    assert json.loads(sft[0]["tools"])[0]["type"] == "function"
    _train_one_step(sft, dpo, tmp_path)


def _environment():
    from opsagent.trajectories.models import Environment
    return Environment(kind="sandbox", scenario=SPEC.id, seed=SPEC.seed, faults=["bad_rollout"],
                       targets=["checkout"])


def _train_one_step(sft, dpo, tmp_path) -> None:
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    from opsagent.train.tiny import build_model, build_tokenizer

    tokenizer = build_tokenizer()
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    sft_trainer = SFTTrainer(
        model=build_model(tokenizer), processing_class=tokenizer, train_dataset=sft, peft_config=lora,
        args=SFTConfig(output_dir=str(tmp_path / "sft-out"), max_steps=1, per_device_train_batch_size=1,
                       assistant_only_loss=True, max_length=None, report_to=[], save_strategy="no",
                       bf16=False, logging_steps=1))
    result = sft_trainer.train()
    assert result.global_step == 1 and result.training_loss > 0
    dpo_trainer = DPOTrainer(
        model=build_model(tokenizer), processing_class=tokenizer, train_dataset=dpo, peft_config=lora,
        args=DPOConfig(output_dir=str(tmp_path / "dpo-out"), max_steps=1, per_device_train_batch_size=1,
                       max_length=None, report_to=[], save_strategy="no", logging_steps=1, bf16=False))
    result = dpo_trainer.train()
    assert result.global_step == 1 and result.training_loss > 0
