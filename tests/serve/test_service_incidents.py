"""Alerts in, incidents out, through the real app: Alertmanager notifications (recorded from the
real Alertmanager: firing, redelivered, grouped, truncated, resolved), the generic endpoint,
approvals decided over the API, the timeline, the SRE's resolution, chat, metrics."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from opsagent.serve.app import create_app
from tests.live import requires_stack
from tests.serve.service import auth, engine, payload, reset, until

pytestmark = [requires_stack, pytest.mark.slow]


@pytest.fixture
def client(box, tmp_path):
    reset(box)
    eng = engine(box, tmp_path / "data")
    with TestClient(create_app(eng)) as c:
        c.engine = eng  # type: ignore[attr-defined]
        yield c


def _pending(client, incident=None):
    rows = client.get("/v1/approvals", headers=auth("viewer")).json()
    return [r for r in rows if incident is None or r["incident"] == incident]


def _incidents(client):
    return client.get("/v1/incidents", headers=auth("viewer")).json()


def test_a_firing_notification_opens_an_incident_that_waits_for_an_sre_then_mitigates(client):
    started = time.perf_counter()
    r = client.post(
        "/v1/alerts/alertmanager",
        json=payload("firing", notification_reason="new", routeLabels={"team": "shop"}),
        headers=auth("alertmanager"),
    )
    assert r.status_code == 202 and r.json()["alerts"] == 1
    assert time.perf_counter() - started < 1.0  # the work runs in the background
    approval = until(lambda: _pending(client))[0]
    action = approval["payload"]["action"]
    pinned = {"name": "checkout", "namespace": "shop", "to_revision": 2}  # the revision it goes back to
    assert (action["tool"], action["args"]) == ("k8s_rollout_undo", pinned)
    assert action["proposed"] == {"name": "checkout", "namespace": "shop"}  # as the policy proposed it
    incident = approval["incident"]
    # The approval is queued a moment before the incident's status says it waits for it.
    row = until(lambda: next((r for r in _incidents(client) if r["status"] == "waiting"), None))
    assert row["id"] == incident and row["alerts_resolved"] is False
    assert row["title"] == "ShopServiceHighErrorRate (critical) shop/checkout"

    r = client.post(f"/v1/approvals/{approval['id']}", json={"decision": "approve"}, headers=auth("approver"))
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert r.json()["decision"]["by"] == "sre-approver"
    client.engine.wait_idle(incident, 120)
    detail = client.get(f"/v1/incidents/{incident}", headers=auth("viewer")).json()
    kinds = [t["kind"] for t in detail["timeline"]]
    for kind in (
        "alerts",
        "triage",
        "tool call",
        "diagnosis",
        "runbook",
        "gate approve",
        "approval",
        "executed",
        "verification",
        "outcome",
    ):
        assert kind in kinds, kind
    assert kinds[0] == "alerts" and kinds.index("approval") < kinds.index("executed")
    assert detail["status"] == "done" and detail["outcome"] == "mitigated" and not detail["pending_approvals"]
    assert "checkout" in detail["report"]
    record = client.engine.trajectories.get(incident)
    assert detail["trajectory"] == incident and record.source == "alertmanager"
    assert record.approvals[0]["by"] == "sre-approver"

    # The SRE's resolution grades it.
    r = client.post(
        f"/v1/incidents/{incident}/resolution",
        headers=auth("approver"),
        json={"mitigated": True, "correct_diagnosis": True, "components": ["shop/Deployment/checkout"]},
    )
    assert r.status_code == 200 and r.json()["grade"]["mitigated"] is True
    assert client.engine.trajectories.get(incident).resolution["by"] == "sre-approver"


def test_redelivered_grouped_truncated_and_resolved_notifications_update_one_incident(client):
    client.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    incident = until(lambda: _pending(client))[0]["incident"]
    client.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))  # redelivery
    grouped = payload("grouped", truncatedAlerts=4)  # KubePodNotReady on checkout pods: same workload
    client.post("/v1/alerts/alertmanager", json=grouped, headers=auth("alertmanager"))
    client.post("/v1/alerts/alertmanager", json=payload("resolved"), headers=auth("alertmanager"))
    until(lambda: client.engine.inbox.depth() == 0 and len(client.engine.inbox.events(incident)) >= 6)
    assert [r["id"] for r in _incidents(client)] == [incident]
    events = client.engine.inbox.events(incident)
    kinds = [e["kind"] for e in events]
    # The grouped notification: two pods firing, one already resolved, four more left out.
    assert kinds == ["alerts", "redelivered", "correlated", "truncated", "resolved", "resolved"], kinds
    assert "2 alert(s)" in events[2]["summary"] and "1 alert(s) resolved" in events[4]["summary"]
    assert "4" in events[3]["summary"]
    # KubePodNotReady's group is still firing: the incident's alerts are not all resolved yet.
    assert _incidents(client)[0]["alerts_resolved"] is False
    resolved = payload("grouped")
    resolved["status"] = "resolved"
    for a in resolved["alerts"]:
        a["status"] = "resolved"
    client.post("/v1/alerts/alertmanager", json=resolved, headers=auth("alertmanager"))
    until(lambda: _incidents(client)[0]["alerts_resolved"])


def test_a_group_that_fires_again_after_it_resolved_and_ended_opens_a_new_incident(client):
    client.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    first = until(lambda: _pending(client))[0]
    client.post(
        f"/v1/approvals/{first['id']}",
        json={"decision": "reject", "reason": "release freeze"},
        headers=auth("approver"),
    )
    client.engine.wait_idle(first["incident"], 120)
    assert client.engine.store.incident(first["incident"])["status"] == "done"
    client.post("/v1/alerts/alertmanager", json=payload("resolved"), headers=auth("alertmanager"))
    until(lambda: _incidents(client)[0]["alerts_resolved"])
    client.engine.cfg.correlate_minutes = 0  # a later, unrelated recurrence
    client.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    until(lambda: len(_incidents(client)) == 2)
    state = client.engine.checkpoint_state(first["incident"])
    assert state["approvals"][0]["decision"] == "reject" and not state.get("executed")


def test_watchdog_is_a_heartbeat_not_an_incident(client):
    client.post("/v1/alerts/alertmanager", json=payload("watchdog"), headers=auth("alertmanager"))
    until(lambda: client.engine.inbox.depth() == 0)
    assert _incidents(client) == []
    metrics = client.get("/metrics").text
    assert "opsagent_watchdog_last_seen_timestamp_seconds 0.0" not in metrics


def test_generic_alerts_open_an_incident_too(client):
    body = {
        "source": "grafana",
        "alerts": [
            {
                "name": "CheckoutErrors",
                "severity": "critical",
                "labels": {"namespace": "shop", "service": "checkout"},
                "summary": "checkout returns 5xx",
            }
        ],
    }
    r = client.post("/v1/alerts", json=body, headers=auth("alertmanager"))
    assert r.status_code == 202
    approval = until(lambda: _pending(client))[0]
    assert approval["payload"]["action"]["tool"] == "k8s_rollout_undo"
    row = _incidents(client)[0]
    assert row["title"] == "CheckoutErrors (critical) shop/checkout" and row["source"] == "grafana"


def test_an_edit_is_gated_again_and_executed_as_edited(client):
    client.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    approval = until(lambda: _pending(client))[0]
    r = client.post(
        f"/v1/approvals/{approval['id']}",
        headers=auth("approver"),
        json={"decision": "edit", "args": {"name": "checkout", "namespace": "shop", "to_revision": 1}},
    )
    assert r.status_code == 200 and r.json()["status"] == "edited"
    client.engine.wait_idle(approval["incident"], 120)
    state = client.engine.checkpoint_state(approval["incident"])
    assert any(d["action"]["args"].get("to_revision") == 1 for d in state["decisions"])


def test_chat_streams_the_investigation_as_server_sent_events(client):
    with client.stream(
        "POST",
        "/v1/chat",
        headers=auth("approver"),
        json={"message": "checkout customers see errors, what is wrong?"},
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [
            line.removeprefix("event: ").strip() for line in r.iter_lines() if line.startswith("event:")
        ]
    assert events[0] == "incident" and "monitor" in events and "diagnose" in events
    assert events[-1] in ("waiting", "done")
    chats = [i for i in _incidents(client) if i["source"] == "chat"]
    assert chats and chats[0]["title"].startswith("chat: checkout customers")
    # A chat about an earlier incident gives the model that incident's facts, quoted as data.
    earlier = chats[0]["id"]
    with client.stream(
        "POST",
        "/v1/chat",
        headers=auth("approver"),
        json={"message": "was that the release?", "incident": earlier},
    ) as r:
        first = next(line for line in r.iter_lines() if line.startswith("data:"))
    incident = json.loads(first.removeprefix("data:"))["incident"]
    until(lambda: client.engine.checkpoint_state(incident).get("task"))
    assert earlier in client.engine.checkpoint_state(incident)["task"]
    assert (
        client.post(
            "/v1/chat", headers=auth("approver"), json={"message": "hi", "incident": "no-such"}
        ).status_code
        == 404
    )


def test_metrics_count_incidents_actions_approvals_and_tools(client):
    client.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    approval = until(lambda: _pending(client))[0]
    client.post(f"/v1/approvals/{approval['id']}", json={"decision": "approve"}, headers=auth("approver"))
    client.engine.wait_idle(approval["incident"], 120)
    text = client.get("/metrics").text
    assert 'opsagent_incidents_opened_total{source="alertmanager"} 1.0' in text
    assert 'opsagent_actions_total{verdict="approve"} 1.0' in text
    assert 'opsagent_actions_executed_total{status="success"} 1.0' in text
    assert "opsagent_approval_wait_seconds_count 1.0" in text
    assert 'opsagent_incidents_finished_total{outcome="mitigated"} 1.0' in text
    assert 'opsagent_tool_calls_total{status="success",tool="prometheus_query"}' in text
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"


@pytest.mark.parametrize(
    ("decision", "joins"),
    [({"decision": "approve"}, True), ({"decision": "reject", "reason": "not now"}, False)],
)
def test_another_group_on_the_same_workload_joins_a_fixed_incident_but_not_an_unfixed_one(
    client, decision, joins
):
    client.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    first = until(lambda: _pending(client))[0]
    client.post(f"/v1/approvals/{first['id']}", json=decision, headers=auth("approver"))
    client.engine.wait_idle(first["incident"], 120)
    outcome = client.engine.store.incident(first["incident"])["outcome"]
    assert outcome == ("mitigated" if joins else "escalated")
    # KubePodNotReady on checkout's pods arrives (another group, the same workload).
    client.post("/v1/alerts/alertmanager", json=payload("grouped"), headers=auth("alertmanager"))
    until(lambda: client.engine.inbox.depth() == 0)
    ids = [r["id"] for r in _incidents(client)]
    if joins:  # the echo of the fixed fault: no second incident acting on checkout
        assert ids == [first["incident"]]
        assert client.engine.inbox.events(first["incident"])[-2]["kind"] == "correlated"
    else:  # the fault was not fixed: the new alerts get an incident of their own (started in the background)
        until(lambda: len(_incidents(client)) == 2)


def test_an_incident_that_crashes_ends_failed_and_takes_no_more_alerts(client, caplog):
    """A defect in a node (here the gate raises, standing in for any bug) must not leave the
    incident open, swallowing every later alert on its workload."""
    real, calls = client.engine.gate.judge, []

    def defect(*args, **kwargs):
        calls.append(args)
        raise RuntimeError("gate exploded")

    client.engine.gate.judge = defect
    client.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    first = until(lambda: next((i for i in _incidents(client) if i["status"] == "failed"), None), 120)
    client.engine.gate.judge = real
    events = client.get(f"/v1/incidents/{first['id']}", headers=auth("viewer")).json()["timeline"]
    assert any(e["kind"] == "failed" and "RuntimeError: gate exploded" in e["summary"] for e in events)
    assert f"PAGE {first['id']} [critical]" in caplog.text
    # The same group fires again: a new incident runs (the failed one is not resumed either).
    client.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    second = until(lambda: _pending(client), 120)[0]
    assert second["incident"] != first["id"] and calls
    assert client.engine.store.incident(first["id"])["status"] == "failed"
    assert first["id"] not in client.engine._runner().to_recover()


def test_open_chats_hold_no_worker_and_do_not_stop_alert_intake(box, tmp_path):
    """60 chat streams stay open while their incidents queue (the workers are busy: here they
    never start, to keep the streams open), more than the 40 threads that serve the sync
    endpoints; an alert still gets its 202 at once, and a client that leaves stops listening."""
    import asyncio

    import httpx

    from opsagent.sandbox.prom.stack import free_port
    from opsagent.serve.demo import serving

    reset(box)
    eng = engine(box, tmp_path / "data")
    eng._submit = lambda incident, work: None  # every worker busy elsewhere: no chat ever ends
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    async def scenario() -> tuple[int, float, int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            async def open_chat(i: int):
                request = client.build_request("POST", "/v1/chat", headers=auth("approver"),
                                               json={"message": f"question {i}"})
                response = await client.send(request, stream=True)
                lines = response.aiter_lines()  # kept: dropping it would close the stream
                await anext(lines)  # the `incident` event: the stream is open
                return response, lines

            streams = await asyncio.gather(*(open_chat(i) for i in range(60)))
            started = time.perf_counter()
            alert = payload("firing")
            r = await client.post("/v1/alerts/alertmanager", json=alert, headers=auth("alertmanager"))
            took = time.perf_counter() - started
            listening = len(eng._listeners)
            for response, lines in streams:
                await lines.aclose()
                await response.aclose()
            return r.status_code, took, listening

    with serving(eng, "127.0.0.1", port):
        status, took, listening = asyncio.run(scenario())
        assert status == 202 and took < 5 and listening == 60
        until(lambda: not eng._listeners, 20)  # every client left: nobody listens any more


def test_a_mitigated_fault_that_comes_back_within_the_window_is_investigated_again(client):
    """A leak that returns ten minutes after a restart: its group fires again within
    correlate_minutes of the fix. It gets an incident of its own, linked, that runs."""
    client.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    first = until(lambda: _pending(client))[0]
    client.post(f"/v1/approvals/{first['id']}", json={"decision": "approve"}, headers=auth("approver"))
    client.engine.wait_idle(first["incident"], 120)
    assert client.engine.store.incident(first["incident"])["outcome"] == "mitigated"
    client.post("/v1/alerts/alertmanager", json=payload("resolved"), headers=auth("alertmanager"))
    assert client.engine.cfg.correlate_minutes > 0  # well within the window
    client.post("/v1/alerts/alertmanager", json=payload("firing"), headers=auth("alertmanager"))
    again = until(lambda: [i for i in _incidents(client) if i["id"] != first["incident"]], 60)[0]
    until(lambda: client.engine.checkpoint_state(again["id"]).get("triage"), 60)  # it runs
    old = client.get(f"/v1/incidents/{first['incident']}", headers=auth("viewer")).json()["timeline"]
    new = client.get(f"/v1/incidents/{again['id']}", headers=auth("viewer")).json()["timeline"]
    assert any(e["kind"] == "recurred" and again["id"] in e["summary"] for e in old)
    assert new[0]["data"]["recurrence_of"] == first["incident"]
