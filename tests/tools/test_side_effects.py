"""Mutations over a connection that fails after the apiserver applied them, and a stalled
apiserver. A proxy (a real HTTP server) in front of the sandbox's API forwards each request and,
for the methods told, holds the answer past the client's read timeout: the change is made, the
client never hears so. The mutation must not be sent again (an undo recomputed from the state it
produced redeploys the bad revision), and the result must say what is true, read back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench.kube_witness import KubeWitness
from opsagent.agent.facts import KubeFacts
from opsagent.agent.gate import UnknownFact
from opsagent.tools.config import sandbox_config
from opsagent.tools.context import ToolContext
from tests.live import requires_stack

pytestmark = requires_stack


@contextmanager
def through(box, tmp_path, hold: set[str], hold_s: float = 3.0,
            forward_held: bool = True) -> Iterator[tuple[ToolContext, KubeWitness]]:
    cfg = sandbox_config(box.run_dir)
    proxy = KubeWitness(box.kube.url, frozenset(hold), hold_s, lose_held=not forward_held)
    kubeconfig = proxy.kubeconfig(cfg.kubeconfig, tmp_path / "kubeconfig")
    ctx = ToolContext(cfg.model_copy(update={"kubeconfig": kubeconfig, "timeout_s": 1.0, "retries": 2}))
    try:
        yield ctx, proxy
    finally:
        ctx.close()
        proxy.stop()


def image_of(box, name: str) -> str:
    return box.scenario.world.workloads[("shop", name)].template.containers[0].image


def test_an_undo_whose_answer_is_lost_is_not_sent_again(registry, box, tmp_path):
    assert image_of(box, "checkout").endswith(":2.4.0")  # the bad release (bad_rollout)
    with through(box, tmp_path, {"PATCH"}) as (ctx, proxy):
        r = registry.call(ctx, "k8s_rollout_undo", {"name": "checkout"})
    patches = [s for s in proxy.sent if s.startswith("PATCH")]
    assert patches == ["PATCH /apis/apps/v1/namespaces/shop/deployments/checkout"]
    assert image_of(box, "checkout").endswith(":2.3.1")  # rolled back once, not back again
    assert r.status == "success" and "it was applied" in r.text and "2.3.1" in r.text, r.text


def test_a_delete_whose_answer_is_lost_reports_what_happened(registry, box, tmp_path):
    world = box.scenario.world
    pod = next(p.name for p in world.pods.values() if p.service == "recommendation" and p.deleting_at is None)
    with through(box, tmp_path, {"DELETE"}) as (ctx, proxy):
        r = registry.call(ctx, "k8s_delete_pod", {"name": pod})
    assert sum(s.startswith("DELETE") for s in proxy.sent) == 1
    assert r.status == "success" and "it was applied" in r.text, r.error or r.text
    assert world.pods[("shop", pod)].deleting_at is not None


def test_a_change_lost_on_the_way_is_an_error_not_a_success(registry, box, tmp_path):
    world = box.scenario.world
    before = world.workloads[("shop", "cart")].replicas
    with through(box, tmp_path, {"PATCH"}, forward_held=False) as (ctx, proxy):
        r = registry.call(ctx, "k8s_scale", {"name": "cart", "replicas": before + 1})
    assert not [s for s in proxy.sent if s.startswith("PATCH")]
    assert r.status == "error" and "it was not applied" in r.error and f"has {before} replicas" in r.error
    assert world.workloads[("shop", "cart")].replicas == before


def test_a_stalled_apiserver_times_out_instead_of_holding_the_worker(registry, box, tmp_path):
    with through(box, tmp_path, {"GET"}, hold_s=8) as (ctx, _):
        started = time.monotonic()
        r = registry.call(ctx, "k8s_list_pods", {})
        assert r.status == "error" and "after 3 attempts" in r.error, r.error
        with pytest.raises(UnknownFact, match="after 3 attempts"):
            KubeFacts(ctx).owner_kind("shop", "postgres-0")
        # 3 tries of 1 s, twice (the tool, the gate): well under the 3 x 8 s that waiting would take
        assert time.monotonic() - started < 20


# Last in the module: these change auth's Service, frontend's HPA, the database's volume, Redis'
# config and the payment certificate, which the tests above do not read.
CONFIG_CHANGES = [
    ("k8s_patch_service_port", {"name": "auth", "target_port": 8081}, "targetPort 8081"),
    ("k8s_patch_hpa", {"name": "frontend", "max_replicas": 9}, "max 9"),
    ("k8s_expand_pvc", {"name": "data-postgres-0", "size": "40Gi"}, "requests 40Gi"),
    ("k8s_patch_configmap", {"name": "redis-config", "data": {"redis.conf": "maxmemory-policy noeviction\n"}},
     "as requested"),
    ("cert_renew", {"name": "paygate-client-tls"}, "revision"),
    ("external_secret_refresh", {"name": "postgres-credentials"}, "synced version"),
]


@pytest.mark.parametrize(("tool", "args", "shown"), CONFIG_CHANGES, ids=[c[0] for c in CONFIG_CHANGES])
def test_a_config_change_whose_answer_is_lost_is_read_back(registry, box, tmp_path, tool, args, shown):
    """Config, volume and secret mutations read their target back too: the result says the
    change was made (not "unknown"), and it was sent once."""
    with through(box, tmp_path, {"PATCH"}, hold_s=1.5) as (ctx, proxy):  # past the 1 s timeout
        r = registry.call(ctx, tool, args)
    assert sum(s.startswith("PATCH") for s in proxy.sent) == 1
    assert r.status == "success" and "it was applied" in r.text and shown in r.text, r.error or r.text


def test_a_config_change_lost_on_the_way_reads_back_as_not_applied(registry, box, tmp_path):
    world = box.scenario.world
    with through(box, tmp_path, {"PATCH"}, hold_s=1.5, forward_held=False) as (ctx, _):
        r = registry.call(ctx, "k8s_patch_configmap",
                          {"name": "postgres-config", "data": {"max_connections": "1"}})
    assert r.status == "error" and "it was not applied" in r.error and "max_connections" in r.error, r.error
    assert world.configmaps[("shop", "postgres-config")].data.get("max_connections") != "1"
