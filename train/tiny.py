"""A tiny causal LM and tokenizer built from a config, for tests and CI (no hub): a Qwen3-shaped
model (hidden 64, 2 layers) and a byte-level BPE tokenizer trained here on the runbooks and
tool schemas, with opsagent's chat template."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from opsagent.train.chat_template import CHAT_TEMPLATE, SPECIAL_TOKENS


def _corpus() -> list[str]:
    from opsagent.tools.catalog import default_registry

    knowledge = Path(__file__).resolve().parents[1] / "tools" / "knowledge"
    texts = [p.read_text() for p in sorted(knowledge.glob("*.md"))]
    texts += [json.dumps(t) for t in default_registry().openai()]
    texts += ["<tool_call>\n{\"name\": \"k8s_list_pods\", \"arguments\": {}}\n</tool_call>",
              "<tools>\n</tools><tool_response>\n</tool_response>"] * 20  # markers as plain text pieces
    texts.append('{"is_incident": true, "hypothesis": "", "components": [], "level": "Application", '
                 '"fault_type": "Code Defect", "summary": "", "confidence": 0.8, "remediation": []}')
    return texts


def build_tokenizer(vocab_size: int = 2048):  # type: ignore[no-untyped-def]
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", bos_token=None, unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(tokenizer, seed: int = 0):  # type: ignore[no-untyped-def]
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                         max_position_embeddings=32768, tie_word_embeddings=True, initializer_range=0.3,
                         eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=None)
    return Qwen3ForCausalLM(config)


def save_tiny(out: Path, seed: int = 0) -> Path:
    """A tiny base checkpoint directory (model + tokenizer + chat template)."""
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
