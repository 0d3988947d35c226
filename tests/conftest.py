"""Shared fixtures. Scenario builds are deterministic, so module-scoped caches are safe as long
as tests fork the world before changing it."""

from __future__ import annotations

import copy
import os

import pytest

from opsagent.sandbox.scenario import FaultSpec, Scenario, ScenarioSpec
from tests.requires import INSTALL_STEP

# The longest modules (training, vLLM) go first: `--dist loadfile` keeps a module on one worker,
# and a long one left for last makes the other worker idle while it runs.
FIRST = ("tests/train/", "tests/trajectories/test_roundtrip.py", "tests/serve/test_alertmanager_live.py")


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
