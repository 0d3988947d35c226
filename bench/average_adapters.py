"""A checkpoint part of the way between two LoRA checkpoints of one base: the weight change
(1 − t)·ΔW(start) + t·ΔW(end), exactly, as one adapter (PEFT's `cat` combination puts the two
side by side, rank r1 + r2), registered with `end` as its parent. WiSE-FT's interpolation on
adapters: a DPO checkpoint a step part of the way back to its SFT parent (bench/loop_gemma.md).

    python -m bench.average_adapters --start sft-gemma --end dpo-un-gemma --t 0.5 --id avg-un-gemma
"""

from __future__ import annotations

import shutil
from typing import Annotated

import typer

from opsagent.serve.cli.common import console, model_registry
from opsagent.serve.settings import Settings
from opsagent.train.registry import Checkpoint, git_commit


def main(
    start: Annotated[str, typer.Option(help="the checkpoint at t = 0 (e.g. the SFT parent)")],
    end: Annotated[str, typer.Option(help="the checkpoint at t = 1 (e.g. its DPO child)")],
    checkpoint_id: Annotated[str, typer.Option("--id", help="the new checkpoint's id")],
    t: Annotated[float, typer.Option(min=0.0, max=1.0, help="how far from start towards end")] = 0.5,
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    registry = model_registry(Settings())
    a, b = registry.get(start), registry.get(end)
    if a.base != b.base or "base" in (a.kind, b.kind):
        raise typer.BadParameter(f"{start} and {end} must be adapters of one base ({a.base}, {b.base})")
    model = AutoModelForCausalLM.from_pretrained(registry.base_dir(b), dtype=torch.float32)
    model = PeftModel.from_pretrained(model, a.path, adapter_name="start")
    model.load_adapter(b.path, adapter_name="end")
    model.add_weighted_adapter(["start", "end"], [1.0 - t, t], "default", combination_type="cat")
    worst = 0.0
    for module in model.modules():  # the combined change must be the interpolation, to rounding
        if hasattr(module, "lora_A") and "default" in module.lora_A:
            delta = {n: module.lora_B[n].weight @ module.lora_A[n].weight * module.scaling[n]
                     for n in ("start", "end", "default")}
            wanted = (1.0 - t) * delta["start"] + t * delta["end"]
            worst = max(worst, float((delta["default"] - wanted).abs().max()))
    if worst > 1e-5:
        raise RuntimeError(f"the combined adapter is off the interpolation by {worst:.2e}")
    out = registry.root / checkpoint_id / "adapter"
    model.save_pretrained(out, selected_adapters=["default"])
    for f in b.path.iterdir():  # tokenizer and chat template, as the end checkpoint is served with
        if f.is_file() and not (out / f.name).exists():
            shutil.copy2(f, out / f.name)
    registry.add(Checkpoint(
        id=checkpoint_id, kind=b.kind, path=out, base=b.base, parent=b.id, datasets=b.datasets,
        commit=git_commit(), profile=b.profile, config={"average": {"start": a.id, "end": b.id, "t": t}}))
    console.print(f"{checkpoint_id}: {1 - t:g}·{a.id} + {t:g}·{b.id} (largest error {worst:.1e}) → {out}")


if __name__ == "__main__":
    typer.run(main)
