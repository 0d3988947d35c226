"""Windowed sliding-window attention (train/attention.py): a Gemma-3-shaped model (sliding and
full layers, one key/value head for four query heads) gives the same logits and the same
gradients as transformers' `sdpa` to 1e-5, for one row and for a padding-free pack of two rows,
and its sliding layers really run in blocks (else it would only be slower sdpa)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from opsagent.train import attention

PACK = torch.cat([torch.arange(30), torch.arange(23)])[None]  # two rows in one: positions restart


@pytest.fixture(scope="module")
def model():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    attention.register()
    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                              num_attention_heads=4, num_key_value_heads=1, head_dim=32, sliding_window=8,
                              layer_types=["sliding_attention", "full_attention", "sliding_attention"])
    return Gemma3ForCausalLM(config)


def _run(model, implementation, ids, **kwargs):
    model.config._attn_implementation = implementation
    model.zero_grad()
    logits = model(input_ids=ids, use_cache=False, **kwargs).logits  # as in training: packs are found
    logits.pow(2).mean().backward()
    return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("packed", [False, True], ids=["one row", "two rows packed"])
def test_windowed_attention_equals_sdpa_in_logits_and_gradients(model, packed):
    torch.manual_seed(1)
    ids = torch.randint(0, 300, (1, 53))  # not a multiple of the window: the last block is padded
    kwargs = {"position_ids": PACK} if packed else {}
    want, want_grads = _run(model, "sdpa", ids, **kwargs)
    got, got_grads = _run(model, attention.NAME, ids, **kwargs)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    for name, grad in want_grads.items():
        torch.testing.assert_close(got_grads[name], grad, rtol=0, atol=1e-5, msg=name)


def test_the_rows_of_a_pack_do_not_see_each_other(model):
    ids = torch.randint(0, 300, (1, 53))
    alone, _ = _run(model, attention.NAME, ids[:, 30:])
    packed, _ = _run(model, attention.NAME, ids, position_ids=PACK)
    torch.testing.assert_close(packed[:, 30:], alone, rtol=0, atol=1e-5)


def test_sliding_layers_attend_in_blocks_of_the_window(model, monkeypatch):
    shapes = []
    sdpa = F.scaled_dot_product_attention

    def spy(query, key, *args, **kwargs):
        shapes.append((tuple(query.shape), tuple(key.shape)))
        return sdpa(query, key, *args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    _run(model, attention.NAME, torch.randint(0, 300, (1, 53)))
    # Two sliding layers (window 8): 27 blocks of 2 queries each (a quarter window), attending to
    # their own 2 keys and the 8 before them, the blocks as the batch (4-D, which torch's fused CPU
    # kernel takes); the full layer whole.
    blocked = ((27, 4, 2, 32), (27, 1, 10, 32))
    assert shapes == [blocked, ((1, 4, 53, 32), (1, 1, 53, 32)), blocked]
