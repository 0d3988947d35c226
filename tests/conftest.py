"""Shared fixtures. Scenario builds are deterministic, so module-scoped caches are safe as long
as tests fork the world before changing it."""

from __future__ import annotations

import copy
import os

import pytest

from opsagent.sandbox.scenario import FaultSpec, Scenario, ScenarioSpec
from tests.requires import INSTALL_STEP

# One torch (OpenMP) thread per test process, children included: `-n 2` runs a worker per core,
# and two workers' thread pools on two cores wait on each other's descheduled threads (20 SFT
# steps of the tiny model beside a busy core: 95 s with 2 threads, 9 s with 1, measured here).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# vLLM on CPU pins its model worker to core 0 and keeps core 1 for its API server by default:
# a test's server then shares one core with whatever else lands there. Unpinned, the OS places it.
os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")

# The longest modules first, longest first (measured here, 2 workers): `--dist loadfile` keeps a
# module on one worker, so one long module left for last keeps the other worker idle.
FIRST = (
    "tests/train/test_serving.py", "tests/agent/sim/test_episode.py",
    "tests/serve/cli/test_main.py", "tests/serve/cli/test_trajectories.py", "tests/serve/cli/test_collect.py",
    "tests/tools/test_side_effects.py", "tests/trajectories/test_roundtrip.py", "tests/agent/test_expert.py",
    "tests/agent/sim/test_oracle.py", "tests/test_packaging.py", "tests/serve/cli/test_tools.py",
    "tests/sandbox/test_runtime.py", "tests/serve/cli/test_run.py", "tests/serve/test_alertmanager_live.py",
    "tests/sandbox/kube/test_kubectl.py", "tests/agent/test_graph.py", "tests/sandbox/test_alerts.py",
    "tests/sandbox/test_faults.py", "tests/serve/test_service_incidents.py", "tests/train/test_train.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid
        return next((i for i, prefix in enumerate(FIRST) if path.startswith(prefix)), len(FIRST))

    items.sort(key=rank)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    """Under CI=true a skip for a missing install step is a failure: CI must install everything."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if INSTALL_STEP in reason:
            report.outcome = "failed"
            report.longrepr = f"CI=true: a test may not skip for a missing install step. {reason}"


def fork(scenario: Scenario) -> Scenario:
    """An independent copy of a built scenario, faults and all."""
    world = scenario.world.fork()
    faults = copy.deepcopy(scenario.faults)
    return Scenario(scenario.spec, world, faults)


@pytest.fixture(scope="session")
def healthy() -> Scenario:
    return Scenario.build(ScenarioSpec(seed=11))


def build(fault: str, seed: int = 3, target: str | None = None, **kw) -> Scenario:
    return Scenario.build(ScenarioSpec(faults=[FaultSpec(type=fault, target=target, **kw)], seed=seed))
