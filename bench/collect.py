"""The data engine's throughput: graded incidents per minute for the teacher (expert) through
the whole graph with real Prometheus, in parallel sandboxes; and where one episode's seconds go,
phase by phase (measured in one process, by timing the functions each phase runs)."""

from __future__ import annotations

import collections
import functools
import tempfile
import time
from pathlib import Path
from typing import Any

from opsagent.agent import act
from opsagent.agent.checkpoint import open_checkpointer
from opsagent.agent.config import AgentConfig
from opsagent.agent.runner import IncidentRunner, auto_approve
from opsagent.agent.sim import episode
from opsagent.agent.sim.batch import run_batch, settle_gc
from opsagent.agent.store import Store
from opsagent.sandbox import runtime, scenario
from opsagent.sandbox.prom import remote_write, stack
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.splits import scenarios
from opsagent.trajectories.store import TrajectoryStore

PHASES = (  # (label, owner, function): nested phases are reported on their own too
    ("build the world and its history", scenario.Scenario, "build"),
    ("restart Prometheus on an empty TSDB", stack.PromStack, "reset"),
    ("remote write (history and every tick)", remote_write.RemoteWriter, "push"),
    ("alert rules over the history (promtool)", episode, "scenario_alerts"),
    ("graph: open the incident", IncidentRunner, "start"),
    ("graph: run to the end", IncidentRunner, "drive"),
    ("verification (waits and checks)", act, "check_until_clear"),
    ("simulated time while waiting", runtime.Sandbox, "advance"),
)


def throughput(n: int = 60, workers: int = 2, seed: int = 11) -> dict[str, Any]:
    specs = scenarios("train", n, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        first = None
        done = 0
        for _ in run_batch(specs, "expert", AgentConfig(), Path(tmp), workers):
            first = first or time.perf_counter()
            done += 1
        elapsed = time.perf_counter() - start
        steady = time.perf_counter() - (first or start)
    return {"episodes": done, "workers": workers, "seconds": round(elapsed, 1),
            "per_min": round(done / elapsed * 60, 1),
            "per_min_after_start": round((done - 1) / steady * 60, 1) if done > 1 else None}


def phases(n: int = 12, seed: int = 3) -> dict[str, float]:
    """Mean seconds per episode in each phase, one process (the first two episodes warm up)."""
    spent: collections.Counter[str] = collections.Counter()
    originals = []
    for label, owner, name in PHASES:
        fn = getattr(owner, name)
        originals.append((owner, name, fn))

        def timed(*a: Any, _fn: Any = fn, _label: str = label, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                spent[_label] += time.perf_counter() - t

        setattr(owner, name, functools.wraps(fn)(timed))
    specs = scenarios("train", n + 2, seed=seed)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            box = episode.open_sandbox(d / "sandbox", specs[0])
            settle_gc()  # as the batch workers do
            store, trajectories = Store(d / "agent.db"), TrajectoryStore(d / "trajectories")
            cfg = AgentConfig()
            try:
                total = 0.0
                for i, spec in enumerate(specs):
                    if i == 2:
                        spent.clear()
                    t = time.perf_counter()
                    with open_checkpointer(None, d) as cp:
                        episode.run_episode(box, spec, "expert", cfg, store, cp, auto_approve,
                                            recorder=Recorder(trajectories))
                    total += (time.perf_counter() - t) if i >= 2 else 0.0
            finally:
                box.stop()
                store.close()
                trajectories.close()
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)
    return {"episode": round(total / n, 3), **{k: round(v / n, 3) for k, v in spent.items()}}


def run(n: int = 60, workers: int = 2) -> dict[str, Any]:
    return {"phases": phases(), "throughput": throughput(n, workers)}
