"""Actions change the world the way the kubectl command would; bad ones change nothing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from opsagent.sandbox.actions import (
    DeletePod,
    ExpandPVC,
    PatchHPA,
    PatchResources,
    RolloutRestart,
    RolloutUndo,
    Scale,
    SetImage,
    parse_action,
)
from opsagent.sandbox.errors import InvalidError, NotFoundError, SandboxError
from opsagent.sandbox.faults.common import live_pods
from opsagent.sandbox.scenario import Scenario
from opsagent.trajectories.splits import SEVERITIES
from tests.conftest import build, fork


def state(sc: Scenario) -> str:
    """Everything an action could change, before any tick runs."""
    w = sc.world
    return repr((w.workloads, w.replicasets, w.pods, w.services, w.configmaps, w.secrets, w.hpas,
                 w.pvcs, w.nodes))


@pytest.mark.parametrize(
    ("action", "error"),
    [
        (Scale(namespace="shop", name="nope", replicas=2), NotFoundError),
        (DeletePod(namespace="shop", name="catalog-0"), NotFoundError),
        (RolloutRestart(namespace="shop", name="postgres"), NotFoundError),  # it is a StatefulSet
        (SetImage(namespace="shop", name="cart", container="sidecar", image="redis:7"), InvalidError),
        (PatchResources(namespace="shop", name="cart", limits={"cpu": "lots"}), InvalidError),
        (PatchResources(namespace="shop", name="cart", requests={"cpu": "2"}), InvalidError),
        (PatchHPA(namespace="shop", name="frontend", min_replicas=9, max_replicas=4), InvalidError),
        (ExpandPVC(namespace="shop", name="data-postgres-0", size="1Gi"), InvalidError),
        (RolloutUndo(namespace="shop", name="cart", to_revision=42), InvalidError),
        (parse_action({"action": "cordon", "node": "ip-10-9-9-9"}), NotFoundError),
    ],
    ids=lambda v: getattr(v, "action", getattr(v, "__name__", "")),
)
def test_invalid_actions_raise_typed_errors_and_change_nothing(healthy, action, error):
    sc = fork(healthy)
    before = state(sc)
    with pytest.raises(error) as exc:
        sc.apply(action)
    assert isinstance(exc.value, SandboxError) and exc.value.code in (404, 422)
    assert str(exc.value)
    assert state(sc) == before
    assert sc.actions == []


@pytest.mark.parametrize("data", [
    {"action": "scale", "namespace": "shop", "name": "cart", "replicas": -1},
    {"action": "scale", "namespace": "shop", "name": "cart", "replicas": 10_000},
    {"action": "scale", "namespace": "shop", "name": "Cart!", "replicas": 1},
    {"action": "scale", "namespace": "shop", "name": "cart"},
    {"action": "reboot_everything"},
    {"action": "patch_env", "namespace": "shop", "name": "cart", "set": {"1BAD": "x"}},
])
def test_malformed_actions_are_rejected_with_the_field(data):
    with pytest.raises(ValidationError) as exc:
        parse_action(data)
    error = exc.value.errors()[0]
    # The error names the offending field, or (unknown action) the tags that are allowed.
    assert error["loc"] or "'scale'" in error["msg"]


def test_scale_changes_pods_and_reports_rollback(healthy):
    sc = fork(healthy)
    result = sc.apply(Scale(namespace="shop", name="cart", replicas=4))
    assert result.rollback == [{"action": "scale", "namespace": "shop", "name": "cart",
                                "replicas": 2, "kind": "Deployment"}]
    sc.advance(60)
    assert len([p for p in live_pods(sc.world, "cart") if p.ready]) == 4


def test_restart_relieves_a_leak_only_until_memory_climbs_again():
    sc = build("memory_leak", target="catalog", seed=2)
    sc.apply(RolloutRestart(namespace="shop", name="catalog"))
    sc.advance(120)
    pods = live_pods(sc.world, "catalog")
    limit = pods[0].template.containers[0].limits.memory
    assert all(p.containers[0].memory < 0.8 * limit for p in pods)
    assert not sc.mitigated()
    sc.advance(600)
    restarts = [p.containers[0].last_reason for p in live_pods(sc.world, "catalog")]
    assert "OOMKilled" in restarts
    assert not sc.mitigated()


def test_rollback_cures_a_bad_rollout_and_scaling_does_not():
    sc = build("bad_rollout", target="checkout", seed=2)
    scaled = fork(sc)
    scaled.apply(Scale(namespace="shop", name="checkout", replicas=6))
    scaled.advance(300)
    assert scaled.world.stats["checkout"].error_ratio > 0.2
    sc.apply(RolloutUndo(namespace="shop", name="checkout"))
    sc.advance(300)
    assert sc.world.stats["checkout"].error_ratio < 0.01
    assert sc.mitigated()


def test_scaling_cures_a_surge_when_the_hpa_may_grow():
    sc = build("traffic_surge", seed=2)
    assert sc.world.hpas[("shop", "frontend")].current_replicas == 6
    sc.apply(PatchHPA(namespace="shop", name="frontend", max_replicas=16))
    sc.advance(300)
    assert sc.world.hpas[("shop", "frontend")].current_replicas > 6
    assert sc.mitigated() and sc.health().slo_ok


@pytest.mark.parametrize("severity", sorted(set(SEVERITIES)))
def test_the_surges_declared_remedy_absorbs_it_at_every_training_severity(severity):
    sc = build("traffic_surge", seed=5, severity=severity)
    [remedy] = sc.faults[0].mitigations(sc.world)
    for action in remedy:
        sc.apply(action)
    sc.advance(300)
    assert sc.mitigated() and sc.health().slo_ok  # the ground truth, not only the alerts


def test_deleting_the_only_database_pod_makes_things_worse(healthy):
    sc = fork(healthy)
    sc.apply(DeletePod(namespace="shop", name="postgres-0"))
    sc.advance(30)
    assert sc.world.stats["postgres"].reachable == 0
    assert sc.health().error_ratio > 0.2
    sc.advance(120)
    assert sc.health().slo_ok  # the StatefulSet brings it back under the same name
    assert sc.world.pods[("shop", "postgres-0")].ready


def test_rollout_undo_swaps_back_to_the_previous_revision(healthy):
    sc = fork(healthy)
    wl = sc.world.workloads[("shop", "cart")]
    first = sc.apply(RolloutUndo(namespace="shop", name="cart"))
    assert "2.7.3" in wl.template.containers[0].image
    sc.apply(parse_action(first.rollback[0]))
    assert "2.8.0" in wl.template.containers[0].image
