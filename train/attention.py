"""Sliding-window attention that computes only the blocks inside the window.

transformers' `sdpa` hands a sliding-window layer a full (length x length) boolean mask, and
torch's SDPA multiplies every query by every key before masking: for a 3.6k-token agent row and
Gemma 3's 512-token window, ~3.5x the pairs a window can see, in 15 of its 18 layers (a profile
put attention at 41% of a CPU training step). FlexAttention would skip the empty blocks, but it
has no CPU backward in torch 2.13. Here the queries are cut into blocks (a quarter window) and
each block attends to its own keys and the window before them, with the same mask cut to match:
the same numbers as `sdpa` (the mask decides every pair; packed rows keep their boundaries),
with autograd's own backward. Registered with transformers' attention and mask interfaces as
`sdpa_windowed`; layers without a window, short rows and decoding go to `sdpa` unchanged."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

NAME = "sdpa_windowed"
# Queries per block: a window's quarter. Each block computes its own keys and the window before
# them, w + w/4 per query where w are needed (whole windows: 2w); smaller blocks gained little
# more (3.6k tokens, Gemma 3's shapes, bf16, forward + backward: 0.32 s at w, 0.25 at w/2,
# 0.23 at w/4 a layer).
QUERY_BLOCKS_PER_WINDOW = 4
_REGISTERED = False


def windowed_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                       attention_mask: torch.Tensor | None, sliding_window: int | None = None,
                       **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' attention signature: query (B, H, L, D), key/value (B, KV, L, D), a boolean
    mask (B or 1, 1, L, L); returns (B, L, H, D)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    length = query.shape[2]
    w = sliding_window
    plain = kwargs.get("position_bias") is not None or kwargs.get("softcap") is not None
    if (plain or w is None or attention_mask is None or attention_mask.dtype != torch.bool
            or key.shape[2] != length or length <= 2 * w):
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    qb = max(1, w // QUERY_BLOCKS_PER_WINDOW)
    blocks = -(-length // qb)
    extra = blocks * qb - length
    # Queries (B, n, H, qb, D); keys and values of the window before each block and the block
    # itself (B, n, KV, w + qb, D), out of the keys padded in front by a window.
    q = F.pad(query, (0, 0, 0, extra)).unflatten(2, (blocks, qb)).transpose(1, 2)
    k, v = (F.pad(t, (0, 0, w, extra)).unfold(2, w + qb, qb).permute(0, 2, 1, 4, 3) for t in (key, value))
    cut = _cut(attention_mask, length, w, qb, blocks).expand(q.shape[0], -1, -1, -1, -1)
    # Blocks as the batch (4-D): torch's fused CPU kernel takes only that; 5-D goes to its math
    # path, which materialises the scores (~1.7x slower forward + backward at Gemma 3's shapes).
    out = F.scaled_dot_product_attention(q.flatten(0, 1), k.flatten(0, 1), v.flatten(0, 1),
                                         attn_mask=cut.flatten(0, 1), dropout_p=kwargs.get("dropout", 0.0),
                                         scale=kwargs.get("scaling"), enable_gqa=k.shape[2] != q.shape[2])
    out = out.unflatten(0, q.shape[:2]).transpose(1, 2).flatten(2, 3)[:, :, :length]  # (B, H, L, D)
    return out.transpose(1, 2).contiguous(), None


_last_cut: tuple[torch.Tensor, int, torch.Tensor] | None = None


def _cut(mask: torch.Tensor, length: int, w: int, qb: int, blocks: int) -> torch.Tensor:
    """The mask's (qb x (w + qb)) block of each query block: (B, n, 1, qb, w + qb). Every sliding
    layer of a forward gets the same mask tensor, so the last cut is kept (with the mask it was
    cut from, so that tensor cannot be freed and its memory reused by another mask)."""
    global _last_cut
    if _last_cut is not None and _last_cut[0] is mask and _last_cut[1] == w:
        return _last_cut[2]
    extra = blocks * qb - length
    full = torch.zeros(mask.shape[0], blocks * qb, w + blocks * qb, dtype=torch.bool, device=mask.device)
    full[:, :length, w:w + length] = mask[:, 0, :length, :length]
    # Padded query rows see their own padded key, so no row is empty (their outputs are dropped).
    idx = torch.arange(length, length + extra, device=mask.device)
    full[:, idx, idx + w] = True
    rows = full.unflatten(1, (blocks, qb))  # (B, n, qb, w + n·qb)
    cut = torch.stack([rows[:, b, :, b * qb:b * qb + w + qb] for b in range(blocks)], dim=1).unsqueeze(2)
    _last_cut = (mask, w, cut)
    return cut


def register() -> str:
    """Make `attn_implementation="sdpa_windowed"` loadable (idempotent); returns its name."""
    global _REGISTERED
    if not _REGISTERED:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(NAME, windowed_attention)
        AttentionMaskInterface.register(NAME, sdpa_mask)
        _REGISTERED = True
    return NAME
