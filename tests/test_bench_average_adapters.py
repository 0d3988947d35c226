"""bench/average_adapters.py: the combined adapter, merged, is the base plus the interpolation of
the two checkpoints' weight changes, and it is registered as a servable child of the end one."""

from __future__ import annotations

import torch
import typer
from typer.testing import CliRunner

from bench.average_adapters import main
from opsagent.train.base_models import import_base
from opsagent.train.merge import merged_weights
from opsagent.train.registry import Checkpoint, ModelRegistry


def typer_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(main)
    return app


def test_an_adapter_part_of_the_way_from_one_checkpoint_to_another(tmp_path, monkeypatch):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    registry = ModelRegistry(tmp_path / "models")
    base = import_base("tiny", registry)
    for seed, (name, kind, rank) in enumerate([("sft-x", "sft", 4), ("dpo-x", "dpo", 8)]):
        torch.manual_seed(seed)  # B initialised non-zero: each adapter changes the weights
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32),
                               LoraConfig(r=rank, lora_alpha=2 * rank, init_lora_weights=False,
                                          target_modules=["q_proj", "down_proj"]))
        model.save_pretrained(tmp_path / name / "adapter")
        registry.add(Checkpoint(id=name, kind=kind, path=tmp_path / name / "adapter", base="tiny",
                                profile="compact-symptom"))

    args = ["--start", "sft-x", "--end", "dpo-x", "--t", "0.25", "--id", "avg-x"]
    out = CliRunner().invoke(typer_app(), args)
    assert out.exit_code == 0, out.output
    avg = registry.get("avg-x")
    assert (avg.kind, avg.parent, avg.profile) == ("dpo", "dpo-x", "compact-symptom")
    assert avg.config["average"] == {"start": "sft-x", "end": "dpo-x", "t": 0.25}

    w0 = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32).state_dict()
    # merged as vLLM serves them (train/merge.py)
    ws, wd, wa = (AutoModelForCausalLM.from_pretrained(merged_weights(registry, registry.get(n), "float32"),
                                                       dtype=torch.float32).state_dict()
                  for n in ("sft-x", "dpo-x", "avg-x"))
    changed = [k for k in w0 if not torch.equal(ws[k], w0[k])]
    assert changed and any("down_proj" in k for k in changed)
    for k in w0:
        torch.testing.assert_close(wa[k], w0[k] + 0.75 * (ws[k] - w0[k]) + 0.25 * (wd[k] - w0[k]))

    refused = CliRunner().invoke(typer_app(), ["--start", "tiny", "--end", "dpo-x", "--id", "nope"])
    assert refused.exit_code != 0 and "must be adapters of one base" in refused.output

