"""`opsagent run --approve prompt`, `opsagent run --batch`, and `opsagent approvals list|decide`:
the agent driven from a terminal."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from opsagent.agent.store import Store
from opsagent.serve.cli.main import app
from opsagent.trajectories.splits import scenarios
from tests.live import requires_stack

PAYLOAD = {"incident": "inc-1",
           "action": {"tool": "k8s_rollout_undo", "args": {"name": "checkout"}, "why": "x"},
           "risk": "mutate-high", "rule": "risk:prod:mutate-high", "reason": "mutate-high action in prod",
           "approver": "security-approver", "diagnosis": {"summary": "bad release"}, "rollback": "undo again"}


def test_approvals_list_and_decide(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    store = Store(tmp_path / "agent.db")
    store.open_approval("ap1", "inc-1", PAYLOAD)
    listed = CliRunner().invoke(app, ["approvals", "list"])
    assert listed.exit_code == 0 and "1 approval(s)" in listed.output
    [row] = json.loads(CliRunner().invoke(app, ["approvals", "list", "--json"]).output)
    assert row["id"] == "ap1" and row["payload"]["action"]["tool"] == "k8s_rollout_undo"
    out = CliRunner().invoke(app, ["approvals", "decide", "ap1", "--approve", "--by", "ann"])
    assert out.exit_code == 2 and "needs the security-approver role" in out.output
    out = CliRunner().invoke(app, ["approvals", "decide", "ap1", "--reject"])
    assert out.exit_code == 2 and "a rejection needs a reason" in out.output
    out = CliRunner().invoke(app, ["approvals", "decide", "ap1", "--edit", "{not json"])
    assert out.exit_code == 2 and "--edit is not valid JSON" in out.output
    out = CliRunner().invoke(app, ["approvals", "decide", "nope", "--approve"])
    assert out.exit_code == 2 and "no approval 'nope'" in out.output
    out = CliRunner().invoke(app, ["approvals", "decide", "ap1", "--reject", "--reason", "freeze",
                                   "--role", "security-approver", "--by", "sec"])
    assert out.exit_code == 0 and "rejected by sec" in out.output
    rows = json.loads(CliRunner().invoke(app, ["approvals", "list", "--all", "--json"]).output)
    assert rows[0]["decision"]["reason"] == "freeze" and store.approvals() == []


@requires_stack
def test_run_with_prompt_asks_the_operator(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    out = CliRunner().invoke(app, ["run", "--scenario", "bad_rollout@checkout", "--approve", "prompt"],
                             input="reject\nnot during the sale\n")
    assert out.exit_code == 0, out.output
    assert "approve, reject or edit?" in out.output and "approval reject by cli" in out.output
    assert "escalate" in out.output and "ground truth: not mitigated" in out.output


@requires_stack
def test_run_batch_over_parallel_sandboxes(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    results = tmp_path / "runs.jsonl"
    out = CliRunner().invoke(app, ["run", "--batch", "3", "--workers", "2", "--policy", "oracle",
                                   "--out", str(results)])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(rows) == 3 and all(r["policy"] == "oracle" and r["grade"]["detected"] for r in rows)
    assert not {r["scenario"] for r in rows} & {s.id for s in scenarios("held-out")}  # --split train
    assert len({r["scenario"] for r in rows}) == 3 and "oracle: 3 episodes" in out.output
