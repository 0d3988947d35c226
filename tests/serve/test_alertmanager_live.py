"""The real path: Prometheus evaluates the kube-prometheus and shop rules over the sandbox's
metrics, the real Alertmanager groups the alerts and calls the service's webhook with its own
bearer token, and the incident opens from that notification. (`for:` clauses are scaled down
so the test does not wait the real 5 to 15 minutes.)"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from opsagent.sandbox.prom.stack import free_port
from opsagent.sandbox.runtime import Sandbox
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec
from opsagent.serve.demo import serving
from tests.live import requires_stack
from tests.serve.service import ALERTMANAGER, auth, engine, until

pytestmark = [requires_stack, pytest.mark.slow]


def test_alertmanager_delivers_the_fault_s_alert_and_the_incident_runs_to_mitigation(tmp_path):
    port = free_port()
    spec = ScenarioSpec(faults=[FaultSpec(type="bad_rollout", target="checkout")], seed=3, now=time.time())
    box = Sandbox(
        spec,
        tmp_path / "sandbox",
        clock=False,
        evaluation_s=5,
        for_scale=0.02,
        webhook_url=f"http://127.0.0.1:{port}/v1/alerts/alertmanager",
        webhook_token=ALERTMANAGER,
    ).start()
    try:
        eng = engine(box, tmp_path / "data")
        with serving(eng, "127.0.0.1", port):
            url = f"http://127.0.0.1:{port}"

            def opened_by_the_error_alert():
                for row in eng.store.incidents():
                    names = {
                        a["labels"]["alertname"]
                        for e in eng.inbox.events(row["id"])
                        for a in e["data"].get("alerts", [])
                    }
                    if "ShopServiceHighErrorRate" in names:
                        return row["id"]
                return None

            incident = until(opened_by_the_error_alert, 120, every=0.5)
            notifications = [i["payload"] for i in eng.inbox.items("done")]
            assert all(n["version"] == "4" and n["receiver"] == "opsagent" for n in notifications)
            error = next(
                n for n in notifications if n["groupLabels"].get("alertname") == "ShopServiceHighErrorRate"
            )
            assert error["groupKey"] == '{}:{alertname="ShopServiceHighErrorRate", namespace="shop"}'
            alert = error["alerts"][0]
            assert alert["labels"]["service"] == "checkout" and alert["labels"]["severity"] == "critical"
            assert len(alert["fingerprint"]) == 16 and alert["generatorURL"].startswith(
                box.prom.prometheus_url
            )
            # The incident page links the alert in the Alertmanager that sent it (the filter is
            # one Alertmanager itself answers with this alert), a silence form with the same
            # labels, and the rule's Prometheus graph; its charts mark the fault's onset.
            detail = httpx.get(f"{url}/v1/incidents/{incident}", headers=auth("viewer")).json()
            by_kind = {(k["kind"], k["title"].split(" ")[0].rstrip(":")): k["url"] for k in detail["links"]}
            shown = by_kind[("alertmanager", "ShopServiceHighErrorRate")]
            assert shown.startswith(box.prom.alertmanager_url + "/#/alerts?")
            matchers = parse_qs(urlsplit(urlsplit(shown).fragment).query)["filter"][0]
            silence = by_kind[("silence", "silence")]
            assert parse_qs(urlsplit(urlsplit(silence).fragment).query)["filter"] == [matchers]
            answered = httpx.get(f"{box.prom.alertmanager_url}/api/v2/alerts",
                                 params=[("filter", m) for m in matchers.strip("{}").split(",")]).json()
            assert [a["labels"]["alertname"] for a in answered] == ["ShopServiceHighErrorRate"]
            assert by_kind[("prometheus", "ShopServiceHighErrorRate")].startswith(box.prom.prometheus_url)
            charts = httpx.get(f"{url}/v1/incidents/{incident}/charts", headers=auth("viewer")).json()
            onset = [m for m in charts["markers"] if m["kind"] == "onset"]
            assert [m["at"] for m in onset] == [box.onsets()[0]["onset"]] and charts["start"] < onset[0]["at"]

            # Watchdog arrives too, as a heartbeat: it opened nothing.
            assert all("Watchdog" not in r["title"] for r in eng.store.incidents())

            approval = until(lambda: eng.store.approvals("pending", incident), 60)[0]
            r = httpx.post(
                f"{url}/v1/approvals/{approval['id']}", json={"decision": "approve"}, headers=auth("approver")
            )
            assert r.status_code == 200
            until(lambda: (eng.store.incident(incident) or {}).get("status") == "done", 120)
            assert eng.checkpoint_state(incident)["outcome"] == "mitigated"
            assert eng.trajectories.get(incident).source == "alertmanager"
    finally:
        box.stop()
