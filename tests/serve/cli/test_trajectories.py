"""`opsagent trajectories list|show|export` and `opsagent eval`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsagent.serve.cli.main import app
from opsagent.trajectories.models import Grade
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.splits import scenarios
from opsagent.trajectories.store import TrajectoryStore
from tests.live import requires_stack
from tests.processes import alive, descendants
from tests.trajectories.test_store import ENV, state


def test_list_show_export(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    recorder = Recorder(TrajectoryStore(tmp_path / "trajectories"))
    for name, policy in (("good", "expert"), ("gold", "oracle")):
        recorder.start(name, "scenario", "checkout errors", [], ENV, policy, [{"type": "function"}])
        recorder.finish(name, state("pods look fine"))
        recorder.grade(name, Grade(source="ground-truth", detected=True, localised=True, analysed=True,
                                   mitigated=True))
    out = CliRunner().invoke(app, ["trajectories", "list", "--policy", "expert"])
    assert out.exit_code == 0 and "good" in out.output and "gold" not in out.output
    assert "1 of 1" in out.output
    out = CliRunner().invoke(app, ["trajectories", "show", "good"])
    assert out.exit_code == 0 and "k8s_list_pods" in out.output and "'mitigated': True" in out.output
    shown = json.loads(CliRunner().invoke(app, ["trajectories", "show", "good", "--json"]).output)
    assert shown["grade"]["mitigated"] is True
    assert CliRunner().invoke(app, ["trajectories", "show", "nope"]).exit_code == 2
    out = CliRunner().invoke(app, ["trajectories", "label", "good", "--not-mitigated", "--wrong",
                                   "--component", "shop/Deployment/cart", "--by", "oncall"])
    assert out.exit_code == 0 and "labelled by oncall" in out.output
    labelled = json.loads(CliRunner().invoke(app, ["trajectories", "show", "good", "--json"]).output)
    assert labelled["resolution"]["by"] == "oncall" and labelled["grade"]["source"] == "sre-label"
    assert labelled["grade"]["mitigated"] is False
    out = CliRunner().invoke(app, ["trajectories", "export", "--out", str(tmp_path / "data")])
    assert out.exit_code == 0 and "0 SFT rows" in out.output and "privileged policy" in out.output
    assert "rows: 0" in (tmp_path / "data" / "sft" / "README.md").read_text()  # the label made it a failure


@requires_stack
def test_eval_compares_policies_with_a_row_per_split(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    out = CliRunner().invoke(app, ["eval", "--policy", "expert", "--policy", "oracle", "--scenarios",
                                   "held-out-faults", "--scenarios", "held-out-targets", "--limit", "1",
                                   "--workers", "1", "--out", str(tmp_path / "e")])
    assert out.exit_code == 0, out.output
    figures = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert figures["splits"] == {"held-out-faults": 1, "held-out-targets": 1}
    assert set(figures["policies"]) == {"expert", "oracle"}
    for policy in ("expert", "oracle"):
        assert set(figures["policies"][policy]) == {"held-out-faults", "held-out-targets"}
        assert figures["policies"][policy]["held-out-faults"]["episodes"] == 1
    assert "held-out-faults: 1 scenarios; held-out-targets: 1 scenarios" in out.output
    assert (tmp_path / "e" / "eval.png").read_bytes()[:4] == b"\x89PNG"
    # oracle scenario by scenario against the first run (no --against): every scenario both ran
    assert figures["paired"]["reference"] == "expert" and set(figures["paired"]["runs"]) == {"oracle"}
    faults = figures["paired"]["runs"]["oracle"]["held-out-faults"]
    assert faults["scenarios"] == 1 and set(faults["mitigation"]) == {"lost", "won", "p"}
    assert "scenario by scenario against expert: runs lost / won" in out.output

    # The same --out again, with a larger limit for one split: only the episodes it does not have
    # yet run.
    ledger = tmp_path / "e" / "episodes.jsonl"
    had = {json.loads(line)["scenario"] for line in ledger.read_text().splitlines()
           if json.loads(line)["name"] == "expert" and json.loads(line)["split"] == "held-out-targets"}
    wanted = {s.id for s in scenarios("held-out-targets", 2)}
    recorded = TrajectoryStore(tmp_path / "trajectories").count(policy="expert")
    out = CliRunner().invoke(app, ["eval", "--policy", "expert", "--scenarios", "held-out-faults",
                                   "--scenarios", "held-out-targets", "--limit", "1",
                                   "--limit", "held-out-targets=2", "--workers", "1",
                                   "--out", str(tmp_path / "e")])
    assert out.exit_code == 0, out.output
    assert f"expert: {1 + len(had & wanted)} episodes already in" in out.output
    assert TrajectoryStore(tmp_path / "trajectories").count(policy="expert") == recorded + len(wanted - had)
    figures = json.loads((tmp_path / "e" / "eval.json").read_text())
    assert figures["splits"] == {"held-out-faults": 1, "held-out-targets": 2}
    assert figures["policies"]["expert"]["held-out-targets"]["episodes"] == 2
    faults = {f.type for spec in scenarios("held-out-targets", 2) for f in spec.faults}
    assert set(figures["policies"]["expert"]["held-out-targets"]["by_fault"]) == faults
    for limit, reason in (("targets=2", "'targets' is not a split evaluated here"), ("0", "N ≥ 1"),
                          ("held-out-targets=x", "N ≥ 1")):
        out = CliRunner().invoke(app, ["eval", "--policy", "expert", "--scenarios", "held-out-targets",
                                       "--limit", limit, "--out", str(tmp_path / "e")])
        assert out.exit_code == 2 and f"--limit '{limit}'" in out.output and reason in out.output, out.output
    # ... and under other settings the kept episodes are not mixed in.
    monkeypatch.setenv("OPSAGENT_AGENT__BUDGETS__MAX_STEPS", "5")
    out = CliRunner().invoke(app, ["eval", "--policy", "expert", "--scenarios", "held-out-targets", "--limit",
                                   "1", "--workers", "1", "--out", str(tmp_path / "e")])
    assert out.exit_code == 2 and "run under other conditions (budgets differ)" in out.output

    bad = CliRunner().invoke(app, ["eval", "--policy", "expert", "--scenarios", "everything"])
    assert bad.exit_code == 2 and "Invalid value for '--scenarios'" in bad.output
    assert "'everything' is not one of" in bad.output


@requires_stack
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_eval_waiting_on_a_hung_model_leaves_nothing_running(tmp_path, how):
    """A model server that accepts and never answers (an overloaded vLLM; a real one would answer)
    holds an episode for the whole 600 s call timeout: SIGTERM still ends the eval in seconds, and
    after SIGTERM or -9 its workers and their Prometheus are gone too."""
    hung = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{hung.getsockname()[1]}/v1"
    env = {**os.environ, "OPSAGENT_DATA_DIR": str(tmp_path), "OPSAGENT_AGENT__LLM__BASE_URL": url,
           "OPSAGENT_AGENT__LLM__MODEL": "hung", "OPSAGENT_AGENT__LLM__TIMEOUT_S": "600"}
    proc = subprocess.Popen([sys.executable, "-m", "opsagent.serve.cli", "eval", "--policy", "llm",
                             "--scenarios", "held-out", "--limit", "1", "--workers", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        hung.settimeout(180)
        asked, _ = hung.accept()  # the episode is in its first model call
        tree = descendants(proc.pid)
        children = [pid for pid, _ in tree]
        configs = [cmd.split("--config.file=")[1].split()[0]
                   for _, cmd in tree if "prometheus --config" in cmd]
        assert configs, "the worker's Prometheus is not running"
        stopped = time.monotonic()
        proc.send_signal(how)
        assert proc.wait(timeout=60) != 0
        assert time.monotonic() - stopped < 30, "the eval waited for the model call"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (left := [p for p in children if alive(p)]):
            time.sleep(0.5)
        assert not left, f"still running after {how.name}: {left}"
        workdirs = [Path(c).parents[2] for c in configs]  # opsagent-worker-*/sandbox/monitoring/
        assert all(d.name.startswith("opsagent-worker-") and not d.exists() for d in workdirs), workdirs
        asked.close()
    finally:
        hung.close()
        if proc.poll() is None:
            proc.kill()
