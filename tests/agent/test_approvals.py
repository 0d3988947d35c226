"""Human approval: actions the gate sends to approval wait in a durable queue (LangGraph
interrupt + checkpointer, keyed by incident); SREs approve, reject with a reason, or edit;
incidents resume after a restart; a side effect is never carried out twice."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from opsagent.agent.config import AgentConfig
from opsagent.agent.expert import Expert
from opsagent.agent.gate import GatePolicy
from opsagent.agent.models import ApprovalDecision
from opsagent.agent.store import PermissionDenied, Store
from opsagent.tools.registry import ToolRegistry
from tests.agent.harness import agent, load
from tests.live import requires_stack

pytestmark = requires_stack
ALERT = [{"status": "firing", "labels": {"alertname": "ShopServiceHighErrorRate", "severity": "critical",
                                         "service": "checkout", "namespace": "shop"}, "annotations": {}}]


def wait_only(waiting: dict) -> None:
    """The queue mode: nobody answers here; decisions arrive in the store."""
    return None


def revision(box) -> tuple[int, str]:
    """checkout's revision and image: a second undo would move both again."""
    wl = box.scenario.world.workload("shop", "checkout")
    return wl.revision, wl.template.containers[0].image


def test_two_incidents_wait_at_once_then_approve_one_and_reject_the_other(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    with agent(box, registry, tmp_path, Expert()) as runner:
        for incident in ("inc-a", "inc-b"):
            runner.start(incident, "checkout errors", ALERT, source="alertmanager")
        pending = runner.store.approvals()
        assert [p["incident"] for p in pending] == ["inc-a", "inc-b"]
        for p in pending:  # what the SRE sees beside each action
            payload = p["payload"]
            assert payload["action"]["tool"] == "k8s_rollout_undo" and payload["risk"] == "mutate-high"
            assert payload["diagnosis"]["evidence"] and payload["rollback"] and payload["rule"]
        assert {r["status"] for r in runner.store.incidents()} == {"waiting"}
        runner.store.decide(pending[0]["id"], ApprovalDecision(decision="approve", by="alice"))
        reject = ApprovalDecision(decision="reject", by="bob", reason="a release freeze is on; page the team")
        runner.store.decide(pending[1]["id"], reject)
        a = runner.drive("inc-a", wait_only, give_up_s=0)
        b = runner.drive("inc-b", wait_only, give_up_s=0)
    assert a["outcome"] == "mitigated" and a["approvals"][0]["by"] == "alice"
    assert b["outcome"] == "escalated" and not b["executed"]
    # the rejection went back to repair with its reason, and the same action was not proposed again
    assert any(m["role"] == "user" and "a release freeze is on" in m["content"] for m in b["messages"])
    assert b["refused"][0]["by"] == "bob" and "every proposed action was refused" in b["report"]


def test_an_edit_is_gated_again_and_runs_with_the_new_arguments(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    with agent(box, registry, tmp_path, Expert()) as runner:
        runner.start("inc-e", "checkout errors", ALERT, source="alertmanager")
        [first] = runner.store.approvals()
        runner.store.decide(first["id"], ApprovalDecision(
            decision="edit", by="carol", args={"name": "checkout", "namespace": "shop", "to_revision": 2}))
        runner.drive("inc-e", wait_only, give_up_s=0)
        [second] = runner.store.approvals()  # the edited action needs its own approval
        assert second["id"] != first["id"] and second["payload"]["action"]["args"]["to_revision"] == 2
        runner.store.decide(second["id"], ApprovalDecision(decision="approve", by="carol"))
        state = runner.drive("inc-e", wait_only, give_up_s=0)
    judged = [(d["verdict"], bool(d.get("recheck"))) for d in state["decisions"]]
    assert judged == [("approve", False), ("approve", False), ("approve", True)]
    assert state["executed"][0]["args"] == {"name": "checkout", "namespace": "shop", "to_revision": 2}
    assert "rolled back from revision 3 to 2" in state["executed"][0]["text"]
    assert state["outcome"] == "mitigated"


@pytest.mark.parametrize("checkpointer", ["sqlite", "postgres"])
def test_an_incident_resumes_after_a_restart(checkpointer, box, registry, tmp_path, request):
    load(box, "bad_rollout", "checkout")
    url = request.getfixturevalue("postgres_url") if checkpointer == "postgres" else None
    cfg = AgentConfig(checkpoint_url=url)
    with agent(box, registry, tmp_path, Expert(), cfg=cfg) as runner:
        runner.start("inc-r", "checkout errors", ALERT, source="alertmanager")
        assert runner.waiting("inc-r") is not None
    # the process is gone; another one (the CLI, the API) decides
    other = Store(tmp_path / "agent.db")
    [pending] = other.approvals()
    other.decide(pending["id"], ApprovalDecision(decision="approve", by="dave"))
    other.close()
    with agent(box, registry, tmp_path, Expert(), cfg=cfg) as restarted:
        assert restarted.recover() == ["inc-r"]
        state = restarted.state("inc-r")
        assert restarted.recover() == []  # nothing resumes twice
        executions = restarted.store.executions("inc-r")
    assert state["outcome"] == "mitigated" and len(executions) == 1


class Killed(BaseException):
    """Stands in for the process dying (kill -9) right after a side effect."""


class DiesAfterMutating(ToolRegistry):
    def call(self, ctx, name, args):
        result = super().call(ctx, name, args)
        if self.tools[name].risk.value != "read":
            raise Killed(name)
        return result


def test_a_resumed_execute_never_repeats_the_action(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    dying = DiesAfterMutating(list(registry.tools.values()))
    with agent(box, dying, tmp_path, Expert()) as runner:
        runner.start("inc-k", "checkout errors", ALERT, source="alertmanager")
        [pending] = runner.store.approvals()
        runner.store.decide(pending["id"], ApprovalDecision(decision="approve", by="erin"))
        with pytest.raises(Killed):
            runner.drive("inc-k", wait_only, give_up_s=0)
    before = revision(box)
    with agent(box, registry, tmp_path, Expert()) as restarted:
        assert restarted.recover() == ["inc-k"]
        state = restarted.state("inc-k")
        executions = restarted.store.executions("inc-k")
    assert len(executions) == 1 and executions[0]["status"] == "started"
    assert state["executed"][0]["status"] == "unknown" and "not repeated" in state["executed"][0]["text"]
    assert revision(box) == before


def test_security_sensitive_actions_need_the_security_role(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    sensitive = {"target_kinds": [], "tools": ["k8s_rollout_undo"]}
    policy = GatePolicy.load().model_copy(update={"security_sensitive": sensitive})
    with agent(box, registry, tmp_path, Expert(), gate_policy=policy) as runner:
        runner.start("inc-s", "checkout errors", ALERT, source="alertmanager")
        [pending] = runner.store.approvals()
        assert pending["payload"]["approver"] == "security-approver"
        with pytest.raises(PermissionDenied, match="needs the security-approver role"):
            runner.store.decide(pending["id"], ApprovalDecision(decision="approve", by="frank"))
        security = ApprovalDecision(decision="approve", by="grace", role="security-approver")
        runner.store.decide(pending["id"], security)
        state = runner.drive("inc-s", wait_only, give_up_s=0)
    assert state["outcome"] == "mitigated" and state["approvals"][0]["role"] == "security-approver"


def test_an_approved_action_is_judged_again_before_it_runs(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    with agent(box, registry, tmp_path, Expert()) as runner:
        runner.start("inc-w", "checkout errors", ALERT, source="alertmanager")
        [pending] = runner.store.approvals()
        # While it waits, other workers spend checkout's rate limit through the shared store.
        for n in range(3):
            now = box.scenario.world.now
            runner.store.record_targets(f"elsewhere-{n}", ["shop/Deployment/checkout"], now)
        runner.store.decide(pending["id"], ApprovalDecision(decision="approve", by="ivan"))
        before = revision(box)
        state = runner.drive("inc-w", wait_only, give_up_s=0)
        assert runner.store.executions("inc-w") == []
    assert revision(box) == before and not state["executed"]
    last = state["decisions"][-1]
    assert last["recheck"] and last["verdict"] == "deny" and last["rule"] == "rate-limit"
    assert state["refused"][0]["by"] == "gate" and "rate-limit" in state["refused"][0]["reason"]


def test_a_role_raised_while_waiting_asks_again(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    with agent(box, registry, tmp_path, Expert()) as runner:
        runner.start("inc-v", "checkout errors", ALERT, source="alertmanager")
        [first] = runner.store.approvals()
        assert first["payload"]["approver"] == "approver"
        runner.deps.gate.policy.security_sensitive = {"target_kinds": [], "tools": ["k8s_rollout_undo"]}
        runner.store.decide(first["id"], ApprovalDecision(decision="approve", by="judy"))
        runner.drive("inc-v", wait_only, give_up_s=0)
        [second] = runner.store.approvals()
        assert second["payload"]["approver"] == "security-approver" and not runner.store.executions("inc-v")
        security = ApprovalDecision(decision="approve", by="kim", role="security-approver")
        runner.store.decide(second["id"], security)
        state = runner.drive("inc-v", wait_only, give_up_s=0)
    assert state["outcome"] == "mitigated" and [a["by"] for a in state["approvals"]] == ["judy", "kim"]


def test_nobody_approves_their_own_request_where_the_policy_forbids_it(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    policy = GatePolicy.load().model_copy(update={"forbid_self_approval": True})
    with agent(box, registry, tmp_path, Expert(), gate_policy=policy) as runner:
        runner.start("inc-d", "checkout is failing; fix it", ALERT, source="chat", requested_by="alice")
        [pending] = runner.store.approvals()
        assert pending["payload"]["requested_by"] == "alice"
        with pytest.raises(PermissionDenied, match="alice asked for this action"):
            runner.store.decide(pending["id"], ApprovalDecision(decision="approve", by="alice"))
        runner.store.decide(pending["id"], ApprovalDecision(decision="approve", by="bob"))
        state = runner.drive("inc-d", wait_only, give_up_s=0)
    assert state["outcome"] == "mitigated" and state["approvals"][0]["by"] == "bob"


def test_bad_decisions_are_refused_with_a_reason(tmp_path):
    with pytest.raises(ValidationError, match="a rejection needs a reason"):
        ApprovalDecision(decision="reject", by="x")
    with pytest.raises(ValidationError, match="an edit needs the changed arguments"):
        ApprovalDecision(decision="edit", by="x")
    with pytest.raises(ValidationError):
        ApprovalDecision(decision="maybe", by="x")
    store = Store(tmp_path / "agent.db")
    with pytest.raises(KeyError):
        store.decide("nope", ApprovalDecision(decision="approve", by="x"))
    store.open_approval("k1", "inc", {"action": {}, "approver": "approver"})
    store.decide("k1", ApprovalDecision(decision="approve", by="x"))
    with pytest.raises(ValueError, match="already decided"):
        store.decide("k1", ApprovalDecision(decision="reject", by="y", reason="late"))
    with pytest.raises(PermissionDenied):
        store.open_approval("k2", "inc", {"action": {}, "approver": "approver"})
        store.decide("k2", ApprovalDecision(decision="approve", by="v", role="viewer"))


class Dies(Expert):
    def next(self, messages, tools, *, answer=False):
        raise Killed("the process is gone")


def test_recovery_goes_on_past_an_incident_that_fails_and_marks_it_failed(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    with agent(box, registry, tmp_path, Dies()) as runner:  # both cut off mid-step by a kill
        for incident, task in (("inc-1", "checkout errors"), ("inc-2", "checkout errors")):
            with pytest.raises(Killed):
                runner.start(incident, task, ALERT, source="alertmanager")
        assert {r["status"] for r in runner.store.incidents()} == {"open"}
    with agent(box, registry, tmp_path, Expert()) as restarted:
        judge, calls = restarted.deps.gate.judge, []

        def defect(*args, **kwargs):  # a bug in the gate node, striking the first incident only
            calls.append(args)
            if len(calls) == 1:
                raise RuntimeError("gate defect")
            return judge(*args, **kwargs)

        restarted.deps.gate.judge = defect
        assert restarted.recover() == ["inc-2"]  # not stopped by inc-1
        assert restarted.store.incident("inc-1")["status"] == "failed"
        assert restarted.store.incident("inc-2")["status"] == "waiting"
        assert "inc-1" not in restarted.to_recover()  # a failed incident is not retried at every restart


def test_a_decided_approval_is_resumed_by_one_worker_only(box, registry, tmp_path):
    """The decision's job and recovery at start (or another process) both try to continue the
    incident; exactly one does, so the graph never runs twice from the same checkpoint."""
    import threading

    load(box, "bad_rollout", "checkout")
    with agent(box, registry, tmp_path, Expert()) as runner:
        runner.start("inc-x", "checkout errors", ALERT, source="alertmanager")
        [pending] = runner.store.approvals()
        runner.store.decide(pending["id"], ApprovalDecision(decision="approve", by="lee"))
        steps: list[str] = []
        barrier = threading.Barrier(2)

        def resume() -> None:
            barrier.wait()
            runner.resume("inc-x", lambda node, update: steps.append(node))

        threads = [threading.Thread(target=resume) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert steps.count("execute") == 1, steps
        assert len(runner.store.executions("inc-x")) == 1
        assert runner.state("inc-x")["outcome"] == "mitigated"
