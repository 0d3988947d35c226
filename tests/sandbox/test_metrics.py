"""The metric history speaks the real exporters' language: the series the kube-prometheus
alert rules select exist, with the labels those selectors match on.

(Evaluating the rules in a real Prometheus belongs to the protocol servers; here we check the
contract they rely on, read from the real rule files opsagent ships, vendored from
kube-prometheus.)"""

from __future__ import annotations

import re

import pytest
import yaml

from opsagent.sandbox import metrics
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


def _fresh(frame):
    """The frame's samples with every label built afresh (no object's series remembered)."""
    metrics._TEMPLATES.clear()
    metrics._RENDERED.clear()
    return [(s.name, s.labels, s.value) for s in render(frame)]


@pytest.mark.parametrize("fault", ["memory_leak", "bad_rollout", "node_not_ready",
                                   "bad_image_tag", "traffic_surge", "pvc_full"])
def test_remembered_series_render_what_fresh_ones_do(fault):
    """An object keeps its series from the first time it is seen in a shape; a pod that starts
    crash-looping, a node going NotReady, a rollout's new pods change shape and get new ones."""
    frames = build(fault, seed=2).world.frames
    metrics._RENDERED.clear()
    remembered = [[(s.name, s.labels, s.value) for s in render(f)] for f in frames]
    assert remembered == [_fresh(f) for f in frames]


def test_trimming_forgets_unused_series_and_keeps_the_numbers_of_those_in_use(monkeypatch):
    frames = build("memory_leak", seed=4).world.frames
    numbers = {(s.name, *s.labels.items()): s.sid for s in render(frames[-2])}
    metrics._TEMPLATES[("gone",)] = [(("gone_total", {}, -1),), metrics._renders - 10_000]
    metrics._SIDS[("gone_total",)] = -1
    monkeypatch.setattr(metrics, "_TEMPLATES_MAX", 0)  # the next render trims
    metrics._RENDERED.clear()
    latest = render(frames[-1])
    assert ("gone",) not in metrics._TEMPLATES and ("gone_total",) not in metrics._SIDS
    assert all(metrics._SIDS[(s.name, *s.labels.items())] == s.sid for s in latest)
    kept = [s for s in latest if (s.name, *s.labels.items()) in numbers]
    assert len(kept) > 1000
    assert all(numbers[(s.name, *s.labels.items())] == s.sid for s in kept)
