"""Task quality of the policies through the whole graph (alerts from the real rules, tools over
the real protocols, gate, auto-approval, execution, verification), by the one grader
(trajectories.grade), on each evaluation split: held-out worlds in distribution, held-out
targets, held-out fault types; two-incident scenarios also get a row of their own."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from opsagent.agent.config import AgentConfig
from opsagent.agent.sim.batch import run_batch
from opsagent.trajectories.grade import summarise
from opsagent.trajectories.splits import EVAL_SPLITS, scenarios


def run(limit: int | None = None, policies: tuple[str, ...] = ("expert", "oracle"),
        workers: int = 2) -> dict[str, Any]:
    """policy -> row -> summary; rows: each split, then `multi-fault` (from all splits)."""
    out: dict[str, Any] = {}
    for policy in policies:
        rows: dict[str, Any] = {}
        multi = []
        for split in EVAL_SPLITS:
            specs = scenarios(split, limit)
            with tempfile.TemporaryDirectory() as tmp:
                results = list(run_batch(specs, policy, AgentConfig(), Path(tmp), workers))
            rows[split.value] = {**summarise([r.grade for r in results]),
                                 "not_solved": sorted({r.scenario for r in results if r.grade.incident
                                                       and not (r.grade.localised and r.grade.mitigated)})}
            multi += [r.grade for r in results if r.grade.faults > 1]
        rows["multi-fault"] = summarise(multi)
        out[policy] = rows
    return out
