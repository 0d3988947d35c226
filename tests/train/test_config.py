"""One config class per training stage: each takes only its own options, and the stage picks
the class, from a YAML file or from fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from opsagent.train.config import DPOStageConfig, SFTStageConfig, load_stage, stage_config

CONFIGS = Path(__file__).resolve().parents[2] / "train" / "configs"
BENCH = Path(__file__).resolve().parents[2] / "bench" / "loop_gemma"


def test_the_stage_picks_the_class():
    assert isinstance(stage_config({"stage": "sft", "base": "tiny", "dataset": "d"}), SFTStageConfig)
    dpo = stage_config({"stage": "dpo", "base": "sft-1", "dataset": "d", "beta": 0.3})
    assert isinstance(dpo, DPOStageConfig) and dpo.beta == 0.3


def test_an_option_of_the_other_stage_is_refused():
    with pytest.raises(ValidationError, match="beta"):
        stage_config({"stage": "sft", "base": "tiny", "dataset": "d", "beta": 0.3})
    with pytest.raises(ValidationError, match="assistant_only_loss"):
        DPOStageConfig(base="sft-1", dataset=Path("d"), assistant_only_loss=True)
    with pytest.raises(ValidationError, match="stage"):
        stage_config({"stage": "ppo", "base": "tiny", "dataset": "d"})


def test_the_shipped_configs_load_with_flags_over_the_file():
    sft = load_stage(CONFIGS / "sft.yaml", max_steps=7, base=None)
    assert isinstance(sft, SFTStageConfig) and sft.max_steps == 7 and sft.base == "gemma3-270m"
    assert isinstance(load_stage(CONFIGS / "dpo.yaml"), DPOStageConfig)


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.yaml")), ids=lambda p: p.name)
def test_every_proving_run_config_loads(path):
    """A typo in a bench/loop_gemma stage would otherwise surface hours into a run."""
    assert path.name.startswith(load_stage(path).stage)  # sft*.yaml an SFT stage, dpo*.yaml DPO


def test_dpo_losses_are_trls_own_and_their_weights_match(tmp_path):
    rpo = stage_config({"stage": "dpo", "base": "sft-1", "dataset": "d", "loss_type": ["sigmoid", "sft"],
                        "loss_weights": [1.0, 0.5]})
    args = rpo.trl_args(output_dir=str(tmp_path), use_cpu=True)
    assert args.loss_type == ["sigmoid", "sft"] and args.loss_weights == [1.0, 0.5]
    with pytest.raises(ValidationError, match="loss_type"):
        stage_config({"stage": "dpo", "base": "sft-1", "dataset": "d", "loss_type": ["simpo"]})
    with pytest.raises(ValidationError, match="loss_weights: 1 values for 2 loss_type entries"):
        stage_config({"stage": "dpo", "base": "sft-1", "dataset": "d", "loss_type": ["sigmoid", "sft"],
                      "loss_weights": [1.0]})
