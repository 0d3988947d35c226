"""A fine-tuned checkpoint's adapter merged into its base's weights, for a vLLM server that serves
that one checkpoint. vLLM's LoRA path on a CPU (its Punica CPU kernels) costs most of the
throughput: the same sft3-gemma answers, up to 32 streams, bf16, a 2-core machine, ran at ~19
generated + ~108 prompt tokens/s as an adapter and ~131 + ~449 merged (bench/loop_gemma.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

from opsagent.train.registry import Checkpoint, ModelRegistry


def merged_weights(registry: ModelRegistry, checkpoint: Checkpoint, dtype: str) -> Path:
    """The model directory of `checkpoint` merged, in vLLM's `dtype` (bfloat16 | float32), made
    once beside its adapter (written aside, then renamed: a kill leaves no half model)."""
    out = checkpoint.path.parent / f"merged-{dtype}"
    if (out / "config.json").is_file():
        return out
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = registry.base_dir(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)  # merged in fp32, then cast
    model = PeftModel.from_pretrained(model, checkpoint.path).merge_and_unload()
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.to(getattr(torch, dtype)).save_pretrained(partial)
    for f in base.iterdir():  # the base's tokenizer and chat template, as the adapter is served with
        if f.is_file() and not (partial / f.name).exists() and f.suffix != ".safetensors":
            shutil.copy2(f, partial / f.name)
    partial.rename(out)
    return out
