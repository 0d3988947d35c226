"""Shared fixtures. Scenario builds are deterministic, so module-scoped caches are safe as long
as tests fork the world before changing it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from sandbox.scenario import FaultSpec, Scenario, ScenarioSpec

SHARED = Path(__file__).resolve().parents[2] / "shared"


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
