"""The `opsagent` command as a user runs it (a real subprocess, the installed entry point)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests import requires

EXE = requires.ENTRY_POINT
pytestmark = requires.entry_point


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    full = {**os.environ, "COLUMNS": "160", **(env or {})}
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=full, cwd=cwd,
                          timeout=120)


def test_help_lists_the_areas():
    out = run("--help")
    assert out.returncode == 0
    assert "sandbox" in out.stdout and "opsagent" in out.stdout


def test_faults_lists_the_catalogue():
    out = run("sandbox", "faults")
    assert out.returncode == 0
    assert "memory_leak" in out.stdout and "dns_failure" in out.stdout and "25 fault types" in out.stdout


def test_demo_plays_a_fault_out_and_mitigates_it():
    out = run("sandbox", "demo", "--fault", "bad_rollout", "--target", "checkout", "--seed", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "NullPointerException" in out.stdout
    assert "rollout_undo" in out.stdout
    assert "Outcome: mitigated" in out.stdout


def test_scenario_prints_ground_truth_json():
    out = run("sandbox", "scenario", "--fault", "pvc_full", "--seed", "1")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["ground_truth"][0]["fault"] == "pvc_full"
    assert doc["ground_truth"][0]["level"] == "Virtualization"
    assert doc["mitigated"] is False


def test_generate_writes_a_split(tmp_path):
    target = tmp_path / "specs.jsonl"
    out = run("sandbox", "generate", "--out", str(target), "--seeds", "2", "--fault",
              "dns_failure", "--fault", "bad_rollout", "--split-by", "seed", "--held-out", "1")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert {r["split"] for r in rows} == {"train", "held-out"}
    assert all((r["seed"] == 1) == (r["split"] == "held-out") for r in rows)


def test_bad_input_gets_a_clear_message():
    out = run("sandbox", "demo", "--fault", "gremlins")
    assert out.returncode == 2 and "unknown fault type 'gremlins'" in out.stderr  # errors go to stderr
    out = run("sandbox", "scenario", "--fault", "memory_leak", "--target", "postgres")
    assert out.returncode == 2 and "not a valid target" in out.stderr
    out = run("sandbox", "faults", env={"OPSAGENT_SANDBOX__SEED": "many"})
    assert out.returncode == 2 and "sandbox.seed" in out.stderr
    out = run("--config", "/nonexistent.yaml", "sandbox", "faults")
    assert out.returncode == 2 and "config file not found" in out.stderr


def test_up_serves_until_stopped_and_inject_reaches_it(tmp_path):
    env = {"OPSAGENT_DATA_DIR": str(tmp_path)}
    full = {**os.environ, "COLUMNS": "160", **env}
    proc = subprocess.Popen([EXE, "sandbox", "up", "--no-prometheus", "--fault", "bad_rollout@cart",
                             "--duration", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full)
    try:
        info = tmp_path / "sandbox" / "default" / "sandbox.json"
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert info.exists(), proc.stderr.read() if proc.poll() is not None else "no sandbox.json"
        out = run("sandbox", "inject", "scaled_to_zero", "--target", "auth", env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "injected scaled_to_zero on shop/Deployment/auth" in out.stdout
        if shutil.which("kubectl"):
            kube = subprocess.run(["kubectl", "get", "deploy", "auth", "-n", "shop", "-o",
                                   "jsonpath={.spec.replicas}"], capture_output=True, text=True,
                                  env={**full, "KUBECONFIG": str(info.parent / "kubeconfig")},
                                  timeout=60)
            assert kube.stdout == "0", kube.stderr
        out = run("sandbox", "inject", "memory_leak", "--target", "postgres", env=env)
        assert out.returncode == 2 and "not a valid target" in out.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_inject_without_a_running_sandbox_says_so(tmp_path):
    out = run("sandbox", "inject", "memory_leak", env={"OPSAGENT_DATA_DIR": str(tmp_path)})
    assert out.returncode == 2 and "no sandbox named 'default' is running" in out.stderr


def test_scenarios_lists_targets():
    out = run("sandbox", "scenarios", "--seed", "1")
    assert out.returncode == 0 and "node_disk_full" in out.stdout and "ip-10-0-" in out.stdout


def _monitoring_children(pid: int) -> list[psutil.Process]:
    return [c for c in psutil.Process(pid).children(recursive=True)
            if "prometheus" in c.name() or "alertmanager" in c.name()]


@requires.stack
@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGKILL"])
def test_up_leaves_no_prometheus_or_alertmanager_behind(tmp_path, how):
    """systemd and `docker stop` send SIGTERM, Ctrl-C is SIGINT, and a timeout kills with -9
    (no code runs then: the kernel stops the children, PR_SET_PDEATHSIG)."""
    full = {**os.environ, "COLUMNS": "160", "OPSAGENT_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([EXE, "sandbox", "up", "--duration", "120"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=full)
    try:
        info = tmp_path / "sandbox" / "default" / "sandbox.json"
        deadline = time.monotonic() + 90
        while not info.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert info.exists(), proc.stderr.read() if proc.poll() is not None else "no sandbox.json"
        children = _monitoring_children(proc.pid)
        assert len(children) == 2, [c.name() for c in children]  # Prometheus and Alertmanager
        proc.send_signal(getattr(signal, how))
        proc.wait(timeout=60)
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"left behind after {how}: {[c.name() for c in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
