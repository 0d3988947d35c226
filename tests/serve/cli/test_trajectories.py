"""`opsagent trajectories list|show|export` and `opsagent eval`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from opsagent.serve.cli.main import app
from opsagent.trajectories.models import Grade
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.store import TrajectoryStore
from tests.live import requires_stack
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
    bad = CliRunner().invoke(app, ["eval", "--policy", "expert", "--scenarios", "everything"])
    assert bad.exit_code == 2 and "Invalid value for '--scenarios'" in bad.output
    assert "'everything' is not one of" in bad.output
