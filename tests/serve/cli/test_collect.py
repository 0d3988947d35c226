"""`opsagent trajectories collect` then `export`: graded runs of the teacher and the perturbed
teacher on the same worlds, some with reworded inputs, stored; the export counts them by facet
and never takes an evaluation run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from opsagent.serve.cli.collect import plan
from opsagent.serve.cli.main import app
from opsagent.trajectories.splits import held_out, scenarios
from opsagent.trajectories.store import TrajectoryStore
from tests.live import requires_stack
from tests.processes import alive, descendants


def test_plan_pairs_and_rewords_the_shares_asked_for():
    specs = scenarios("train", 200, seed=4)
    jobs = plan(specs, perturbed=0.5, augmented=0.3, checkpoint=False, seed=4)
    paired = sum(j.policies == ["expert", "perturbed"] for j in jobs) / len(jobs)
    reworded = sum(j.variant is not None for j in jobs) / len(jobs)
    assert 0.4 < paired < 0.6 and 0.2 < reworded < 0.4
    assert {j.variant for j in jobs} == {None, "chat-en", "chat-zh", "paraphrase"}
    assert all(j.policies[0] == "expert" for j in jobs)
    assert plan(specs, 0.5, 0.3, False, 4) == jobs  # seeded


@requires_stack
def test_collect_stores_graded_runs_and_export_counts_them(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    out = CliRunner().invoke(app, ["trajectories", "collect", "--episodes", "3", "--workers", "2",
                                   "--perturbed", "1", "--augmented", "1", "--seed", "3"])
    assert out.exit_code == 0, out.output
    assert "6/6" in out.output and "graded run" in out.output
    records = list(TrajectoryStore(tmp_path / "trajectories").iter())
    assert len(records) == 6 and all(r.complete and r.grade is not None for r in records)
    assert {r.policy for r in records} == {"expert", "perturbed"}
    assert all(r.environment.variant for r in records) and not any(held_out(r.environment) for r in records)
    zh = [r for r in records if r.environment.variant == "chat-zh"]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in r.input["task"]) for r in zh)  # asked in Chinese
    exported = CliRunner().invoke(app, ["trajectories", "export", "--out", str(tmp_path / "data")])
    assert exported.exit_code == 0, exported.output
    counts = json.loads(Path(tmp_path / "data" / "counts.json").read_text())
    assert counts["trajectories"] == 6 and counts["dropped"].get("perturbed teacher") == 3
    card = (tmp_path / "data" / "sft" / "README.md").read_text()
    assert "## By source" in card and "## By language" in card and "lengths.png" in card
    bad = CliRunner().invoke(app, ["trajectories", "collect", "--perturbed", "2"])
    assert bad.exit_code == 2 and "--perturbed" in bad.output


@requires_stack
def test_sigterm_stops_the_workers_sandboxes(tmp_path):
    env = {**os.environ, "OPSAGENT_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "opsagent.serve.cli", "trajectories", "collect",
                             "--episodes", "20", "--workers", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            servers = [pid for pid, cmd in descendants(proc.pid) if "prometheus --config" in cmd]
            if len(servers) == 2:
                break
            time.sleep(0.5)
        assert len(servers) == 2, "the two workers' Prometheus never came up"
        children = [pid for pid, _ in descendants(proc.pid)]  # workers, Prometheus, promtool
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) != 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (left := [p for p in children if alive(p)]):
            time.sleep(0.5)
        assert not left, f"still running after SIGTERM: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
