"""SFT and DPO with TRL and PEFT LoRA, from a stage config (the Trainer logs loss, tokens/s
and its progress bar the ETA). The same code runs on CPU and GPU, in the dtype that multiplies
faster there (measured per machine: bf16 on CUDA and on CPUs with native bf16, fp32 elsewhere;
QLoRA with bitsandbytes when asked);
`accelerate launch` spreads it over GPUs. TRL's fused head scores only trained positions
(train/lm_head.py); sliding-window layers compute only their window's blocks
(train/attention.py); SFT batches are padding-free. Training resumes from the last checkpoint in
the output directory; the result is registered with its lineage, its loss curve and its
throughput (tokens/s, achieved GFLOP/s against the matmul rate measured in the same run)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from opsagent.train.chat_template import CHAT_TEMPLATE
from opsagent.train.config import DPOStageConfig, SFTStageConfig
from opsagent.train.lm_head import score_trained_positions_only
from opsagent.train.optimizer_state import NoOptimizerState, carry_moments, last_optimizer_state
from opsagent.train.registry import Checkpoint, ModelRegistry, git_commit
from opsagent.train.throughput import achieved, fastest_dtype, measured_rates
from opsagent.trajectories.export import Lengths

Stage = SFTStageConfig | DPOStageConfig
console = Console()


def dataset_hash(path: Path) -> str:
    digest = hashlib.sha256()
    files = (p for p in path.rglob("*") if p.is_file() and p.suffix in (".arrow", ".parquet", ".json"))
    for f in sorted(files):
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def _device_settings(cfg: Stage) -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    rates = measured_rates(device)
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and fastest_dtype(device) == "bf16")
    return {"bf16": bf16, "use_cpu": not cuda, "dtype": torch.bfloat16 if bf16 else torch.float32,
            "device": device, "rates": rates}


def _profile_of(dataset: Path, start: Checkpoint | None) -> str:
    """The prompt profile the rows were exported with (its counts.json), else the start's."""
    counts = dataset.parent / "counts.json"
    if counts.is_file():
        return json.loads(counts.read_text()).get("profile") or "full"
    return start.profile if start else "full"


def _within(dataset: Any, tokenizer: Any, max_length: int | None) -> tuple[Any, int]:
    """The rows whose whole conversation (a pair: prompt + the longer answer) fits `max_length`
    tokens, and how many did not: a cut row would train on a turn without its end."""
    if max_length is None:
        return dataset, 0

    length = Lengths(tokenizer)  # the export's own measure of a row

    def fits(row: dict[str, Any]) -> bool:
        tools = json.loads(row["tools"]) if isinstance(row.get("tools"), str) else row.get("tools")
        if "messages" in row:
            ends = [row["messages"]]
        else:
            ends = [row["prompt"] + row["chosen"], row["prompt"] + row["rejected"]]
        return all(length(m, tools or None) <= max_length for m in ends)

    kept = dataset.filter(fits)
    if len(kept) < len(dataset):
        console.print(f"[yellow]{len(dataset) - len(kept)} of {len(dataset)} rows are longer than "
                      f"{max_length} tokens: left out[/]")
    return kept, len(dataset) - len(kept)


def _load_model(base_dir: Path, adapter: Path | None, cfg: Stage, dtype: Any) -> Any:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from opsagent.train.attention import register as windowed_attention

    attention = windowed_attention() if cfg.attention == "sdpa_windowed" else "sdpa"
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": attention}
    if cfg.lora.qlora:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype)
    model = AutoModelForCausalLM.from_pretrained(base_dir, **kwargs)
    if adapter is not None:
        # Training goes on in the start checkpoint's adapter, so every result applies to the same
        # base and one vLLM server can serve them all; for DPO, TRL keeps a frozen copy of it as
        # the reference model (the SFT policy).
        model = PeftModel.from_pretrained(model, adapter, is_trainable=True)
    return model


def load_tokenizer(base_dir: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if "generation" not in (tokenizer.chat_template or ""):
        tokenizer.chat_template = CHAT_TEMPLATE  # tools, tool calls and assistant-only loss
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _resumed_at(trainer_dir: Path) -> tuple[int, int] | None:
    """(optimizer steps, input tokens) of the last checkpoint in `trainer_dir`, which a run resumes
    from; None when there is none."""
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(trainer_dir)) if trainer_dir.is_dir() else None
    if last is None:
        return None
    state = json.loads((Path(last) / "trainer_state.json").read_text())
    return state.get("global_step", 0), state.get("num_input_tokens_seen", 0)


