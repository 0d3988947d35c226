"""Nothing is lost across a restart of the service: a notification accepted but not yet handled
is handled by the next process; an approval waiting before the restart can be decided in the
new one (over the API) or while none was running (from the CLI), and the incident resumes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from opsagent.agent.models import ApprovalDecision
from opsagent.serve.app import create_app
from tests.live import requires_stack
from tests.serve.service import auth, engine, payload, reset, until

pytestmark = [requires_stack, pytest.mark.slow]


def _waiting(box, data_dir, checkpoint_url=None):
    """A first process: an alert arrives, the incident waits for approval, the process stops."""
    eng = engine(box, data_dir, checkpoint_url)
    with TestClient(create_app(eng)) as c:
        c.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
        approval = until(lambda: eng.store.approvals("pending"))[0]
        eng.wait_idle(approval["incident"], 60)
    return approval


@pytest.mark.parametrize("checkpointer", ["sqlite", "postgres"])
def test_an_approval_waiting_before_a_restart_is_decided_in_the_new_process(
    box, tmp_path, checkpointer, request
):
    url = request.getfixturevalue("postgres_url") if checkpointer == "postgres" else None
    reset(box)
    approval = _waiting(box, tmp_path, url)
    eng = engine(box, tmp_path, url)
    with TestClient(create_app(eng)) as c:
        assert c.get("/v1/approvals", headers=auth("viewer")).json()[0]["id"] == approval["id"]
        r = c.post(f"/v1/approvals/{approval['id']}", json={"decision": "approve"}, headers=auth("approver"))
        assert r.status_code == 200
        eng.wait_idle(approval["incident"], 120)
        detail = c.get(f"/v1/incidents/{approval['incident']}", headers=auth("viewer")).json()
    assert detail["status"] == "done" and detail["outcome"] == "mitigated"
    assert [t["kind"] for t in detail["timeline"]].count("executed") == 1


def test_an_approval_decided_while_the_service_was_down_resumes_at_start(box, tmp_path):
    reset(box)
    approval = _waiting(box, tmp_path)
    eng = engine(box, tmp_path)
    eng.store.decide(approval["id"], ApprovalDecision(decision="approve", by="cli", role="approver"))
    with TestClient(create_app(eng)):
        until(lambda: (eng.store.incident(approval["incident"]) or {}).get("status") == "done", 120)
        assert eng.checkpoint_state(approval["incident"])["outcome"] == "mitigated"


def test_a_notification_accepted_before_a_crash_is_handled_after_the_restart(box, tmp_path):
    reset(box)
    first = engine(box, tmp_path)
    with TestClient(create_app(first, manage_engine=False)) as c:  # its inbox dispatcher never runs
        assert (
            c.post(
                "/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager")
            ).status_code
            == 202
        )
    first.stop()
    second = engine(box, tmp_path)
    with TestClient(create_app(second)):
        approval = until(lambda: second.store.approvals("pending"))[0]
        assert approval["payload"]["action"]["tool"] == "k8s_rollout_undo"
        assert second.inbox.depth() == 0 and len(second.store.incidents()) == 1


def test_an_alert_routed_to_an_incident_no_worker_picked_up_yet_survives_a_crash(box, tmp_path):
    """The gap between routing (the inbox item is marked done) and a worker opening the
    incident: the first process dies there (its workers never run: the crash point, reached on
    purpose), and the next process starts the incident from what was recorded."""
    reset(box)
    first = engine(box, tmp_path)
    first._submit = lambda incident, work: None  # the process dies before any worker runs
    with TestClient(create_app(first)) as c:
        c.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
        until(lambda: first.inbox.depth() == 0)  # handled, as far as the inbox knows
        assert first.store.incidents() == [] and len(first.store.unstarted()) == 1
    second = engine(box, tmp_path)
    with TestClient(create_app(second)):
        approval = until(lambda: second.store.approvals("pending"), 120)[0]
        assert approval["payload"]["action"]["tool"] == "k8s_rollout_undo"
        assert [i["id"] for i in second.store.incidents()] == [approval["incident"]]
        assert second.store.unstarted() == []
