"""How fast this machine multiplies, and how much of that a training step uses.

The dtype is chosen by measurement: on this kind of CPU (AVX2, no AVX-512 BF16) a bf16 matmul
runs at 0.3-0.9 GFLOP/s against 100-110 in fp32, so bf16 is only the default where it is the
faster one (CUDA, or a CPU with native bf16). A step's FLOPs are counted from the shapes it
really computes (the compact head: only trained positions; LoRA: no weight gradients for frozen
weights), so `achieved / matmul rate` says how much of the machine a step uses."""

from __future__ import annotations

import time
from functools import cache
from typing import Any


def matmul_gflops(dtype: Any, n: int, device: str = "cpu", seconds: float = 0.3) -> float:
    """GFLOP/s of an n x n matmul in `dtype` on `device`, timed for about `seconds`."""
    import torch

    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    a @ b  # warm-up (allocations, kernel choice)
    reps, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or reps < 2:
        a @ b
        reps += 1
    if device == "cuda":
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - started
    return 2 * n**3 * reps / elapsed / 1e9


@cache
def measured_rates(device: str = "cpu") -> dict[str, float]:
    """fp32 and bf16 matmul GFLOP/s here: the same 512 x 512 product, interleaved twice and the
    best of each kept, so a busy moment does not decide for one dtype (bf16 may be ~100x slower
    on a CPU without native bf16, ~2x faster on one with AVX-512 BF16 or AMX)."""
    import torch

    rates: dict[str, float] = {"fp32": 0.0, "bf16": 0.0}
    for _ in range(2):
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            rates[name] = max(rates[name], matmul_gflops(dtype, 512, device, seconds=0.15))
    return {k: round(v, 1) for k, v in rates.items()}


def fastest_dtype(device: str = "cpu") -> str:
    """`bf16` or `fp32`, whichever multiplies faster on this device."""
    rates = measured_rates(device)
    return "bf16" if rates["bf16"] > rates["fp32"] else "fp32"


def _layer_params(config: Any) -> int:
    """Weights of one decoder layer's linear projections."""
    h, kv = config.hidden_size, config.num_key_value_heads
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or h // heads
    attention = h * heads * head_dim * 2 + h * kv * head_dim * 2
    return attention + 3 * h * config.intermediate_size


def step_flops(config: Any, lengths: list[int], trained: int, lora_params: int = 0,
               backward: bool = True) -> float:
    """Forward + backward FLOPs of one step over rows of `lengths` tokens with `trained` scored
    positions: projections 2P a token forward and 2P backward (input gradients only: the base is
    frozen) plus 6 per LoRA weight; attention 4·heads·head_dim per (query, visible key) forward and
    twice that backward (sliding layers see at most their window); the head 2·V·d per trained
    position forward and 4·V·d backward (TRL's chunked head recomputes its logits). Without
    `backward` (DPO's reference model), the forward alone."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    layer_types = getattr(text, "layer_types", None) or ["full_attention"] * text.num_hidden_layers
    window = getattr(text, "sliding_window", None) or 10**9
    tokens = sum(lengths)
    k = 3.0 if backward else 1.0  # forward + backward, as multiples of the forward
    flops = (4.0 if backward else 2.0) * _layer_params(text) * text.num_hidden_layers * tokens
    flops += (6.0 if backward else 2.0) * lora_params * tokens
    for n in lengths:
        full_pairs = n * (n + 1) / 2
        w = min(window, n)
        sliding_pairs = n * w - w * (w - 1) / 2
        pairs = sum(sliding_pairs if t == "sliding_attention" else full_pairs for t in layer_types)
        flops += 4.0 * k * heads * head_dim * pairs
    flops += 2.0 * k * text.vocab_size * text.hidden_size * trained
    return flops


def _row_shapes(trainer: Any, stage: str) -> list[tuple[list[int], int]]:
    """(sequence lengths, trained positions) of each tokenised row, as the step computes them:
    an SFT row is one sequence; a DPO pair is prompt + chosen and prompt + rejected."""
    rows = []
    for r in trainer.train_dataset:
        if stage == "sft":
            mask = r.get("assistant_masks") or r.get("completion_mask")
            trained = sum(mask[1:]) if mask else sum(1 for x in (r.get("labels") or [])[1:] if x != -100)
            rows.append(([len(r["input_ids"])], int(trained)))
        else:
            p = len(r["prompt_ids"])
            rows.append(([p + len(r["chosen_ids"]), p + len(r["rejected_ids"])],
                         len(r["chosen_ids"]) + len(r["rejected_ids"])))
    return rows


def achieved(trainer: Any, stage: str, model: Any, runtime: float, rates: dict[str, float],
             dtype: str, steps: int) -> dict[str, Any]:
    """Achieved GFLOP/s over the rows `steps` optimizer steps consumed in `runtime` (mean row x
    rows seen): a resumed run counts only its own steps."""
    shapes = _row_shapes(trainer, stage)
    if not shapes or runtime <= 0:
        return {}
    lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    config = model.config
    per_row = [step_flops(config, lengths, trained, lora) for lengths, trained in shapes]
    if stage == "dpo":  # the reference (the adapter switched off) runs forward only
        per_row = [f + step_flops(config, lengths, trained, 0, backward=False)
                   for f, (lengths, trained) in zip(per_row, shapes, strict=True)]
    args = trainer.args
    rows = args.per_device_train_batch_size * args.gradient_accumulation_steps
    achieved = sum(per_row) / len(per_row) * steps * rows / runtime / 1e9
    return {"achieved_gflops": round(achieved, 1), "matmul_gflops": rates, "dtype": dtype,
            "share_of_matmul": round(achieved / rates[dtype], 3) if rates.get(dtype) else None,
            "rows_seen": trainer.state.global_step * rows,
            "trained_tokens_per_row": round(sum(t for _, t in shapes) / len(shapes), 1)}
