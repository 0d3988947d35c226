"""For every fault with a matching alert, the real rules (kube-prometheus, and the shop's own)
fire it over the scenario's metric history, with labels that point at the fault. promtool
evaluates the rules, `for:` durations included, in simulated time."""

from __future__ import annotations

import pytest

from opsagent.sandbox.faults import FAULTS
from opsagent.sandbox.prom.promtool import firing_alerts
from opsagent.sandbox.scenario import FaultSpec, Scenario, ScenarioSpec
from tests import requires

WITH_ALERTS = sorted(k for k, f in FAULTS.items() if f.alerts)

pytestmark = [pytest.mark.slow, requires.promtool]


def test_every_incident_names_its_alerts():
    assert sorted(k for k, f in FAULTS.items() if f.is_incident) == WITH_ALERTS


@pytest.mark.parametrize("fault", WITH_ALERTS)
def test_the_real_alert_fires(fault):
    cls = FAULTS[fault]
    sc = Scenario.build(ScenarioSpec(faults=[FaultSpec(type=fault, onset_s=cls.alert_onset_s)],
                                     seed=3, history_s=cls.alert_onset_s + 600))
    target = sc.faults[0].target
    fired = firing_alerts(sc.world.frames, [*cls.alerts, "Watchdog"])
    assert fired["Watchdog"], "the alerting pipeline itself did not evaluate"
    for alert, label in cls.alerts.items():
        want = label.format(target=target)
        assert fired[alert], f"{alert} did not fire for {fault} on {target}"
        values = [v for labels in fired[alert] for v in labels.values()]
        assert any(v == want or v.startswith(want) for v in values), (alert, want, fired[alert])
        assert all(labels["alertname"] == alert and labels.get("severity") for labels in fired[alert])


def test_a_healthy_cluster_fires_nothing_but_the_watchdog(healthy):
    names = sorted({a for f in FAULTS.values() for a in f.alerts})
    fired = firing_alerts(healthy.world.frames, [*names, "Watchdog", "TargetDown", "KubeletDown"])
    assert {name for name, found in fired.items() if found} == {"Watchdog"}
