"""The records are declared once: what the gate writes is a DecisionRecord, a trajectory refuses
a record with a key nobody declared, and the recorder keeps exactly the declared state."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from opsagent.agent.gate import Decision, ProposedAction, Verdict
from opsagent.agent.state import IncidentState
from opsagent.tools.base import Risk
from opsagent.trajectories.models import Environment, Trajectory
from opsagent.trajectories.records import RECORDED_FIELDS, DecisionRecord


def _trajectory(**records) -> Trajectory:
    return Trajectory.model_validate(
        {
            "id": "t",
            "incident": "t",
            "created": 0.0,
            "source": "chat",
            "input": {},
            "environment": Environment(kind="cluster"),
            "policy": "expert",
            **records,
        }
    )


def test_a_gate_decision_dumps_to_exactly_a_decision_record():
    action = ProposedAction(
        tool="k8s_scale",
        args={"name": "cart", "replicas": 2},
        risk=Risk.MUTATE_LOW,
        touches=["shop/Deployment/cart"],
    )
    dumped = Decision(
        verdict=Verdict.APPROVE,
        rule="risk:prod:mutate-low",
        reason="prod",
        approver="approver",
        action=action,
        at=1.0,
    ).model_dump(mode="json")
    assert TypeAdapter(DecisionRecord).validate_python(dumped) == dumped
    assert set(dumped) == set(DecisionRecord.__annotations__)
    assert set(dumped["action"]) == {"tool", "args", "risk", "touches"}


def test_an_undeclared_key_in_a_record_is_refused():
    ok = _trajectory(executed=[{"tool": "k8s_scale", "args": {}, "status": "success", "text": "", "at": 1.0}])
    assert ok.executed[0]["status"] == "success"
    with pytest.raises(ValidationError, match=r"executed\.0\.stauts"):
        _trajectory(executed=[{"tool": "k8s_scale", "args": {}, "stauts": "success"}])
    with pytest.raises(ValidationError, match=r"decisions\.0\.verdict"):
        _trajectory(decisions=[{"verdict": "maybe"}])


def test_the_graph_state_holds_every_recorded_field():
    assert set(RECORDED_FIELDS) <= set(IncidentState.__annotations__)
    assert set(RECORDED_FIELDS) <= set(Trajectory.model_fields)
