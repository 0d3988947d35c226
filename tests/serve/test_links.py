"""Links out of an incident page and the fault-onset marker, from the records the service keeps
(no server needed: the live Alertmanager check is in test_alertmanager_live.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from pydantic import ValidationError

from opsagent.serve.charts import markers
from opsagent.serve.config import ServiceConfig
from opsagent.serve.links import links, matchers
from opsagent.serve.schemas import TimelineEntry

ALERT = {"status": "firing", "fingerprint": "a1b2c3d4e5f60718",
         "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-5d8f9c7b6-x2k4q",
                    "severity": "warning"},
         "generatorURL": "http://prom:9090/graph?g0.expr=up"}
EVENTS = [{"kind": "alerts", "data": {"alerts": [ALERT], "alertmanager": "http://am:9093"}},
          {"kind": "resolved", "data": {"alerts": [{**ALERT, "status": "resolved"}]}}]


def _fragment_query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(urlsplit(url).fragment).query)


def test_an_alert_links_to_its_graph_to_alertmanager_and_to_a_silence_with_its_labels():
    out = {link.kind: link for link in links(EVENTS, {}, None)}
    assert set(out) == {"prometheus", "alertmanager", "silence"}  # once, though it also resolved
    assert out["prometheus"].url == ALERT["generatorURL"]
    assert out["alertmanager"].url.startswith("http://am:9093/#/alerts?")
    assert out["silence"].url.startswith("http://am:9093/#/silences/new?")
    expected = ('{alertname="KubePodCrashLooping",namespace="shop",pod="cart-5d8f9c7b6-x2k4q",'
                'severity="warning"}')
    for kind in ("alertmanager", "silence"):
        assert _fragment_query(out[kind].url)["filter"] == [expected]
    assert "KubePodCrashLooping" in _fragment_query(out["silence"].url)["comment"][0]


def test_matchers_escape_quotes_and_backslashes_so_a_label_cannot_end_the_filter():
    assert matchers({"a": 'x"}, b="y', "c": "d\\"}) == '{a="x\\"}, b=\\"y",c="d\\\\"}'


def test_only_http_addresses_become_links():
    hostile = {**ALERT, "generatorURL": "javascript:alert(1)"}
    event = {"kind": "alerts", "data": {"alerts": [hostile], "alertmanager": "data:text/html,x"}}
    assert links([event], {}, None) == []


def test_a_configured_dashboard_links_the_pods_and_workloads_named():
    template = "https://dash.example/#/{kind}/{namespace}/{name}"
    state = {"diagnoses": [{"components": ["shop/Deployment/cart", "shop/Deployment/cart"]}]}
    out = [link for link in links(EVENTS, state, template) if link.kind == "dashboard"]
    assert [unquote(link.url) for link in out] == ["https://dash.example/#/pod/shop/cart-5d8f9c7b6-x2k4q",
                                                   "https://dash.example/#/deployment/shop/cart"]
    assert not [link for link in links(EVENTS, state, None) if link.kind == "dashboard"]


@pytest.mark.parametrize("bad, says", [("ftp://dash/{name}", "http(s)"),
                                       ("https://dash/{pod}", "placeholder")])
def test_a_bad_dashboard_template_is_refused_with_the_field_named(bad, says):
    with pytest.raises(ValidationError, match="dashboard_url") as err:
        ServiceConfig(dashboard_url=bad)
    assert says in str(err.value)


def test_the_onset_of_a_fault_the_alerts_name_is_marked_and_others_are_not():
    onsets = [{"fault": "memory_leak", "target": "cart", "onset": 100.0},
              {"fault": "cpu_throttling", "target": "payments", "onset": 50.0}]
    entries = [TimelineEntry(at=400.0, kind="diagnosis", summary="memory_leak: cart")]
    marks = markers([ALERT], entries, onsets)
    assert [(m.kind, m.at) for m in marks] == [("onset", 100.0), ("diagnosis", 400.0)]
    assert "memory_leak on cart" in marks[0].label
