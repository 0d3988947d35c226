"""The `opsagent` command as a user runs it (a real subprocess, the installed entry point)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXE = shutil.which("opsagent", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(EXE is None, reason="the opsagent entry point is not installed")


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
    assert out.returncode == 2 and "unknown fault type 'gremlins'" in out.stdout
    out = run("sandbox", "scenario", "--fault", "memory_leak", "--target", "postgres")
    assert out.returncode == 2 and "not a valid target" in out.stdout
    out = run("sandbox", "faults", env={"OPSAGENT_SANDBOX__SEED": "many"})
    assert out.returncode == 2 and "sandbox.seed" in out.stderr
    out = run("--config", "/nonexistent.yaml", "sandbox", "faults")
    assert out.returncode == 2 and "config file not found" in out.stderr
