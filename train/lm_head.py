"""The LM head only where the loss needs it, on every device.

TRL's trainers already replace the full-vocabulary logits with a chunked head
(`trl.trainer.utils.add_fused_lm_head`: log-probabilities in vocabulary tiles, Gemma's final
soft-capping included, never a (batch, length, vocab) tensor). On CUDA it scores only the
positions whose next token is trained; elsewhere it scores every position, to keep tile shapes
fixed for compilers such as Neuron's. On a CPU that is the expensive choice: an agent row is ~86%
prompt and tool output, and Gemma's head (262k x 640) is most of the model, so scoring every
position multiplies the head's work by ~7. `score_trained_positions_only()` makes TRL take its own
compact path (the one it takes on CUDA) on CPU too; the trainers, kernels and loss stay TRL's.

Without Triton, TRL folds each (tokens x vocabulary-chunk) tile in ~20 separate torch ops, each a
pass over the fp32 tile in memory: for Gemma's 262k vocabulary that was ~40% of a CPU step, the
matmuls a small part of it. Compiled (inductor fuses them into one loop per tile; the same
functions, the same numbers), the head's forward and backward ran 3x faster (17.5 s → 5.9 s for
938 trained tokens, bf16)."""

from __future__ import annotations

import os
import shutil
from typing import Any

_PATCHED = False


def score_trained_positions_only() -> None:
    """Make TRL's fused head gather the trained positions before projecting, on any device.

    TRL decides with `_use_triton(device)` in `trl.trainer.utils` (the module's own name for it;
    the kernels keep theirs, so CPU still runs the torch tiles). Idempotent."""
    global _PATCHED
    if _PATCHED:
        return
    import trl.trainer.utils as trl_utils

    if not hasattr(trl_utils, "_use_triton"):  # a TRL that decides otherwise: fail loudly, not slowly
        raise RuntimeError("this TRL's fused LM head has no `_use_triton` switch; update train/lm_head.py")
    trl_utils._use_triton = _compact
    _compile_torch_folds()
    _PATCHED = True


def _compile_torch_folds() -> None:
    """TRL's torch tile folds (the path without Triton), compiled on first use. Inductor builds
    CPU code with a C++ compiler; without one they stay eager: slower, the same results."""
    import torch
    import trl.kernels.chunked_logprob as kernels

    if shutil.which(os.environ.get("CXX", "g++")) is None and shutil.which("clang++") is None:
        return
    for name in ("_forward_tile", "_backward_tile"):
        if not hasattr(kernels, name):
            raise RuntimeError(f"this TRL's log-prob kernels have no `{name}`: update train/lm_head.py")
        setattr(kernels, name, torch.compile(getattr(kernels, name), dynamic=True))


def _compact(device: Any) -> bool:
    return True
