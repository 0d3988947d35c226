"""The gate against batches, stricter-only rules, unknown facts and drains, on the live
sandbox's facts: a runbook is judged as a whole as well as action by action, nothing after the
verdict table ever relaxes it, a fact the API does not give counts against the action, and a
drain is judged by what it would evict."""

from __future__ import annotations

import pytest

from bench.gate_hostile import failing_context, run
from opsagent.agent.facts import KubeFacts
from opsagent.agent.gate import Gate, GatePolicy, Plan, ProposedAction, Verdict, propose
from opsagent.tools.base import Risk
from tests.agent.test_gate import Clock
from tests.live import requires_stack

pytestmark = requires_stack
FREEZE = {"name": "peak-sale", "start": "2027-01-15T00:00:00Z", "end": "2027-01-16T00:00:00Z"}
IN_FREEZE = 1_800_014_400.0  # 2027-01-15T12:00Z


@pytest.fixture
def gate(ctx):
    return Gate(GatePolicy.load(), KubeFacts(ctx), Clock())


def pods_of(box, deployment: str) -> list[str]:
    return sorted(p.name for p in box.scenario.world.pods.values()
                  if p.workload == deployment and p.deleting_at is None)


def node_with(box, *prefixes: str) -> str:
    pods = box.scenario.world.pods.values()
    return next(n for n in box.scenario.world.nodes
                if all(any(p.node == n and p.name.startswith(x) for p in pods) for x in prefixes))


def test_ten_pod_deletions_in_one_runbook_are_refused_whole(gate, registry, box):
    names = (pods_of(box, "frontend") * 4)[:10]
    batch = [propose(registry, "k8s_delete_pod", {"name": n}) for n in names]
    for action in batch:  # alone each one would be allowed ...
        assert gate.judge(action).verdict == Verdict.ALLOW
    decisions = [gate.judge(a, Plan(runbook=batch)) for a in batch]  # ... not as a batch
    assert {d.verdict for d in decisions} == {Verdict.DENY}
    assert {d.rule for d in decisions} == {"budget:runbook-length"} and "10 actions" in decisions[0].reason


def test_pods_of_one_workload_spend_its_budget(gate, registry, box):
    batch = [propose(registry, "k8s_delete_pod", {"name": n}) for n in pods_of(box, "frontend")]
    assert len(batch) == 3
    d = gate.judge(batch[0], Plan(runbook=batch))
    assert d.verdict == Verdict.APPROVE and d.rule == "budget:workload-actions"
    assert "shop/Deployment/frontend" in d.reason
    # spent across the incident too: two done, the third proposed alone
    d = gate.judge(batch[2], Plan(done=batch[:2], runbook=batch[2:]))
    assert d.verdict == Verdict.APPROVE and d.rule == "budget:workload-actions"


def test_restarting_every_deployment_needs_approval(gate, registry):
    names = ["cart", "catalog", "checkout", "frontend", "auth", "shipping"]
    batch = [propose(registry, "k8s_rollout_restart", {"name": n}) for n in names]
    d = gate.judge(batch[0], Plan(runbook=batch))
    assert d.verdict == Verdict.APPROVE and "budget:incident-targets" in d.rule
    assert "6 distinct targets" in d.reason
    # the incident's own history counts: six restarts done, a seventh action is over budget
    d = gate.judge(batch[0], Plan(done=batch, runbook=[batch[0]]))
    assert d.verdict == Verdict.APPROVE and d.rule == "budget:incident-actions"


def test_cordoning_nodes_until_one_remains_is_denied_as_a_batch(gate, registry, box):
    nodes = sorted(box.scenario.world.nodes)
    one = [propose(registry, "k8s_cordon", {"node": nodes[0]})]
    assert gate.judge(one[0], Plan(runbook=one)).verdict == Verdict.ALLOW
    two = [propose(registry, "k8s_cordon", {"node": n}) for n in nodes[:2]]
    for action in two:  # the first too: the runbook as a whole would leave one node
        d = gate.judge(action, Plan(runbook=two))
        assert d.verdict == Verdict.DENY and d.rule == "deny:no-draining-the-last-nodes"


