"""Carrying a start checkpoint's AdamW moments into a continued run (train/optimizer_state.py):
small gradients then make small moves, this run's learning rate stays its own, and a state that
does not fit is refused. The end-to-end path through TRL's trainer is in test_train.py; here a
plain torch AdamW stands in for the trainer's, which is what `create_optimizer` builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from opsagent.train.optimizer_state import NoOptimizerState, carry_moments, last_optimizer_state


class _Trainer:
    """The one method of transformers' Trainer that carry_moments calls, over given weights."""

    def __init__(self, params: list[torch.nn.Parameter], lr: float):
        self.params, self.lr = params, lr

    def create_optimizer(self) -> torch.optim.Optimizer:
        self.optimizer = torch.optim.AdamW(self.params, lr=self.lr, weight_decay=0.0)
        return self.optimizer


def _trained_state(tmp_path: Path, shapes: list[tuple[int, ...]]) -> Path:
    """An optimizer.pt of a run that converged: 10 steps of large gradients, 30 of small ones,
    then its schedule's end (lr 0)."""
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    opt = torch.optim.AdamW(params, lr=3e-4, weight_decay=0.0)
    for step in range(40):
        for p in params:
            p.grad = torch.randn_like(p) * (10 if step < 10 else 0.01)
        opt.step()
    for g in opt.param_groups:
        g["lr"], g["initial_lr"] = 0.0, 3e-4
    path = tmp_path / "run" / "trainer" / "checkpoint-40" / "optimizer.pt"
    path.parent.mkdir(parents=True)
    (path.parent / "trainer_state.json").write_text("{}")
    torch.save(opt.state_dict(), path)
    return path


def _move(trainer: _Trainer, carry: Path | None) -> float:
    """How far one step with a small gradient moves the weights."""
    if carry is None:
        trainer.create_optimizer()
    else:
        assert carry_moments(trainer, carry) == len(trainer.params)
    before = [p.detach().clone() for p in trainer.params]
    for p in trainer.params:
        p.grad = torch.full_like(p, 0.01)
    trainer.optimizer.step()
    return max((p.detach() - b).abs().max().item() for p, b in zip(trainer.params, before, strict=True))


def test_carried_moments_make_a_small_gradient_a_small_move(tmp_path):
    shapes = [(4, 3), (3,)]
    state = _trained_state(tmp_path, shapes)
    fresh = _move(_Trainer([torch.nn.Parameter(torch.zeros(s)) for s in shapes], lr=2e-5), None)
    carried_trainer = _Trainer([torch.nn.Parameter(torch.zeros(s)) for s in shapes], lr=2e-5)
    carried = _move(carried_trainer, state)
    assert fresh == pytest.approx(2e-5, rel=0.01)  # a fresh AdamW: the learning rate, whatever the gradient
    assert carried < fresh / 20  # against the start's gradient scale, 0.01 is small
    group = carried_trainer.optimizer.param_groups[0]
    assert group["lr"] == 2e-5 and "initial_lr" not in group  # this run's schedule, not the start's
    assert carried_trainer.optimizer.state[carried_trainer.params[0]]["step"].item() == 41


def test_a_state_of_another_adapter_is_refused(tmp_path):
    state = _trained_state(tmp_path, [(4, 3), (3,)])
    with pytest.raises(ValueError, match=r"shape \(4, 3\), this run's \(3, 4\): not the same adapter"):
        carry_moments(_Trainer([torch.nn.Parameter(torch.zeros(s)) for s in [(3, 4), (3,)]], 1e-5), state)
    with pytest.raises(ValueError, match="hold \\[2\\] weights, this run's \\[1\\]"):
        carry_moments(_Trainer([torch.nn.Parameter(torch.zeros(4, 3))], 1e-5), state)


def test_a_state_without_adamw_moments_is_refused_not_carried_as_nothing(tmp_path):
    weight = torch.nn.Parameter(torch.zeros(4))
    sgd = torch.optim.SGD([weight], lr=0.02)  # the stage's `optimizer: sgd`: no moments to keep
    weight.grad = torch.ones(4)
    sgd.step()
    state = tmp_path / "optimizer.pt"
    torch.save(sgd.state_dict(), state)
    with pytest.raises(NoOptimizerState, match="no AdamW moments in it"):  # the CLI names it
        carry_moments(_Trainer([torch.nn.Parameter(torch.zeros(4))], 1e-5), state)


def test_the_start_run_s_last_checkpoint_holds_the_state(tmp_path):
    state = _trained_state(tmp_path, [(2,)])
    assert last_optimizer_state(tmp_path / "run" / "adapter") == state
    with pytest.raises(NoOptimizerState, match="a bundle carries it only if exported with `--optimizer`"):
        last_optimizer_state(tmp_path / "bundle" / "adapter")
