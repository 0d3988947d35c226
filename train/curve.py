"""The learning curve of a loop iteration: training loss by step for each stage, and the task
rates of every checkpoint on each held-out split (parent, SFT, DPO side by side)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opsagent.train.registry import Checkpoint
from opsagent.trajectories.grade import TASKS


def draw(trained: list[Checkpoint], evaluated: dict[str, dict[str, dict[str, Any]]], path: Path) -> Path:
    """`trained`: the stages' checkpoints (their `curve`); `evaluated`: checkpoint → split → summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = sorted({s for by_split in evaluated.values() for s in by_split})
    fig, axes = plt.subplots(1, 1 + len(splits), figsize=(4.5 * (1 + len(splits)), 3.6))
    loss = axes[0]
    for c in trained:
        curve = c.train_metrics.get("curve") or []
        if curve:
            loss.plot([s for s, _ in curve], [v for _, v in curve], marker=".", label=f"{c.kind} ({c.id})")
    loss.set(title="training loss", xlabel="step", ylabel="loss")
    loss.legend(fontsize=7)
    width = 0.8 / max(1, len(evaluated))
    for ax, split in zip(axes[1:], splits, strict=True):
        for i, (name, by_split) in enumerate(evaluated.items()):
            summary = by_split.get(split) or {}
            ax.bar([t + i * width for t in range(len(TASKS))], [summary.get(t) or 0 for t in TASKS], width,
                   label=name)
        ax.set_xticks([t + width * (len(evaluated) - 1) / 2 for t in range(len(TASKS))], TASKS, fontsize=7)
        ax.set(title=split, ylim=(0, 1))
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
