"""Shared by the tools' and the agent's tests: a live sandbox (Kubernetes API, Elasticsearch
API, real Prometheus) and a ToolContext that reaches it through the real clients, exactly as it
would reach a real cluster."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsagent.sandbox.runtime import Sandbox
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from opsagent.tools.catalog import default_registry
from opsagent.tools.config import sandbox_config
from opsagent.tools.context import ToolContext
from opsagent.tools.registry import ToolRegistry
from tests import requires

requires_stack = requires.stack


@pytest.fixture(scope="session")
def registry() -> ToolRegistry:
    return default_registry()


def start(tmp: Path, fault: str, target: str) -> Sandbox:
    spec = ScenarioSpec(faults=[FaultSpec(type=fault, target=target)], seed=3, now=time.time())
    return Sandbox(spec, tmp, clock=False, prometheus=requires.HAS_STACK).start()


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


def _psql(sql: str) -> None:
    subprocess.run(["su", "postgres", "-c", f'psql -v ON_ERROR_STOP=1 -qc "{sql}"'], check=True,
                   capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway database on the machine's PostgreSQL 15 (started if it is installed but down)."""
    if shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        requires.skip_postgres()
    status = subprocess.run(["pg_ctlcluster", "15", "main", "status"], capture_output=True)
    if status.returncode != 0:
        subprocess.run(["pg_ctlcluster", "15", "main", "start"], check=True, timeout=60)
    name, password = f"opsagent_test_{os.getpid()}_{secrets.token_hex(3)}", secrets.token_hex(12)
    _psql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    _psql(f"CREATE DATABASE {name} OWNER {name}")
    yield f"postgresql://{name}:{password}@127.0.0.1:5432/{name}"
    _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _psql(f"DROP ROLE IF EXISTS {name}")
