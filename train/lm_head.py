"""The LM head only where the loss needs it, on every device.

TRL's trainers already replace the full-vocabulary logits with a chunked head
(`trl.trainer.utils.add_fused_lm_head`: log-probabilities in vocabulary tiles, Gemma's final
soft-capping included, never a (batch, length, vocab) tensor). On CUDA it scores only the
positions whose next token is trained; elsewhere it scores every position, to keep tile shapes
fixed for compilers such as Neuron's. On a CPU that is the expensive choice: an agent row is ~86%
prompt and tool output, and Gemma's head (262k x 640) is most of the model, so scoring every
position multiplies the head's work by ~7. `score_trained_positions_only()` makes TRL take its own
compact path (the one it takes on CUDA) on CPU too; the trainers, kernels and loss stay TRL's."""

from __future__ import annotations

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
    _PATCHED = True


def _compact(device: Any) -> bool:
    return True
