"""`opsagent tools` as an SRE uses it."""

from __future__ import annotations

import json
import os
import subprocess

from tests import requires
from tests.live import requires_stack

EXE = requires.ENTRY_POINT
pytestmark = requires.entry_point


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def test_list_and_schema():
    out = run("tools", "list", "--role", "repair")
    assert out.returncode == 0 and "k8s_rollout_undo" in out.stdout and "destructive" in out.stdout
    schema = json.loads(run("tools", "schema", "--role", "diagnose").stdout)
    assert {t["function"]["name"] for t in schema} >= {"logs_patterns", "k8s_describe_pod"}


@requires_stack
def test_call_against_a_running_sandbox(box):
    env = {"OPSAGENT_DATA_DIR": str(box.run_dir.parent.parent)}
    out = run("tools", "call", "k8s_list_deployments", "--sandbox", box.run_dir.name, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "success" in out.stdout and "checkout ready=" in out.stdout
    out = run("tools", "call", "k8s_scale", "--args", '{"name": "cart", "replicas": -1}',
              "--sandbox", box.run_dir.name, env=env)
    assert out.returncode == 1 and "replicas" in out.stdout
    out = run("tools", "call", "k8s_list_nodes", "--sandbox", "nope", env=env)
    assert out.returncode == 2 and "no running sandbox" in out.stderr
