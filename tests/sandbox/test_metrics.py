"""The metric history speaks the real exporters' language: the series the kube-prometheus
alert rules select exist, with the labels those selectors match on.

(Evaluating the rules in a real Prometheus belongs to the protocol servers; here we check the
contract they rely on, read from the real rule files opsagent ships, vendored from
kube-prometheus.)"""

from __future__ import annotations

import re

import pytest
import yaml

from opsagent.sandbox.metrics import render
from opsagent.sandbox.prom.rules import KUBE_PROMETHEUS
from tests.conftest import build

RULES = KUBE_PROMETHEUS
ALERTS = [
    "KubePodCrashLooping", "KubePodNotReady", "KubeDeploymentReplicasMismatch",
    "KubeDeploymentRolloutStuck", "KubeContainerWaiting", "KubeNodeNotReady",
    "KubeNodeUnreachable", "CPUThrottlingHigh", "KubeHpaMaxedOut",
    "KubePersistentVolumeFillingUp", "NodeFilesystemAlmostOutOfSpace",
    "NodeNetworkReceiveErrs", "KubeStatefulSetReplicasMismatch", "KubeNodePressure",
]
SELECTOR = re.compile(r"\b([a-z_][a-z0-9_]*)\{([^}]*)\}")
MATCHER = re.compile(r'([a-z_]+)\s*(=~|!=|!~|=)\s*"([^"]*)"')


def _alerts() -> dict[str, str]:
    exprs = {}
    for path in sorted(RULES.glob("*.yaml")):
        for group in yaml.safe_load(path.read_text())["spec"]["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    exprs[rule["alert"]] = rule["expr"]
    return exprs


@pytest.fixture(scope="module")
def samples():
    """Series from worlds in the states these alerts watch for."""
    out = []
    for fault in ("dns_failure", "node_not_ready", "cpu_limit_too_low", "traffic_surge",
                  "pvc_full", "node_disk_full", "bad_image_tag", "node_packet_loss"):
        out += render(build(fault, seed=1).world.frames[-1])
    return out


@pytest.mark.parametrize("alert", ALERTS)
def test_alert_selectors_match_our_series(alert, samples):
    expr = _alerts()[alert].split("unless")[0]  # what follows `unless` only excludes
    selectors = [(name, body) for name, body in SELECTOR.findall(expr) if ":" not in name]
    assert selectors, expr
    for name, body in selectors:
        series = [s for s in samples if s.name == name]
        assert series, f"{alert}: no series named {name}"
        for label, op, value in MATCHER.findall(body):
            if op == "=":
                assert any(s.labels.get(label) == value for s in series), (alert, name, label, value)
            elif op == "=~" and value not in (".*", ""):
                rx = re.compile(value)
                assert any(rx.fullmatch(s.labels.get(label, "")) for s in series), (alert, name, label)
            elif op == "!=" and value == "":
                assert any(s.labels.get(label) for s in series), (alert, name, label)


def test_counters_only_go_up_within_a_container(healthy):
    frames = healthy.world.frames
    last: dict[tuple, float] = {}
    for frame in frames[::8]:
        for s in render(frame):
            if s.name.endswith("_total"):
                key = (s.name, tuple(sorted(s.labels.items())))
                assert s.value >= last.get(key, 0.0) - 1e-6, key
                last[key] = s.value
