"""The kubelet model against what a real kubelet does with a pod template's probes: the app
answers its health endpoint on its own port only; a probe elsewhere fails with the kubelet's own
words; liveness failures past failureThreshold restart the container, after initialDelaySeconds."""

from __future__ import annotations

import pytest

from opsagent.sandbox.objects import Probe
from tests.conftest import build


def _probe(kind: str, path: str | None = None, port: int | None = None, delay: int = 30):
    world = build("memory_leak", seed=3, target="catalog").world
    workload = world.workloads[("shop", "cart")]

    def change(template) -> None:  # type: ignore[no-untyped-def]
        c = template.containers[0]
        base = getattr(c, kind)
        setattr(c, kind, Probe(path or base.path, port or base.port, initial_delay=delay))

    world.update_template(workload, change, f"kubectl patch: {kind}")
    return world


def _cart(world):  # type: ignore[no-untyped-def]
    return [p for p in world.pods.values() if p.workload == "cart" and p.deleting_at is None]


def _said(world, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.message for e in world.events if e.name.startswith("cart-") and text in e.message]


@pytest.mark.parametrize(("path", "port", "said"), [
    ("/wrong", None, "Liveness probe failed: HTTP probe failed with statuscode: 404"),
    (None, 9999, ":9999: connect: connection refused"),
])
def test_a_liveness_probe_pointed_elsewhere_restarts_the_container(path, port, said):
    world = _probe("liveness", path, port)
    for _ in range(30):
        world.tick()
    assert _said(world, said)
    assert _said(world, "failed liveness probe, will be restarted")
    restarted = [p for p in _cart(world) if p.containers[0].restarts]
    assert restarted and all(p.containers[0].last_reason == "Error" for p in restarted)


def test_liveness_waits_for_its_initial_delay():
    world = _probe("liveness", "/wrong", delay=3600)
    for _ in range(30):  # 7.5 minutes
        world.tick()
    assert not _said(world, "Liveness probe failed")
    assert not any(p.containers[0].restarts for p in _cart(world) if p.pod_hash == world.workloads[
        ("shop", "cart")].pod_hash)


def test_a_readiness_probe_on_the_wrong_port_is_refused_and_never_ready():
    world = _probe("readiness", port=9999)
    for _ in range(30):
        world.tick()
    new = [p for p in _cart(world) if p.pod_hash == world.workloads[("shop", "cart")].pod_hash]
    assert new and not any(p.ready for p in new)
    assert _said(world, "Readiness probe failed: Get \"http://")
    assert not any(p.containers[0].restarts for p in new)  # readiness never restarts a container
