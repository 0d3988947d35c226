"""One SFT and one DPO step of a ~1B Gemma-3-shaped model with random weights, through the
product's own `train()` (compact head, padding-free, LoRA on every projection), in the dtype
this machine multiplies fastest: tokens/s, achieved TFLOP/s and MFU against a peak (an H200's
~790 TFLOP/s bf16 dense by default). No weights are needed for speed. On a lent GPU machine
(no network), carry TRL and datasets as wheels and run it in one call:

    pip install --no-index --no-deps wheels/*.whl && python -m bench.gpu_step --size 1b
    python -m bench.gpu_step --size tiny --rows 2   # the same path on a CPU, in seconds
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Annotated

import typer

SIZES = {  # Gemma 3 1B's shape; `tiny` only checks the path
    "1b": dict(hidden_size=1152, intermediate_size=6912, num_hidden_layers=26, num_attention_heads=4,
               num_key_value_heads=1, head_dim=256, vocab_size=262144, sliding_window=512),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, head_dim=32, vocab_size=4096, sliding_window=64),
}


def _base(root: Path, size: str) -> Path:
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from opsagent.train.chat_template import GEMMA_TEMPLATE
    from opsagent.train.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    tokenizer.eos_token = "<end_of_turn>"
    tokenizer.chat_template = GEMMA_TEMPLATE.replace("{{ bos_token }}", "")
    shape = {**SIZES[size], "vocab_size": max(SIZES[size]["vocab_size"], len(tokenizer))}
    model = Gemma3ForCausalLM(Gemma3TextConfig(**shape, pad_token_id=tokenizer.pad_token_id,
                                               eos_token_id=tokenizer.eos_token_id, bos_token_id=None))
    out = root / "base"
    model.to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _rows(n: int, words: int) -> list[list[dict]]:
    rng = random.Random(0)
    vocab = ["pod", "node", "restart", "OOMKilled", "latency", "p99", "error", "rate", "checkout", "cart",
             "redis", "deployment", "image"]
    text = lambda k: " ".join(rng.choice(vocab) for _ in range(k))  # noqa: E731
    call = {"id": "c", "type": "function", "function": {"name": "k8s_list_pods", "arguments": "{}"}}
    return [[{"role": "user", "content": text(words)},
             {"role": "assistant", "content": text(words // 10), "tool_calls": [call]},
             {"role": "tool", "tool_call_id": "c", "name": "k8s_list_pods", "content": text(words)},
             {"role": "assistant", "content": text(words // 5)}] for _ in range(n)]


def main(size: str = "1b", rows: int = 4, words: int = 1500,
         peak_tflops: Annotated[float, typer.Option(help="the accelerator's dense peak")] = 790.0) -> None:
    from datasets import Dataset

    from opsagent.train.config import DPOStageConfig, SFTStageConfig
    from opsagent.train.registry import Checkpoint, ModelRegistry
    from opsagent.train.trainer import train

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        registry = ModelRegistry(root / "models")
        registry.add(Checkpoint(id="base", kind="base", path=_base(root, size)))
        convs = _rows(rows, words)
        Dataset.from_list([{"messages": c} for c in convs]).save_to_disk(str(root / "sft"))
        no = [{"role": "assistant", "content": "no"}]
        Dataset.from_list([{"prompt": c[:3], "chosen": c[3:], "rejected": no}
                           for c in convs]).save_to_disk(str(root / "dpo"))
        common = dict(max_steps=rows, batch_size=1, grad_accum=1, max_length=None, save_steps=10**6)
        sft = train(SFTStageConfig(base="base", dataset=root / "sft", **common), registry, "sft")
        dpo = train(DPOStageConfig(base="sft", dataset=root / "dpo", **common), registry, "dpo")
        for c in (sft, dpo):
            m = c.train_metrics
            tflops = m["achieved_gflops"] / 1000
            results[c.kind] = {"tokens_per_s": m["tokens_per_s"], "achieved_tflops": tflops,
                               "mfu": round(tflops / peak_tflops, 4), "dtype": m["dtype"],
                               "device": m["device"], "matmul_gflops": m["matmul_gflops"],
                               "runtime_s": m["runtime_s"], "rows": rows}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    typer.run(main)
