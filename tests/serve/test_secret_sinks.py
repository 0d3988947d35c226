"""Secrets in what people send the service (an alert's annotations, a chat message, an SRE's
resolution note and approval reason) reach no sink an operator or viewer reads: not the inbox,
the chat's server-sent events, the timeline, the approval queue, nor anything in the data
directory. An edit that would store a secret in the approval is refused with the reason."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from opsagent.serve.app import create_app
from tests.live import requires_stack
from tests.serve.service import auth, engine, payload, reset, until
from tests.trajectories.secrets_corpus import SECRETS

pytestmark = [requires_stack, pytest.mark.slow]
PLANTED = {"alert": "pg-url", "chat": "openai-proj", "note": "slack-webhook", "reason": "curl-u"}


def test_what_people_send_is_redacted_at_the_door(box, tmp_path):
    reset(box)
    eng = engine(box, tmp_path / "data")
    body = payload("firing")
    body["alerts"][0]["annotations"]["description"] = f"errors since deploy; {SECRETS['pg-url'][0]}"
    with TestClient(create_app(eng)) as client:
        assert (
            client.post("/v1/alerts/alertmanager", json=body, headers=auth("alertmanager")).status_code == 202
        )
        approval = until(lambda: client.get("/v1/approvals", headers=auth("viewer")).json(), 60)[0]
        secret_edit = {
            "decision": "edit",
            "args": {"name": "checkout", "set": {"DB_PASSWORD": "N3wPw!2026x"}},
        }
        refused = client.post(f"/v1/approvals/{approval['id']}", headers=auth("approver"), json=secret_edit)
        assert refused.status_code == 422 and "secret-shaped" in refused.text
        reason = f"ok; checked with {SECRETS['curl-u'][0]}"
        client.post(
            f"/v1/approvals/{approval['id']}",
            headers=auth("approver"),
            json={"decision": "approve", "reason": reason},
        ).raise_for_status()
        eng.wait_idle(approval["incident"], 120)
        until(lambda: eng.trajectories.get(approval["incident"]), 60)
        note = {"mitigated": True, "correct_diagnosis": True, "note": f"saw {SECRETS['slack-webhook'][0]}"}
        client.post(
            f"/v1/incidents/{approval['incident']}/resolution", headers=auth("approver"), json=note
        ).raise_for_status()
        with client.stream(
            "POST",
            "/v1/chat",
            headers=auth("approver"),
            json={"message": f"checkout fails; my key is {SECRETS['openai-proj'][0]}"},
        ) as r:
            events = "\n".join(r.iter_lines())
        chat = json.loads(next(line for line in events.splitlines() if line.startswith("data:"))[5:])[
            "incident"
        ]
        eng.wait_idle(chat, 120)
        seen = [
            events,
            client.get(f"/v1/incidents/{approval['incident']}", headers=auth("viewer")).text,
            client.get(f"/v1/incidents/{chat}", headers=auth("viewer")).text,
            client.get("/v1/approvals?status=approved", headers=auth("viewer")).text,
        ]
    eng.stop()
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert "[REDACTED" in seen[2] and b"[REDACTED" in on_disk  # the secrets arrived, and were masked
    for where, name in PLANTED.items():
        secret = SECRETS[name][1]
        assert not any(secret in text for text in seen), f"the {where}'s secret reached a page or event"
        assert secret.encode() not in on_disk, f"the {where}'s secret reached storage"
