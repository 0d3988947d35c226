"""`opsagent model export|import`: a trained checkpoint moves to another machine's registry (as the
committed bench/artifacts/ bundle does) with its lineage and profile, and the imported adapter
computes what the original computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from opsagent.serve.cli.main import app
from opsagent.train.config import ALL_PROJECTIONS
from opsagent.train.registry import Checkpoint, ModelRegistry


def _adapter(base: Path, out: Path, seed: int) -> Path:
    """A real LoRA adapter over the tiny base, with random (non-zero) weights."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, lora_alpha=8, target_modules=ALL_PROJECTIONS,
                                      init_lora_weights=False, task_type="CAUSAL_LM"))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


def _logits(base: Path, adapter: Path) -> torch.Tensor:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).eval()
    with torch.no_grad():
        return model(torch.tensor([[1, 5, 9, 13, 2]])).logits


def _run(data: Path, monkeypatch, *args: str):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(data))
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner().invoke(app, list(args))


def test_an_exported_dpo_checkpoint_imports_with_its_sft_parent_and_serves_the_same(tmp_path, monkeypatch):
    here, there, bundle = tmp_path / "here", tmp_path / "there", tmp_path / "artifacts"
    assert _run(here, monkeypatch, "model", "import-base", "tiny").exit_code == 0
    reg = ModelRegistry(here / "models")
    base = reg.get("tiny").path
    for cid, kind, parent, seed in (("sft-1", "sft", "tiny", 0), ("dpo-1", "dpo", "sft-1", 1)):
        reg.add(Checkpoint(id=cid, kind=kind, path=_adapter(base, tmp_path / cid / "adapter", seed),
                           base="tiny", parent=parent, profile="compact",
                           train_metrics={"steps": 3}, eval_metrics={"held-out@5": {"detection": 0.4}}))

    out = _run(here, monkeypatch, "model", "export", "dpo-1", "--out", str(bundle))
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in bundle.iterdir()) == ["dpo-1", "sft-1"]
    entry = json.loads((bundle / "dpo-1" / "checkpoint.json").read_text())
    assert entry["path"] == "adapter" and entry["parent"] == "sft-1"  # nothing of this machine's paths
    assert not (bundle / "dpo-1" / "adapter" / "tokenizer.json").exists()  # the base's: not bundled
    profile = json.loads((bundle / "dpo-1" / "profile.json").read_text())
    assert profile["name"] == "compact" and "k8s_list_pods" in profile["tools"]
    assert "Diagnosis JSON" in profile["system_prompt"]

    refused = _run(there, monkeypatch, "model", "import", str(bundle / "dpo-1"))
    assert refused.exit_code == 2 and "opsagent model import-base tiny" in refused.output
    assert _run(there, monkeypatch, "model", "import-base", "tiny").exit_code == 0
    out = _run(there, monkeypatch, "model", "import", str(bundle / "dpo-1"))
    assert out.exit_code == 0, out.output
    shown = json.loads(_run(there, monkeypatch, "model", "show", "dpo-1").output)
    assert shown["lineage"] == ["dpo-1", "sft-1", "tiny"]
    assert shown["checkpoint"]["eval_metrics"] == {"held-out@5": {"detection": 0.4}}
    imported = ModelRegistry(there / "models").get("dpo-1")
    assert imported.path.is_relative_to(there) and imported.profile == "compact"
    assert (imported.path / "tokenizer.json").read_bytes() == (base / "tokenizer.json").read_bytes()
    assert torch.allclose(_logits(base, imported.path), _logits(base, reg.get("dpo-1").path))
    assert not torch.allclose(_logits(base, imported.path), _logits(base, reg.get("sft-1").path))


def test_export_and_import_name_what_is_wrong(tmp_path, monkeypatch):
    assert _run(tmp_path, monkeypatch, "model", "import-base", "tiny").exit_code == 0
    out = _run(tmp_path, monkeypatch, "model", "export", "tiny", "--out", str(tmp_path / "b"))
    assert out.exit_code == 2 and "is a base" in out.output
    out = _run(tmp_path, monkeypatch, "model", "export", "nope", "--out", str(tmp_path / "b"))
    assert out.exit_code == 2 and "no checkpoint 'nope'" in out.output
    out = _run(tmp_path, monkeypatch, "model", "import", str(tmp_path))
    assert out.exit_code == 2 and "is not a checkpoint bundle" in out.output


def test_a_bundle_carries_the_adamw_moments_only_when_asked(tmp_path, monkeypatch):
    from opsagent.train.optimizer_state import NoOptimizerState, last_optimizer_state

    here, there, bundle = tmp_path / "here", tmp_path / "there", tmp_path / "artifacts"
    for data in (here, there):
        assert _run(data, monkeypatch, "model", "import-base", "tiny").exit_code == 0
    reg = ModelRegistry(here / "models")
    adapter = _adapter(reg.get("tiny").path, tmp_path / "sft-1" / "adapter", 0)
    reg.add(Checkpoint(id="sft-1", kind="sft", path=adapter, base="tiny", parent="tiny",
                       profile="compact", train_metrics={"steps": 3}))
    out = _run(here, monkeypatch, "model", "export", "sft-1", "--out", str(bundle), "--optimizer")
    assert out.exit_code == 2 and "left no optimizer state" in out.output

    # What a trainer checkpoint keeps: a real AdamW's state after a step.
    weight = torch.nn.Parameter(torch.ones(4))
    adamw = torch.optim.AdamW([weight])
    weight.sum().backward()
    adamw.step()
    saved = adapter.parent / "trainer" / "checkpoint-3" / "optimizer.pt"
    saved.parent.mkdir(parents=True)
    torch.save(adamw.state_dict(), saved)

    assert _run(here, monkeypatch, "model", "export", "sft-1", "--out", str(bundle)).exit_code == 0
    assert _run(there, monkeypatch, "model", "import", str(bundle / "sft-1")).exit_code == 0
    with pytest.raises(NoOptimizerState):  # exported without --optimizer: the adapter alone
        last_optimizer_state(ModelRegistry(there / "models").get("sft-1").path)

    out = _run(here, monkeypatch, "model", "export", "sft-1", "--out", str(bundle), "--optimizer")
    assert out.exit_code == 0, out.output
    assert _run(there, monkeypatch, "model", "import", str(bundle / "sft-1")).exit_code == 0
    carried = last_optimizer_state(ModelRegistry(there / "models").get("sft-1").path)
    assert carried.read_bytes() == saved.read_bytes()
    moments = torch.load(carried, weights_only=True)["state"][0]
    assert torch.equal(moments["exp_avg"], adamw.state[weight]["exp_avg"])