def train(cfg: Stage, registry: ModelRegistry, checkpoint_id: str | None = None) -> Checkpoint:
    from datasets import load_from_disk
    from peft import LoraConfig

    start = (
        registry.get(cfg.base)
        if (registry.root / "registry" / f"{cfg.base}.json").is_file() or cfg.base == "current"
        else None
    )
    base_dir = registry.base_dir(start) if start else Path(cfg.base)
    adapter = start.path if start and start.kind != "base" else None
    if cfg.stage == "dpo" and adapter is None:
        console.print("[yellow]DPO from a base model, not an SFT result: the reference is the base[/]")
    checkpoint_id = checkpoint_id or f"{cfg.stage}-{time.strftime('%Y%m%d-%H%M%S')}"
    out = cfg.output or registry.root / checkpoint_id
    resumed_at = _resumed_at(out / "trainer")
    resume = resumed_at is not None
    before = resumed_at or (0, 0)
    carried = None
    if cfg.carry_optimizer and not resume:  # a resumed run loads its own checkpoint's moments
        if adapter is None:
            raise NoOptimizerState(f"carry_optimizer: {cfg.base} is not a trained checkpoint; a new "
                                   "adapter has no moments to carry")
        carried = last_optimizer_state(adapter)
    device = _device_settings(cfg)
    tokenizer = load_tokenizer(base_dir)
    model = _load_model(base_dir, adapter, cfg, device["dtype"])
    dataset, too_long = _within(load_from_disk(str(cfg.dataset)), tokenizer, cfg.max_length)
    lora = (
        None
        if adapter is not None
        else LoraConfig(  # a continued adapter keeps its own shape
            r=cfg.lora.r,
            lora_alpha=cfg.lora.alpha,
            lora_dropout=cfg.lora.dropout,
            target_modules=cfg.lora.targets,
            task_type="CAUSAL_LM",
        )
    )
    common = dict(
        output_dir=str(out / "trainer"),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        optim=cfg.optimizer,
        warmup_steps=cfg.warmup_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        seed=cfg.seed,
        logging_steps=cfg.logging_steps,
        save_steps=cfg.save_steps,
        save_total_limit=2,
        report_to=[],
        bf16=device["bf16"],
        use_cpu=device["use_cpu"],
        max_length=None,  # rows over the bound are left out whole (`_within`), never cut mid-turn
        include_num_input_tokens_seen=True,
        disable_tqdm=False,
        gradient_checkpointing=cfg.gradient_checkpointing,  # TRL's own default is on: ~1/3 more compute
    )
    score_trained_positions_only()
    if cfg.stage == "sft":
        from trl import SFTTrainer as Trainer

        common["padding_free"] = cfg.batch_size > 1  # one row of all the batch's tokens, no padding
    else:
        from trl import DPOTrainer as Trainer
    trainer = Trainer(model=model, processing_class=tokenizer, train_dataset=dataset, peft_config=lora,
                      args=cfg.trl_args(**common))
    if carried is not None:
        weights = carry_moments(trainer, carried)
        console.print(f"AdamW moments of {weights} weights carried from {carried}")
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    trainer.model.save_pretrained(out / "adapter", selected_adapters=["default"])
    tokenizer.save_pretrained(out / "adapter")
    losses = [x["loss"] for x in trainer.state.log_history if "loss" in x]
    runtime = result.metrics.get("train_runtime", 0.0)  # this process's: a resumed run's rates count
    steps_now = result.global_step - before[0]  # only the steps and tokens it trained itself
    tokens_now = trainer.state.num_input_tokens_seen - before[1]
    metrics = {
        "train_loss": result.training_loss,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "steps": result.global_step,
        "curve": [[x["step"], round(x["loss"], 5)] for x in trainer.state.log_history if "loss" in x],
        "learning_rates": [[x["step"], x["learning_rate"]] for x in trainer.state.log_history
                           if "learning_rate" in x],
        "runtime_s": round(runtime, 2),
        "tokens_seen": trainer.state.num_input_tokens_seen,
        "tokens_per_s": round(tokens_now / max(1e-9, runtime), 1),
        "resumed": resume,
        **({"optimizer_carried_from": str(carried)} if carried else {}),
        **({"resumed_at_step": before[0], "tokens_this_run": tokens_now} if resume else {}),
        "rows_left_out_too_long": too_long,
        "device": device["device"],
        "activation_checkpointing": bool(getattr(trainer.model, "is_activation_checkpointing", False)),
        **achieved(trainer, cfg.stage, trainer.model, runtime, device["rates"],
                   "bf16" if device["bf16"] else "fp32", steps_now),
    }
    base_id = (start.id if start.kind == "base" else start.base) if start else None
    return registry.add(
        Checkpoint(
            id=checkpoint_id,
            kind=cfg.stage,
            path=out / "adapter",
            base=base_id or str(base_dir),
            parent=start.id if start else None,
            datasets={str(cfg.dataset): dataset_hash(cfg.dataset)},
            profile=_profile_of(cfg.dataset, start),
            config=cfg.model_dump(mode="json"),
            commit=git_commit(),
            train_metrics=metrics,
        )
    )
