"""The healthy shop: a realistic application, a clean baseline, and determinism."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

from opsagent.sandbox.build import DEFAULT_START
from opsagent.sandbox.metrics import series
from opsagent.sandbox.scenario import Scenario, ScenarioSpec


def test_a_realistic_application(healthy):
    w = healthy.world
    assert len(w.nodes) >= 3
    assert {ns for ns, _ in w.workloads} >= {"shop", "kube-system", "ingress-nginx", "batch"}
    services = [name for (ns, name) in w.services if ns == "shop"]
    assert len(services) >= 8
    kinds = {wl.kind for wl in w.workloads.values()}
    assert kinds == {"Deployment", "StatefulSet"}
    assert {n for p in w.pods.values() for n in [p.node]} == set(w.nodes), "pods spread over nodes"
    assert w.configmaps and w.secrets and w.hpas and w.pvcs
    for pod in w.pods.values():
        spec = pod.template.containers[0]
        assert spec.requests.cpu > 0 and spec.limits.memory > 0 and spec.readiness is not None


def test_the_healthy_baseline_is_quiet(healthy):
    w = healthy.world
    assert all(p.ready for p in w.pods.values())
    assert [e for e in w.events if e.type == "Warning"] == []
    assert healthy.health().slo_ok
    assert not healthy.is_incident and healthy.mitigated()
    errors = [r for r in w.logs.records if r.level in ("ERROR", "FATAL", "PANIC", "CRITICAL")]
    assert errors == []


def test_history_covers_thirty_minutes_at_fifteen_seconds(healthy):
    frames = healthy.world.frames
    assert len(frames) == 120
    assert {round(b.t - a.t) for a, b in itertools.pairwise(frames)} == {15}
    requests = series(frames, "http_requests_total", service="frontend", code="200")
    rates = [(b[1] - a[1]) / 15 for a, b in itertools.pairwise(requests)]
    assert min(rates) > 50 and max(rates) / min(rates) > 1.02  # noisy, not flat


def test_traffic_follows_the_time_of_day():
    midnight = DEFAULT_START - DEFAULT_START % 86400
    day = Scenario.build(ScenarioSpec(seed=1, now=midnight + 15 * 3600))
    night = Scenario.build(ScenarioSpec(seed=1, now=midnight + 3 * 3600))
    assert day.world.stats["frontend"].rps > 1.5 * night.world.stats["frontend"].rps


def test_logs_are_ecs_documents_in_real_shapes(healthy):
    records = healthy.world.logs.records
    doc = records[-1].to_ecs()
    assert set(doc) == {"@timestamp", "message", "log.level", "kubernetes.namespace",
                        "kubernetes.pod.name", "kubernetes.container.name", "service.name",
                        "host.name"}
    go = [r for r in records if r.service == "cart"]
    assert all(json.loads(r.message)["msg"] for r in go)
    nginx = [r for r in records if r.service == "ingress-nginx-controller"]
    assert any('" 200 ' in r.message and "HTTP/1.1" in r.message for r in nginx)
    java = [r for r in records if r.service == "catalog"]
    assert any(" INFO 1 --- [nio-8080-exec-" in r.message for r in java)


def test_same_seed_same_world_different_seed_different_world():
    a = Scenario.build(ScenarioSpec(seed=21))
    b = Scenario.build(ScenarioSpec(seed=21))
    c = Scenario.build(ScenarioSpec(seed=22))
    assert a.world.fingerprint() == b.world.fingerprint() != c.world.fingerprint()


def test_worlds_reproduce_across_processes():
    """String hashing is salted per process; nothing in the simulation may depend on it."""
    code = ("from sandbox.scenario import *; sc = Scenario.build(ScenarioSpec(seed=4, faults=["
            "FaultSpec(type='node_disk_full'), FaultSpec(type='benign_log_noise')])); "
            "sc.advance(120); print(sc.world.fingerprint())")
    prints = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert len(prints) == 1
