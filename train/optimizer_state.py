"""The start checkpoint's AdamW moments, carried into a run that continues its adapter.

A fresh AdamW divides each step by second moments that have seen one gradient, so its first
steps move every weight of a converged adapter by about the learning rate, whatever the size of
its gradient. With the start's own moments a step is scaled as the start's last steps were: a
small gradient makes a small move. Measured on the proving run's SFT checkpoint (bench/
loop_gemma.md, "Is it the preference objective?"): 13 steps at 2e-5 on the rows it had learnt
from cost the held-out task score 0.826 → 0.718 fresh, → 0.745 carried; its DPO stage scored
0.597 fresh, 0.658 carried."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


class NoOptimizerState(ValueError):
    """The start checkpoint left no optimizer state to carry (an imported bundle, a base)."""


def last_optimizer_state(adapter: Path) -> Path:
    """optimizer.pt of the last trainer checkpoint beside `adapter` (a registered checkpoint's
    adapter directory, whose run wrote <out>/trainer/checkpoint-N/)."""
    from transformers.trainer_utils import get_last_checkpoint

    trainer_dir = adapter.parent / "trainer"
    last = get_last_checkpoint(str(trainer_dir)) if trainer_dir.is_dir() else None
    state = Path(last) / "optimizer.pt" if last else None
    if state is None or not state.is_file():
        raise NoOptimizerState(f"carry_optimizer: the start checkpoint left no optimizer state under "
                               f"{trainer_dir} (a bundle carries it only if exported with "
                               "`--optimizer`); set carry_optimizer: false")
    return state


def keep_optimizer_state(adapter: Path, state_file: Path, step: int) -> None:
    """Put `state_file` where last_optimizer_state(adapter) finds it (a bundle's moments, imported)."""
    target = adapter.parent / "trainer" / f"checkpoint-{step}"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(state_file, target / "optimizer.pt")


def carry_moments(trainer: Any, state_file: Path) -> int:
    """Build `trainer`'s optimizer and load the moments of `state_file` into it; this run's
    learning rate, schedule and weight decay stay its own. Returns the number of weights carried.
    Raises ValueError when the saved state does not fit the trainable weights (another adapter
    shape or target modules), NoOptimizerState when it holds no AdamW moments."""
    import torch

    optimizer = trainer.create_optimizer()
    saved = torch.load(state_file, map_location="cpu", weights_only=True)
    if not any("exp_avg" in s for s in saved["state"].values()):  # else it would start fresh, silently
        raise NoOptimizerState(f"{state_file}: no AdamW moments in it (its run's optimizer was another, "
                               "e.g. `optimizer: sgd`); set carry_optimizer: false")
    groups = optimizer.param_groups
    if [len(g["params"]) for g in saved["param_groups"]] != [len(g["params"]) for g in groups]:
        raise ValueError(f"{state_file}: its parameter groups hold "
                         f"{[len(g['params']) for g in saved['param_groups']]} weights, this run's "
                         f"{[len(g['params']) for g in groups]}: not the same adapter")
    params = [p for g in groups for p in g["params"]]
    ids = [i for g in saved["param_groups"] for i in g["params"]]
    for index, param in zip(ids, params, strict=True):
        moment = saved["state"].get(index, {}).get("exp_avg")
        if moment is not None and moment.shape != param.shape:
            raise ValueError(f"{state_file}: weight {index} has shape {tuple(moment.shape)}, this run's "
                             f"{tuple(param.shape)}: not the same adapter")
    # Saved indices, this run's hyperparameters: no `initial_lr` from the start's schedule.
    fresh = [{**{k: v for k, v in g.items() if k != "params"}, "params": s["params"]}
             for g, s in zip(groups, saved["param_groups"], strict=True)]
    optimizer.load_state_dict({"state": saved["state"], "param_groups": fresh})
    return len(saved["state"])
