"""The expert policy's quality over many scenarios (every fault type, many seeds and targets),
through the live sandbox: detection, localisation, analysis (level + type), mitigation where it
proposes a remediation, tool calls and wall time per incident."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from agent.expert import Expert
from agent.react import investigate
from sandbox.faults import FAULTS
from sandbox.runtime import Sandbox
from sandbox.scenario import FaultSpec, ScenarioSpec
from tools.catalog import default_registry
from tools.cli import sandbox_config
from tools.context import ToolContext


def run(scenarios: int = 200) -> dict[str, Any]:
    faults = sorted(FAULTS)
    specs = [ScenarioSpec(faults=[FaultSpec(type=faults[i % len(faults)])], seed=100 + i)
             for i in range(scenarios)]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        box = Sandbox(specs[0].model_copy(update={"now": time.time()}), Path(tmp) / "sandbox" / "q",
                      clock=False).start()
        ctx = ToolContext(sandbox_config(box.run_dir))
        registry = default_registry()
        try:
            for spec in specs:
                box.load(spec.model_copy(update={"now": time.time()}))
                truth = box.scenario.ground_truth()[0]
                started = time.perf_counter()
                t = investigate(Expert(), registry, ctx, "An alert fired in the shop; investigate.")
                d = t.diagnosis
                row = {"fault": truth.fault, "incident": truth.is_incident, "calls": t.tool_calls,
                       "detected": d is not None and d.is_incident == truth.is_incident}
                if truth.is_incident and d is not None:
                    row["localised"] = bool(set(d.components) & set(truth.components))
                    row["analysed"] = (d.level == truth.level.value
                                       and d.fault_type == truth.fault_type.value)
                    if d.remediation:
                        for step in d.remediation:
                            registry.call(ctx, step["tool"], step["args"])
                        box.scenario.advance(600)
                        row["mitigated"] = box.scenario.mitigated()
                row["seconds"] = time.perf_counter() - started
                rows.append(row)
        finally:
            ctx.close()
            box.stop()
    incidents = [r for r in rows if r["incident"]]
    remediated = [r for r in incidents if "mitigated" in r]
    return {
        "scenarios": len(rows), "incidents": len(incidents),
        "detection": sum(r["detected"] for r in rows) / len(rows),
        "localisation": sum(r.get("localised", False) for r in incidents) / len(incidents),
        "analysis": sum(r.get("analysed", False) for r in incidents) / len(incidents),
        "mitigation_when_proposed": sum(r["mitigated"] for r in remediated) / max(1, len(remediated)),
        "mitigation_overall": sum(r.get("mitigated", False) for r in incidents) / len(incidents),
        "tool_calls_per_incident": statistics.fmean(r["calls"] for r in rows),
        "seconds_per_incident": statistics.fmean(r["seconds"] for r in rows),
        "misses": sorted({r["fault"] for r in incidents if not r.get("localised")}),
    }
