"""One documented config per training stage (YAML or flags): base, dataset, LoRA, lengths,
schedule, batch, seed. The same config runs on this CPU and on GPUs (bf16 when CUDA is there);
multi-GPU goes through `accelerate launch` with a config from train/accelerate/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

# Attention and MLP: the MLP holds most of a small model's non-embedding weights, and with tool-call
# markers spelt in the base vocabulary (train/chat_template.py) nothing else needs training.
ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(default=16, ge=1, le=256, description="LoRA rank")
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.0, ge=0, lt=1, description="on each adapted layer's input; 0 lets "
                           "PEFT skip it (on CPU the random masks were ~11% of a Gemma step)")
    targets: list[str] = Field(default=ALL_PROJECTIONS, description="module names to adapt")
    qlora: bool = Field(default=False, description="4-bit base (needs bitsandbytes and a GPU)")


class _StageConfig(BaseModel):
    """What both stages share; each stage's own class adds its options and makes TRL's config."""

    model_config = ConfigDict(extra="forbid")

    base: str = Field(description="a registered checkpoint id, or a Hugging Face model directory")
    dataset: Path = Field(description="a dataset saved by `opsagent trajectories export` (its sft/ or dpo/)")
    output: Path | None = Field(default=None, description="default: data_dir/models/<checkpoint id>")
    lora: LoraSettings = LoraSettings()
    max_length: int | None = Field(default=4096, ge=64, description="tokens per row (None: no cut)")
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int = Field(default=-1, description="overrides epochs when > 0")
    learning_rate: float = Field(default=2e-4, gt=0)
    warmup_steps: int = Field(default=0, ge=0, description="optimizer steps at a rising learning rate "
                              "first: DPO's first steps push hardest (bench/loop_gemma.md, dpo-b1-gemma)")
    carry_optimizer: bool = Field(
        default=False, description="start from the start checkpoint's AdamW moments (its last trainer "
        "checkpoint), not fresh ones, whose first steps move every weight by about the learning rate "
        "(train/optimizer_state.py)")
    optimizer: Literal["adamw_torch", "sgd"] = Field(
        default="adamw_torch", description="sgd: a step is the learning rate times the (clipped) gradient, "
        "so weights the objective does not pull on stay where they are; for a short run from a bundle "
        "with no moments to carry, where a fresh AdamW moves every weight by about the learning rate")
    batch_size: int = Field(default=1, ge=1)
    grad_accum: int = Field(default=4, ge=1)
    seed: int = 0
    logging_steps: int = Field(default=1, ge=1)
    save_steps: int = Field(default=50, ge=1, description="checkpoints for resuming")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto", description="auto: the dtype whose matmul is faster here (measured)")
    gradient_checkpointing: bool = False
    attention: Literal["sdpa_windowed", "sdpa"] = Field(
        default="sdpa_windowed", description="sdpa_windowed: sliding-window layers compute only their "
        "window's blocks (same numbers as sdpa, train/attention.py); sdpa: transformers' own")


    @model_validator(mode="after")
    def _moments_for_adamw(self) -> _StageConfig:
        if self.carry_optimizer and self.optimizer != "adamw_torch":
            raise ValueError(f"carry_optimizer: AdamW moments cannot be carried into {self.optimizer}")
        return self


class SFTStageConfig(_StageConfig):
    """Supervised fine-tuning on exported successes (TRL's SFTConfig)."""

    stage: Literal["sft"] = "sft"
    assistant_only_loss: bool = Field(default=True, description="loss on the assistant's tokens only")

    def trl_args(self, **common: Any) -> Any:
        from trl import SFTConfig

        return SFTConfig(assistant_only_loss=self.assistant_only_loss, **common)


DPOLoss = Literal["sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
                  "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm"]  # TRL 1.16's


class DPOStageConfig(_StageConfig):
    """Preference optimisation on exported pairs, from the SFT result (TRL's DPOConfig)."""

    stage: Literal["dpo"] = "dpo"
    beta: float = Field(default=0.1, gt=0, description="strength of the KL penalty")
    loss_type: list[DPOLoss] = Field(
        default=["sigmoid"], min_length=1, description="TRL's DPO losses, summed with `loss_weights`; add "
        "`sft` (the chosen answers' NLL, as in RPO) to hold the policy on the chosen answers while it "
        "pushes the rejected ones down")
    loss_weights: list[float] | None = Field(default=None, description="one per loss_type; None: 1 each")

    @model_validator(mode="after")
    def _weights_match(self) -> DPOStageConfig:
        if self.loss_weights is not None and len(self.loss_weights) != len(self.loss_type):
            raise ValueError(f"loss_weights: {len(self.loss_weights)} values for "
                             f"{len(self.loss_type)} loss_type entries")
        return self

    def trl_args(self, **common: Any) -> Any:
        from trl import DPOConfig

        return DPOConfig(beta=self.beta, loss_type=self.loss_type, loss_weights=self.loss_weights, **common)


StageConfig = Annotated[SFTStageConfig | DPOStageConfig, Field(discriminator="stage")]
_STAGE: TypeAdapter[SFTStageConfig | DPOStageConfig] = TypeAdapter(StageConfig)


def stage_config(data: dict[str, Any]) -> SFTStageConfig | DPOStageConfig:
    """A stage's config from its fields; `stage` picks the class (pydantic ValidationError names
    the field that is wrong)."""
    return _STAGE.validate_python(data)


def load_stage(path: Path, **overrides: object) -> SFTStageConfig | DPOStageConfig:
    """A YAML stage config (train/configs/), flags over the file; raises FileNotFoundError."""
    data = yaml.safe_load(path.read_text()) or {}
    return stage_config({**data, **{k: v for k, v in overrides.items() if v is not None}})
