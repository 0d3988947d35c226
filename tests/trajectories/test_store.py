"""The trajectory store: listing and filtering through the index, every record readable after a
kill -9 mid-write (the one cut off marked incomplete), and planted secrets nowhere on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from opsagent.trajectories.export import export
from opsagent.trajectories.models import Environment, Grade
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.store import TrajectoryStore
from tests.trajectories.secrets_corpus import SECRETS

ENV = Environment(kind="sandbox", scenario="bad_rollout@checkout#s3", seed=3, faults=["bad_rollout"],
                  targets=["checkout"])


def state(text: str = "ok", outcome: str = "mitigated") -> dict:
    return {"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": text},
                         {"role": "assistant", "content": "look", "tool_calls": [
                             {"id": "c1", "type": "function",
                              "function": {"name": "k8s_list_pods", "arguments": '{"namespace":"shop"}'}}]},
                         {"role": "tool", "tool_call_id": "c1", "name": "k8s_list_pods", "content": text},
                         {"role": "assistant", "content": '{"is_incident": true}'}],
            "usage": {"steps": 2, "tool_calls": 1, "tokens": 10, "malformed": 0}, "outcome": outcome,
            "decisions": [], "approvals": [], "executed": [], "report": "done"}


def test_list_filter_and_count(tmp_path):
    store = TrajectoryStore(tmp_path)
    recorder = Recorder(store)
    runs = [("expert", "mitigated"), ("llm", "escalated"), ("llm", "mitigated")]
    for i, (policy, outcome) in enumerate(runs):
        recorder.start(f"t{i}", "scenario", "task", [], ENV, policy, [])
        recorder.finish(f"t{i}", state(outcome=outcome))
    recorder.start("t3", "chat", "task", [], Environment(kind="cluster", cluster="prod-eu"), "llm", [])
    assert store.count() == 4 and store.count(policy="llm") == 3
    assert [r["id"] for r in store.list(policy="llm", outcome="mitigated")] == ["t2"]
    assert [r["id"] for r in store.incomplete()] == ["t3"]
    assert store.count(fault="bad_rollout") == 3 and store.list(limit=1)[0]["id"] == "t3"
    recorder.grade("t0", Grade(source="ground-truth", mitigated=True))
    assert store.list(mitigated=True)[0]["id"] == "t0" and store.get("t0").grade.mitigated
    assert store.get("t0").messages[2]["tool_calls"][0]["function"]["arguments"] == '{"namespace": "shop"}'
    with pytest.raises(ValueError, match="unknown filter"):
        store.list(colour="red")


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from tests.trajectories.test_store import ENV, state
    from opsagent.trajectories.recorder import Recorder
    from opsagent.trajectories.store import TrajectoryStore
    recorder = Recorder(TrajectoryStore(Path(sys.argv[1])))
    big = "x" * 200_000
    for i in range(100_000):
        recorder.start(f"t{i}", "scenario", "task", [], ENV, "expert", [])
        recorder.finish(f"t{i}", state(big))
""")


def test_kill_9_mid_write_leaves_every_record_readable(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=Path(__file__).parents[2])
    store = TrajectoryStore(tmp_path)
    deadline = time.time() + 60
    while store.count() < 15 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rows = store.list(limit=None)
    assert len(rows) >= 15
    for row in rows:  # every indexed record parses whole
        record = store.get(row["id"])
        assert record is not None and record.id == row["id"]
        assert record.complete == bool(row["complete"])
        assert record.input["task"] == "task"
        if record.complete:
            assert len(record.messages[1]["content"]) == 200_000
    assert len(store.incomplete()) <= 1  # at most the incident that was cut off


def test_planted_secrets_never_reach_the_store_or_the_exports(tmp_path):
    store = TrajectoryStore(tmp_path / "store")
    recorder = Recorder(store)
    planted = "\n".join(text for text, _ in SECRETS.values())
    alerts = [{"labels": {"alertname": "X", "dsn": SECRETS["pg-url"][0]},
               "annotations": {"description": planted}}]
    recorder.start("s1", "alertmanager", planted, alerts, ENV, "expert", [])
    recorder.finish("s1", state(planted))
    recorder.grade("s1", Grade(source="ground-truth", detected=True, localised=True, analysed=True,
                               mitigated=True))
    assert export(list(store.iter()), tmp_path / "data")["sft"] == 1
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    parquet = json.dumps(pq.read_table(tmp_path / "data" / "sft.parquet").to_pylist()).encode()
    assert b"REDACTED" in on_disk and b"REDACTED" in parquet
    for name, (_, secret) in SECRETS.items():
        assert secret.encode() not in on_disk and json.dumps(secret)[1:-1].encode() not in parquet, name


def test_a_label_posted_while_the_run_is_recorded_is_kept(tmp_path):
    store = TrajectoryStore(tmp_path / "store")
    recorder = Recorder(store)
    recorder.start("live", "alertmanager", "task", [], ENV, "expert", [])
    Recorder(TrajectoryStore(tmp_path / "store")).label("live", {"mitigated": True, "correct_diagnosis": True,
                                                                  "note": "rolled back by hand", "by": "sre"})
    done = recorder.finish("live", state())
    assert done.complete and done.resolution["note"] == "rolled back by hand"
    assert store.get("live").resolution["by"] == "sre" and store.get("live").grade.source == "sre-label"


def test_two_processes_grading_and_labelling_lose_no_write(tmp_path):
    store = TrajectoryStore(tmp_path / "store")
    recorder = Recorder(store)
    for i in range(40):
        recorder.start(f"t{i}", "scenario", "task", [], ENV, "expert", [])
        recorder.finish(f"t{i}", state())
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from opsagent.trajectories.models import Grade
        from opsagent.trajectories.recorder import Recorder
        from opsagent.trajectories.store import TrajectoryStore
        r = Recorder(TrajectoryStore(Path({str(tmp_path / "store")!r})))
        for i in range(40):
            if sys.argv[1] == "label":
                r.label(f"t{{i}}", {{"mitigated": True, "correct_diagnosis": True, "note": "n", "by": "sre"}})
            else:
                r.grade(f"t{{i}}", Grade(source="ground-truth", detected=True), [{{"fault": "x"}}])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, how]) for how in ("label", "grade")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    for i in range(40):
        record = store.get(f"t{i}")
        assert record.resolution and record.ground_truth == [{"fault": "x"}], i  # both writes survived
