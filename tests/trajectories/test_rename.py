"""Service renaming (an SFT augmentation): a recorded run exported with its faulty service under a
new name, everywhere, and nothing else changed. (A real run: sandbox servers and Prometheus.)"""

from __future__ import annotations

import json

from opsagent.agent.checkpoint import open_checkpointer
from opsagent.agent.config import AgentConfig
from opsagent.agent.runner import auto_approve
from opsagent.agent.sim.episode import run_episode
from opsagent.agent.store import Store
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from opsagent.trajectories.export import Filters, export
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.rename import NAMES, rename_service
from opsagent.trajectories.store import TrajectoryStore
from tests.live import requires_stack


def test_every_spelling_of_the_service_is_renamed_and_nothing_else():
    messages = [{"role": "user", "content": "Checkout is failing:\ncheckout-7d9f4-x2b1 in shop/checkout:1.2"},
                {"role": "tool", "content": "CHECKOUT_URL=http://checkout:8080 checkouts=3 paycheckout"},
                {"role": "assistant", "content": json.dumps({"components": ["shop/Deployment/checkout"]})}]
    shown, tools, new = rename_service(messages, [{"description": "pods of a service"}], "checkout", seed=1)
    assert new in NAMES
    assert shown[0]["content"] == f"{new.capitalize()} is failing:\n{new}-7d9f4-x2b1 in shop/{new}:1.2"
    assert shown[1]["content"] == f"{new.upper()}_URL=http://{new}:8080 checkouts=3 paycheckout"
    assert json.loads(shown[2]["content"]) == {"components": [f"shop/Deployment/{new}"]}
    assert tools == [{"description": "pods of a service"}]


def test_a_name_the_run_already_mentions_is_never_drawn():
    taken = [{"role": "tool", "content": " ".join(n.upper() for n in NAMES[1:])}]
    assert rename_service(taken, [], "cart", seed=3)[2] == NAMES[0]
    everything = [{"role": "tool", "content": " ".join(NAMES)}]
    assert rename_service(everything, [], "cart", seed=3) is None


def test_only_the_shops_own_training_services_are_renamed():
    messages = [{"role": "user", "content": "payment redis postgres node-a coredns"}]
    for target in ("payment", "recommendation", "redis", "postgres", "node-a", "coredns"):
        assert rename_service(messages, [], target, seed=0) is None  # held out, or not an app


@requires_stack
def test_a_recorded_run_is_exported_with_its_culprit_renamed_throughout(box, tmp_path):
    spec = ScenarioSpec(faults=[FaultSpec(type="bad_rollout", target="checkout")], seed=4)
    store, trajectories = Store(tmp_path / "agent.db"), TrajectoryStore(tmp_path / "trajectories")
    try:
        with open_checkpointer(None, tmp_path) as cp:
            run_episode(box, spec, "expert", AgentConfig(), store, cp, auto_approve,
                        recorder=Recorder(trajectories))
        records = list(trajectories.iter())
    finally:
        store.close()
        trajectories.close()
    assert export(records, tmp_path / "plain", Filters(parallel_order=0))["sft"] == 1
    assert export(records, tmp_path / "data", Filters(parallel_order=0, renamed_service=1.0))["sft"] == 2

    from datasets import load_from_disk

    rows = {r["augmentation"]: r for r in load_from_disk(str(tmp_path / "data" / "sft"))}
    plain, renamed = rows[""], rows["renamed-service"]
    new = renamed["target"]
    text = json.dumps([renamed["messages"], renamed["tools"]])
    assert new in NAMES and "checkout" not in text.lower()
    answer = json.loads(renamed["messages"][-1]["content"])
    assert answer["components"] == [f"shop/Deployment/{new}"]  # the answer names the renamed service,
    results = [m["content"] for m in renamed["messages"] if m["role"] == "tool"]
    assert any(new in r for r in results)  # which the evidence shows (its logs, its metrics)
    back = text
    for form in (new, new.capitalize(), new.upper()):
        back = back.replace(form, {new: "checkout", new.upper(): "CHECKOUT"}.get(form, "Checkout"))
    assert back == json.dumps([plain["messages"], plain["tools"]])  # and nothing else changed