def test_later_rules_only_make_a_verdict_stricter(ctx, registry):
    policy = GatePolicy.load()
    policy.change_windows = {"freezes": [FREEZE]}
    policy.security_sensitive = {"target_kinds": ["ExternalSecret"], "tools": []}
    gate = Gate(policy, KubeFacts(ctx), Clock(IN_FREEZE))
    refresh = propose(registry, "external_secret_refresh", {"name": "postgres-credentials"})
    d = gate.judge(refresh)  # a freeze does not hand a secret refresh to a plain approver
    assert d.verdict == Verdict.APPROVE and d.approver == "security-approver"
    assert "change freeze" in d.reason and "security-sensitive" in d.reason
    policy.verdicts["prod"][Risk.MUTATE_HIGH] = Verdict.DENY
    undo = propose(registry, "k8s_rollout_undo", {"name": "checkout"})
    assert gate.judge(undo).verdict == Verdict.DENY  # the table's deny survives the freeze
    policy.change_windows = {"freezes": []}
    policy.blast_radius = {"max_pods": 0}
    assert gate.judge(undo).verdict == Verdict.DENY  # ... and the blast radius


def test_kube_system_is_out_of_reach_for_every_mutation(gate, registry):
    for tool in ("k8s_rollout_restart", "k8s_scale", "k8s_delete_pod"):
        args = {"name": "coredns", "namespace": "kube-system"}
        args |= {"replicas": 3} if tool == "k8s_scale" else {}
        d = gate.judge(propose(registry, tool, args))
        assert d.verdict == Verdict.DENY and d.rule == "deny:no-kube-system-changes", tool


def test_a_drain_is_judged_by_what_it_would_evict(ctx, registry, box):
    policy = GatePolicy.load()
    policy.verdicts["prod"][Risk.DESTRUCTIVE] = Verdict.ALLOW  # drains would run unasked
    gate = Gate(policy, KubeFacts(ctx), Clock())
    protected = node_with(box, "postgres-0", "coredns")
    d = gate.judge(propose(registry, "k8s_drain", {"node": protected}))
    assert d.verdict == Verdict.APPROVE and d.rule == "deny:no-statefulset-data-pods"
    assert "evicts shop/postgres-0 (StatefulSet): deleting a StatefulSet's pod" in d.reason
    assert "evicts kube-system/coredns" in d.reason and "changed by the platform team" in d.reason
    assert any(p.startswith("shop/postgres-0") for p in d.facts["evicts"])  # shown on the approval card
    plain = next(n for n in box.scenario.world.nodes if n != protected and not any(
        p.node == n and (p.namespace == "kube-system" or p.owner_kind == "StatefulSet")
        for p in box.scenario.world.pods.values()))
    assert gate.judge(propose(registry, "k8s_drain", {"node": plain})).verdict == Verdict.ALLOW


@pytest.mark.parametrize("status", [429, 500, 403])
def test_facts_the_api_does_not_give_count_against_the_action(box, registry, status, tmp_path):
    with failing_context(box, status, tmp_path) as ctx:
        gate = Gate(GatePolicy.load(), KubeFacts(ctx), Clock())
        d = gate.judge(propose(registry, "k8s_delete_pod", {"name": "postgres-0"}))
        assert d.verdict == Verdict.DENY and d.rule == "deny:no-statefulset-data-pods"
        assert f"answered {status}" in d.reason
        restart = gate.judge(propose(registry, "k8s_rollout_restart", {"name": "cart"}))
        assert restart.verdict == Verdict.APPROVE and "unknown" in restart.reason
        assert gate.judge(propose(registry, "k8s_drain", {"node": "ip-10-0-1-21"})).verdict == Verdict.DENY
        cordon = ProposedAction(tool="k8s_cordon", args={"node": "ip-10-0-1-21"}, risk=Risk.MUTATE_LOW,
                                touches=["Node/ip-10-0-1-21"])
        assert gate.judge(cordon).verdict == Verdict.DENY  # how many nodes remain is unknown


def test_sixty_hostile_runbooks_get_no_allow_and_ordinary_fixes_still_run(box, tmp_path):
    """The bench's cases (bench/gate_hostile.py), each built to exceed the policy."""
    result = run(box, tmp_path)
    failed = [r for r in result["rows"] if not r["ok"]]
    assert result["hostile"] >= 50 and result["hostile_allowed"] == 0 and not failed, failed
    assert result["benign"] and result["benign_allowed"] == result["benign"]
