"""The API's contract without running incidents: who may call what (bearer tokens and roles),
and what a client mistake gets (422 naming the field, 404, 409, 413; never a 500)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from opsagent.serve.app import create_app
from opsagent.serve.engine import Engine
from opsagent.serve.settings import Settings
from tests.serve.service import auth, payload, service_config


@pytest.fixture
def client(tmp_path):
    """The app over an engine that is not started: accepted alerts wait in the inbox."""
    eng = Engine(Settings(data_dir=tmp_path, service=service_config(max_body_bytes=4096)))
    with TestClient(create_app(eng, manage_engine=False)) as c:
        c.engine = eng  # type: ignore[attr-defined]
        yield c
    eng.stop()


def _approval(client, approver: str = "approver") -> str:
    action = {
        "tool": "k8s_rollout_undo",
        "args": {"name": "checkout", "namespace": "shop"},
        "why": "bad release",
    }
    return client.engine.store.open_approval(
        f"ap-{approver}",
        "inc-1",
        {
            "action": action,
            "approver": approver,
            "risk": "mutate-high",
            "rule": "r",
            "reason": "r",
            "rollback": "undo",
            "diagnosis": {"summary": "s"},
        },
    )


NONE, VIEWER, APPROVER, ALERTMANAGER, ADMIN = "none", "viewer", "approver", "alertmanager", "admin"


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        (
            "GET",
            "/v1/incidents",
            None,
            {NONE: 401, VIEWER: 200, APPROVER: 200, ALERTMANAGER: 403, ADMIN: 200},
        ),
        ("GET", "/v1/approvals", None, {NONE: 401, VIEWER: 200, ALERTMANAGER: 403, ADMIN: 200}),
        (
            "POST",
            "/v1/alerts/alertmanager",
            "firing",
            {NONE: 401, VIEWER: 403, APPROVER: 403, ALERTMANAGER: 202, ADMIN: 202},
        ),
        ("POST", "/v1/alerts", {"alerts": [{"name": "X"}]}, {NONE: 401, VIEWER: 403, ALERTMANAGER: 202}),
        (
            "POST",
            "/v1/approvals/nope",
            {"decision": "approve"},
            {NONE: 401, VIEWER: 403, ALERTMANAGER: 403, APPROVER: 404, ADMIN: 404},
        ),
        (
            "POST",
            "/v1/incidents/nope/resolution",
            {"mitigated": True, "correct_diagnosis": True},
            {NONE: 401, VIEWER: 403, APPROVER: 404},
        ),
        (
            "POST",
            "/v1/chat",
            {"message": "hi", "incident": "nope"},
            {NONE: 401, VIEWER: 403, ALERTMANAGER: 403, APPROVER: 404},
        ),
        ("GET", "/metrics", None, {NONE: 200}),
        ("GET", "/healthz", None, {NONE: 200}),
        ("GET", "/approvals", None, {NONE: 200}),  # the page shell: no data in it
    ],
)
def test_each_role_may_do_what_it_should_and_nothing_more(client, method, path, body, expected):
    if body == "firing":
        body = payload("firing")
    for role, status in expected.items():
        headers = {} if role == NONE else auth(role)
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code == status, (role, r.text)
        if status == 401:
            assert r.headers["www-authenticate"] == "Bearer"


def test_an_unknown_or_malformed_token_is_refused(client):
    for header in ("Bearer not-a-token-at-all", "Basic YWRtaW46YWRtaW4=", "Bearer", ""):
        assert client.get("/v1/incidents", headers={"Authorization": header}).status_code == 401


def test_security_sensitive_actions_need_the_security_role(client):
    approval = _approval(client, "security-approver")
    r = client.post(f"/v1/approvals/{approval}", json={"decision": "approve"}, headers=auth("approver"))
    assert r.status_code == 403 and "security-approver" in r.json()["detail"]
    r = client.post(
        f"/v1/approvals/{approval}", json={"decision": "approve"}, headers=auth("security-approver")
    )
    assert r.status_code == 200 and r.json()["decision"]["by"] == "sre-security-approver"
    again = client.post(f"/v1/approvals/{approval}", json={"decision": "approve"}, headers=auth("admin"))
    assert again.status_code == 409 and "already decided" in again.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in payload("firing").items() if k != "groupKey"}, "groupKey"),
        ({**payload("firing"), "version": "3"}, "version"),
        ({**payload("firing"), "alerts": []}, "alerts"),
        ({**payload("firing"), "alerts": [{"status": "burning", "labels": {"a": "b"}}]}, "status"),
        ({**payload("firing"), "truncatedAlerts": -1}, "truncatedAlerts"),
    ],
)
def test_a_malformed_notification_is_a_422_naming_the_field(client, body, field):
    r = client.post("/v1/alerts/alertmanager", json=body, headers=auth("alertmanager"))
    assert r.status_code == 422
    assert any(field in map(str, e["loc"]) for e in r.json()["detail"]), r.json()
    assert client.engine.inbox.depth() == 0


def test_bad_decisions_and_unknown_records(client):
    approval = _approval(client)
    r = client.post(f"/v1/approvals/{approval}", json={"decision": "reject"}, headers=auth("approver"))
    assert r.status_code == 422 and "reason" in r.text
    r = client.post(f"/v1/approvals/{approval}", json={"decision": "edit"}, headers=auth("approver"))
    assert r.status_code == 422 and "args" in r.text
    r = client.post(f"/v1/approvals/{approval}", json={"decision": "maybe"}, headers=auth("approver"))
    assert r.status_code == 422
    r = client.post(f"/v1/approvals/{approval}", content=b"{not json", headers=auth("approver"))
    assert r.status_code == 422
    assert client.get("/v1/incidents/nope", headers=auth("viewer")).status_code == 404
    assert client.get("/v1/approvals?status=bogus", headers=auth("viewer")).status_code == 422
    assert client.engine.store.approval(approval)["status"] == "pending"


def test_an_oversized_body_is_a_413_whether_announced_or_streamed(client):
    big = {**payload("firing"), "commonAnnotations": {"description": "x" * 10_000}}
    r = client.post("/v1/alerts/alertmanager", json=big, headers=auth("alertmanager"))
    assert r.status_code == 413 and "4096" in r.json()["detail"]

    def chunks():
        for _ in range(10):
            yield b"x" * 1000

    r = client.post(
        "/v1/alerts/alertmanager",
        content=chunks(),
        headers={**auth("alertmanager"), "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert client.engine.inbox.depth() == 0


def test_the_openapi_document_describes_every_endpoint(client):
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/alerts/alertmanager",
        "/v1/alerts",
        "/v1/chat",
        "/v1/incidents",
        "/v1/incidents/{incident_id}",
        "/v1/incidents/{incident_id}/resolution",
        "/v1/approvals",
        "/v1/approvals/{approval_id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in spec["paths"], path
    assert "/approvals" not in spec["paths"]  # pages are not API


def _nested(depth: int) -> dict:
    value: dict = {"leaf": "x"}
    for _ in range(depth):
        value = {"n": value}
    return value


@pytest.mark.parametrize("depth", [13, 255, 300, 1_200])
def test_a_deeply_nested_notification_is_a_422_with_the_reason(client, depth):
    """At ~255 levels a payload used to be accepted and then break the checkpoint serialiser;
    past the JSON parser's recursion limit (1,200 lists here, within the body limit) it was a 500."""
    body = json.dumps({**payload("firing"), "extra": _nested(depth) if depth < 900 else []})
    if depth >= 900:
        body = body.replace('"extra": []', '"extra": ' + "[" * depth + "]" * depth)
    headers = {**auth("alertmanager"), "Content-Type": "application/json"}
    r = client.post("/v1/alerts/alertmanager", content=body, headers=headers)
    assert r.status_code == 422 and "nests deeper than 12 levels" in r.text, r.text[:300]
    assert client.engine.inbox.depth() == 0
    shallow = {**payload("firing"), "extra": _nested(6)}
    r = client.post("/v1/alerts/alertmanager", json=shallow, headers=auth("alertmanager"))
    assert r.status_code == 202
