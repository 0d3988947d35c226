"""Shared by the tools' and the agent's tests: a live sandbox (Kubernetes API, Elasticsearch
API, real Prometheus) and a ToolContext that reaches it through the real clients, exactly as it
would reach a real cluster."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.prom.stack import binaries
from sandbox.runtime import Sandbox
from sandbox.scenario import FaultSpec, ScenarioSpec
from tools.catalog import default_registry
from tools.cli import sandbox_config
from tools.context import ToolContext
from tools.registry import Registry


def _prometheus() -> bool:
    try:
        binaries()
    except FileNotFoundError:
        return False
    return True


requires_stack = pytest.mark.skipif(not _prometheus(), reason="prometheus/alertmanager not installed")


@pytest.fixture(scope="session")
def registry() -> Registry:
    return default_registry()


def start(tmp: Path, fault: str, target: str) -> Sandbox:
    spec = ScenarioSpec(faults=[FaultSpec(type=fault, target=target)], seed=3, now=time.time())
    return Sandbox(spec, tmp, clock=False, prometheus=_prometheus()).start()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = start(tmp_path_factory.mktemp("sandbox") / "sandbox" / "live", "bad_rollout", "checkout")
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def ctx(box: Sandbox) -> Iterator[ToolContext]:
    context = ToolContext(sandbox_config(box.run_dir))
    yield context
    context.close()
