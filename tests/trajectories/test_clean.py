"""Cleaning an export: canonical calls, near-duplicates removed, parallel calls reordered
validly, and an export that fails, writing nothing, when a row still holds a secret."""

from __future__ import annotations

import pytest

from opsagent.trajectories.clean import NearDuplicates, SecretLeak, canonical, reorder_parallel, secrets_in
from opsagent.trajectories.export import export
from opsagent.trajectories.models import Environment, Grade
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.store import TrajectoryStore

ENV = Environment(kind="sandbox", scenario="bad_rollout@checkout#s3", seed=3, faults=["bad_rollout"],
                  targets=["checkout"])


def conversation(pods: str, answer: str = '{"is_incident": true}') -> list[dict]:
    calls = [{"id": f"x{i}", "type": "function", "function": {"name": name, "arguments": args}}
             for i, (name, args) in enumerate([("k8s_list_pods", '{"problems_only": true, "namespace": "*"}'),
                                               ("k8s_list_nodes", "{}"),
                                               ("logs_patterns", '{"minutes": 15, "level": "ERROR"}')])]
    return [{"role": "system", "content": "sys"}, {"role": "user", "content": "alert"},
            {"role": "assistant", "content": "triage", "tool_calls": calls},
            {"role": "tool", "tool_call_id": "x0", "name": "k8s_list_pods", "content": pods},
            {"role": "tool", "tool_call_id": "x1", "name": "k8s_list_nodes", "content": "nodes fine"},
            {"role": "tool", "tool_call_id": "x2", "name": "logs_patterns", "content": "no errors"},
            {"role": "assistant", "content": answer}]


def test_canonical_calls_have_stable_ids_and_sorted_arguments():
    rows = canonical(conversation("p"))
    assert [c["id"] for c in rows[2]["tool_calls"]] == ["call_0", "call_1", "call_2"]
    assert rows[2]["tool_calls"][0]["function"]["arguments"] == '{"namespace": "*", "problems_only": true}'
    assert [r.get("tool_call_id") for r in rows[3:6]] == ["call_0", "call_1", "call_2"]


def test_reordered_parallel_calls_keep_each_result_after_its_call():
    rows = canonical(conversation("p"))
    moved = reorder_parallel(rows, seed=1)
    assert moved is not None and moved != rows
    names = [c["function"]["name"] for c in moved[2]["tool_calls"]]
    assert sorted(names) == sorted(c["function"]["name"] for c in rows[2]["tool_calls"]) and names != [
        c["function"]["name"] for c in rows[2]["tool_calls"]]
    ids = [c["id"] for c in moved[2]["tool_calls"]]
    assert [m["tool_call_id"] for m in moved[3:6]] == ids == ["call_0", "call_1", "call_2"]
    assert [m["name"] for m in moved[3:6]] == names  # each result follows its own call
    assert reorder_parallel(rows[:2], seed=1) is None


def test_runs_that_differ_only_in_pod_hashes_and_numbers_are_near_duplicates():
    copies = NearDuplicates()
    pods = "\n".join(f"shop/checkout-7d9f8b6c5d-{s} ready=0/1 status=CrashLoopBackOff restarts={n}"
                     for s, n in (("x2k4q", 4), ("a8b9c", 5)))
    assert not copies.seen("a", canonical(conversation(pods)))
    other = pods.replace("7d9f8b6c5d", "5c6d7e8f9a").replace("restarts=4", "restarts=7")
    assert copies.seen("b", canonical(conversation(other)))
    different = conversation("shop/cart-1 status=OOMKilled", '{"is_incident": false}')
    assert not copies.seen("c", canonical(different))


def test_an_export_with_a_surviving_secret_fails_and_writes_nothing(tmp_path):
    store = TrajectoryStore(tmp_path / "store")
    recorder = Recorder(store)
    leaked = "list key " + "0123456789abcdef" + "b" * 16 + "-us12"  # a shape the redactor does not know
    assert secrets_in({"messages": [{"content": leaked}]}) == ["Mailchimp Access Key"]
    for name, pods in (("ok", "all pods Running"), ("leaky", f"env of checkout: {leaked}")):
        recorder.start(name, "scenario", "task", [], ENV, "expert", [])
        recorder.finish(name, {"messages": conversation(pods), "usage": {"steps": 2}, "outcome": "mitigated",
                               "report": "done"})
        recorder.grade(name, Grade(source="ground-truth", detected=True, localised=True, analysed=True,
                                   mitigated=True))
    with pytest.raises(SecretLeak, match=r"1 SFT row\(s\).*leaky: Mailchimp Access Key") as err:
        export(list(store.iter()), tmp_path / "data")
    assert "b" * 16 not in str(err.value)  # the message names the row, never the secret
    assert not (tmp_path / "data").exists()


def test_the_data_card_counts_each_facet_and_draws_the_lengths(tmp_path):
    store = TrajectoryStore(tmp_path / "store")
    recorder = Recorder(store)
    runs = [(None, "cart ok"), ("chat-zh", "auth slow"), ("chat-en", "db full")]
    for i, (variant, words) in enumerate(runs):
        env = ENV.model_copy(update={"variant": variant, "scenario": f"bad_rollout@checkout#s{i}", "seed": i})
        recorder.start(f"t{i}", "scenario", "task", [], env, "expert", [])
        recorder.finish(f"t{i}", {"messages": conversation(f"{words} " * (i + 1) * 50), "usage": {"steps": 2},
                                  "outcome": "mitigated", "report": "done"})
        recorder.grade(f"t{i}", Grade(source="ground-truth", detected=True, localised=True, analysed=True,
                                      mitigated=True))
    counts = export(list(store.iter()), tmp_path / "data")
    card = (tmp_path / "data" / "sft" / "README.md").read_text()
    assert counts["sft"] >= 3 and counts["dropped"] == {}
    assert "| zh | 1 |" in card and "| augmented |" in card and "| teacher |" in card
    assert "| checkout |" in card and "| bad_rollout |" in card and "content hash" in card
    assert (tmp_path / "data" / "sft" / "lengths.png").read_bytes()[:4] == b"\x89PNG"
