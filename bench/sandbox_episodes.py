"""Sandbox core throughput: episodes per minute, where one episode is what an agent's run costs
the simulator: generate a scenario, simulate its 30 minutes of history at 15 s resolution, then
20 agent steps (10 queries of logs, events, metrics and pods; 10 actions, each followed by a
tick of simulated time). Target: >= 1,000 episodes/min for the core alone."""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import time

from opsagent.sandbox.actions import Scale
from opsagent.sandbox.metrics import render
from opsagent.sandbox.scenario import Scenario, ScenarioSpec, generate


def episode(spec: ScenarioSpec) -> int:
    sc = Scenario.build(spec)
    world = sc.world
    truth = sc.ground_truth()[0]
    target = truth.target if truth.target in world.profiles else "cart"
    ns = world.profiles[target].namespace
    fixes = [a for seq in truth.mitigations for a in seq]
    found = 0
    for step in range(10):
        # a query: logs, events, metrics or pods, as a tool would ask
        kind = step % 4
        if kind == 0:
            found += len(world.logs.query(service=target, since=world.now - 600))
        elif kind == 1:
            found += sum(1 for e in world.events if e.namespace == ns and e.type == "Warning")
        elif kind == 2:
            found += sum(1 for s in render(world.frames[-1]) if s.labels.get("namespace") == ns)
        else:
            found += sum(1 for p in world.pods.values() if p.service == target and p.ready)
        # an action, then time passes
        if step < len(fixes):
            sc.apply(fixes[step])
        else:
            sc.apply(Scale(namespace="shop", name="cart", replicas=2 + step % 2))
        world.tick()
    return found


def _work(specs: list[ScenarioSpec]) -> int:
    for spec in specs:
        episode(spec)
    return len(specs)


def run(episodes: int = 200, workers: int | None = None) -> dict[str, float]:
    specs = generate(seeds=range(4))
    chosen = [specs[i % len(specs)].model_copy(update={"seed": 100 + i}) for i in range(episodes)]
    for spec in chosen[:3]:  # warm imports and caches
        episode(spec)
    times = []
    t0 = time.perf_counter()
    for spec in chosen:
        start = time.perf_counter()
        episode(spec)
        times.append(time.perf_counter() - start)
    single = time.perf_counter() - t0
    workers = workers or os.cpu_count() or 1
    chunks = [chosen[i::workers] for i in range(workers)]
    t0 = time.perf_counter()
    with mp.get_context("fork").Pool(workers) as pool:
        done = sum(pool.map(_work, chunks))
    parallel = time.perf_counter() - t0
    return {
        "episodes": episodes,
        "single_process_per_min": 60 * episodes / single,
        "episode_ms_median": 1000 * statistics.median(times),
        "episode_ms_p95": 1000 * sorted(times)[int(0.95 * len(times))],
        "workers": workers,
        "all_cores_per_min": 60 * done / parallel,
        "target_per_min": 1000,
    }
