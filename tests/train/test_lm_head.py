"""The compact LM head (train/lm_head.py) on CPU: TRL's SFT loss and DPO log-probabilities equal
the standard full-logit ones to 1e-5 (a Gemma-shaped model with final soft-capping, LoRA on every
projection), the head projects only the trained positions, and a padding-free batch of two rows
is the same as the two rows alone (no attention across the boundary)."""

from __future__ import annotations

import json

import torch

from opsagent.train.chat_template import GEMMA_TEMPLATE
from opsagent.train.config import ALL_PROJECTIONS
from opsagent.train.lm_head import score_trained_positions_only
from opsagent.train.tiny import build_tokenizer

ROWS = [
    [{"role": "system", "content": "You are an SRE."},
     {"role": "user", "content": "checkout answers 503 since its release."},
     {"role": "assistant", "content": "Check the logs.", "tool_calls": [
         {"id": "a", "type": "function", "function": {"name": "logs_patterns", "arguments": "{}"}}]},
     {"role": "tool", "tool_call_id": "a", "name": "logs_patterns", "content": "NullPointerException x 40"},
     {"role": "assistant", "content": '{"components": ["shop/Deployment/checkout"]}'}],
    [{"role": "user", "content": "cart is slow"},
     {"role": "assistant", "content": '{"components": ["shop/Deployment/redis"], "remediation": []}'}],
]


def _gemma_like():
    from peft import LoraConfig, get_peft_model
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = build_tokenizer()
    tokenizer.chat_template = GEMMA_TEMPLATE.replace("{{ bos_token }}", "")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    tokenizer.eos_token = "<end_of_turn>"
    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                              num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=32,
                              final_logit_softcapping=30.0, sliding_window=16,
                              pad_token_id=tokenizer.pad_token_id,
                              eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    model = Gemma3ForCausalLM(config)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=ALL_PROJECTIONS, init_lora_weights=False)
    model = get_peft_model(model, lora)
    return model, tokenizer


def _sft_trainer(tmp_path, model, tokenizer, batch_size, padding_free=False):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    data = Dataset.from_list([{"messages": m} for m in ROWS])
    args = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=batch_size,
                     assistant_only_loss=True, padding_free=padding_free, use_cpu=True, report_to=[],
                     max_length=None)
    return SFTTrainer(model=model, processing_class=tokenizer, train_dataset=data, args=args)


def _standard_loss(model, batch) -> torch.Tensor:
    """The loss the model's own forward computes from the full logits."""
    return model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"),
                 position_ids=batch.get("position_ids"), labels=batch["labels"]).loss


def test_trl_sft_loss_with_the_compact_head_equals_the_full_logit_loss(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import trl.trainer.utils as trl_utils

    score_trained_positions_only()
    model, tokenizer = _gemma_like()
    trainer = _sft_trainer(tmp_path, model, tokenizer, batch_size=1)
    batch = next(iter(trainer.get_train_dataloader()))
    trained = int((batch["labels"][:, 1:] != -100).sum())
    assert 0 < trained < batch["input_ids"].numel() // 2  # mostly prompt: what the compact head skips

    rows = []
    original = trl_utils._ChunkedLogProbFunction.apply
    counting = SimpleNamespace(apply=lambda hidden, *a: rows.append(hidden.shape[0]) or original(hidden, *a))
    monkeypatch.setattr(trl_utils, "_ChunkedLogProbFunction", counting)
    model.train()
    loss = trainer.compute_loss(model, dict(batch))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()
    assert rows == [trained]  # the head saw the trained positions only

    reference = _standard_loss(model, batch)
    reference.backward()
    assert abs(loss.item() - reference.item()) < 1e-5
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert torch.allclose(grads[name], p.grad, atol=1e-5), name


def test_padding_free_batch_equals_its_rows_alone(tmp_path):
    score_trained_positions_only()
    model, tokenizer = _gemma_like()
    model.eval()
    singles = list(_sft_trainer(tmp_path, model, tokenizer, 1).get_train_dataloader())
    packed_trainer = _sft_trainer(tmp_path, model, tokenizer, 2, padding_free=True)
    packed = next(iter(packed_trainer.get_train_dataloader()))
    assert "attention_mask" not in packed and packed["input_ids"].shape[0] == 1  # one row, no padding
    assert packed["input_ids"].shape[1] == sum(b["input_ids"].shape[1] for b in singles)
    with torch.no_grad():
        tokens = [int((b["labels"][:, 1:] != -100).sum()) for b in singles]
        per_row = [packed_trainer.compute_loss(model, dict(b)).item() for b in singles]
        joint = packed_trainer.compute_loss(model, dict(packed)).item()
    expected = sum(n * x for n, x in zip(tokens, per_row, strict=True)) / sum(tokens)
    assert abs(joint - expected) < 1e-5


def test_trl_dpo_log_probs_with_the_compact_head_equal_the_full_logit_ones(tmp_path):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    score_trained_positions_only()
    model, tokenizer = _gemma_like()
    tools = json.dumps([])
    pairs = Dataset.from_list([{"prompt": ROWS[0][:4], "chosen": ROWS[0][4:], "tools": tools,
                                "rejected": [{"role": "assistant", "content": '{"components": []}'}]}])
    trainer = DPOTrainer(model=model, processing_class=tokenizer, train_dataset=pairs,
                         args=DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=1, use_cpu=True,
                                        report_to=[], max_length=None))
    batch = next(iter(trainer.get_train_dataloader()))
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    with torch.no_grad():
        fused = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels,
                      fused_lm_head=True).log_probs.sum(-1)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        full = torch.log_softmax(logits.float(), -1).gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1)
        full = (full * (labels[:, 1:] != -100)).sum(-1)
    assert fused.shape == (2,) and torch.allclose(fused, full, atol=1e-5)
