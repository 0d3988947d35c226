"""Task quality of the policies through the whole graph (alerts from the real rules, tools over
the real protocols, gate, auto-approval, execution, verification), over many scenarios across
every fault type: detection, localisation, analysis (level + type), mitigation (the sandbox's
ground truth after the agent acted), steps, tool calls and wall time per incident."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from opsagent.agent.config import AgentConfig
from opsagent.agent.sim.batch import run_batch, summarise
from opsagent.sandbox.faults import FAULTS
from opsagent.trajectories.splits import every_fault


def run(n: int = 200, policies: tuple[str, ...] = ("expert", "oracle"), workers: int = 2) -> dict[str, Any]:
    out: dict[str, Any] = {}
    specs = every_fault(n, seed=7)
    for policy in policies:
        with tempfile.TemporaryDirectory() as tmp:
            results = list(run_batch(specs, policy, AgentConfig(), Path(tmp), workers))
        by_category: dict[str, list] = defaultdict(list)
        for r in results:
            by_category[FAULTS[r.fault].category if r.fault else "none"].append(r)
        out[policy] = {**summarise(results),
                       "by_category": {c: summarise(rows) for c, rows in sorted(by_category.items())},
                       "not_mitigated": sorted({r.fault for r in results
                                                if r.localised is not None and not r.mitigated})}
    return out
