"""Build the shop on a three-node cluster in a settled, healthy state."""

from __future__ import annotations

import datetime as dt
import math

from opsagent.sandbox import controllers
from opsagent.sandbox.objects import (
    HPA,
    PVC,
    ConfigMap,
    ContainerSpec,
    GiB,
    Node,
    PodTemplate,
    Probe,
    Resources,
    Secret,
    Service,
    Workload,
)
from opsagent.sandbox.shop import NODE_NAMES, PROFILES, ZONES, ServiceProfile
from opsagent.sandbox.world import World

DEFAULT_START = dt.datetime(2026, 11, 20, 13, 0, tzinfo=dt.UTC).timestamp()
WARMUP_TICKS = 6

COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
"""


def template(profile: ServiceProfile, version: str) -> PodTemplate:
    p = profile
    return PodTemplate(
        containers=[ContainerSpec(
            name=p.name, image=f"{p.image}:{version}", port=p.port, env=dict(p.env),
            requests=Resources(p.cpu_request, p.mem_request),
            limits=Resources(p.cpu_limit, p.mem_limit),
            # Teams set the readiness delay to the app's start-up time, so a normal start does
            # not log probe failures.
            readiness=Probe(p.probe_path, p.port, initial_delay=math.ceil(p.startup_s)),
            liveness=Probe(p.probe_path, p.port, initial_delay=30),
        )],
        labels={"app.kubernetes.io/name": p.name, "app.kubernetes.io/part-of":
                "shop" if p.namespace == "shop" else p.namespace},
        secrets=list(p.secrets), configmaps=list(p.configmaps),
        pvc=p.pvc,
    )


def _objects(world: World, start: float) -> None:
    rng = world.rng
    for i, name in enumerate(NODE_NAMES):
        disk = 100 * GiB
        world.nodes[name] = Node(
            name=name, ip=name.removeprefix("ip-").replace("-", "."), zone=ZONES[i], cpu=4.0,
            memory=16 * GiB, disk=disk, disk_used=disk * rng.uniform(0.35, 0.5),
            created_at=start - 86400 * (40 + i), last_heartbeat=start,
        )
    cms = [
        ConfigMap("kube-system", "coredns", {"Corefile": COREFILE}),
        ConfigMap("shop", "redis-config", {"redis.conf": "maxmemory-policy allkeys-lru\n"
                                           "maxmemory-percent 75\nsave 300 100\n"}),
        ConfigMap("shop", "postgres-config", {"max_connections": "100",
                                              "shared_buffers": "512MB"}),
    ]
    world.configmaps.update({(c.namespace, c.name): c for c in cms})
    secrets = [
        Secret("shop", "postgres-credentials", ["username", "password"]),
        Secret("shop", "paygate-client-tls", ["tls.crt", "tls.key", "ca.crt"],
               type="kubernetes.io/tls", not_after=start + 86400 * 61),
    ]
    world.secrets.update({(s.namespace, s.name): s for s in secrets})
    n_svc = 0
    for p in PROFILES.values():
        for version in p.versions:
            world.images[f"{p.image}:{version}"] = None
        wl = Workload(
            kind=p.kind, namespace=p.namespace, name=p.name,
            labels={"app.kubernetes.io/name": p.name}, replicas=p.replicas,
            template=template(p, p.versions[0]), created_at=start - 86400 * 30,
        )
        world.workloads[(p.namespace, p.name)] = wl
        if p.kind == "Deployment":
            controllers.adopt_template(world, wl, f"deploy {p.name} {p.versions[0]}")
            wl.template = template(p, p.versions[1])
            controllers.adopt_template(world, wl, f"deploy {p.name} {p.versions[1]}")
        else:
            wl.template = template(p, p.versions[1])
        if p.tier != "batch":
            n_svc += 1
            name = "kube-dns" if p.name == "coredns" else p.name
            world.services[(p.namespace, name)] = Service(
                p.namespace, name, {"app.kubernetes.io/name": p.name}, p.port, p.port,
                "10.96.0.10" if name == "kube-dns" else f"10.96.{n_svc * 7}.{n_svc * 13 % 250}",
                labels={"app.kubernetes.io/name": p.name},
            )
        if p.hpa_max:
            world.hpas[(p.namespace, p.name)] = HPA(
                p.namespace, p.name, p.name, p.replicas, p.hpa_max, 70,
                current_replicas=p.replicas, desired_replicas=p.replicas,
            )
        if p.pvc:
            for i in range(p.replicas):
                claim = f"{p.pvc}-{p.name}-{i}"
                world.pvcs[(p.namespace, claim)] = PVC(
                    p.namespace, claim, 20 * GiB, 20 * GiB * rng.uniform(0.4, 0.55),
                    volume_name=f"pvc-{world.new_uid()}",
                )


def build_world(seed: int, start_time: float = DEFAULT_START, dt_s: float = 15.0) -> World:
    """A healthy cluster at `start_time`: pods long running, no events, no logs yet."""
    world = World(seed, start_time - WARMUP_TICKS * dt_s, dt_s)
    _objects(world, start_time)
    world.advance(WARMUP_TICKS * dt_s)
    # The warm-up is the cluster's cold start (apps racing CoreDNS); what it left behind is
    # not this cluster's history, so settle every pod as if it had been running for days.
    world.db_connections = 0.0
    for pod in world.pods.values():
        age = 86400 * world.rng.uniform(1, 9)
        pod.created_at = pod.scheduled_at = start_time - age
        pod.phase = "Running"
        for c in pod.containers:
            c.started_at = pod.created_at + 5
            c.state, c.reason, c.message, c.ready = "running", "", "", True
            c.restarts, c.backoff, c.last_reason, c.last_exit_code = 0, 0.0, "", 0
            c.last_started_at = c.last_finished_at = 0.0
    for rs in world.replicasets.values():  # the previous release a month ago, the current one
        rs.created_at = start_time - 86400 * (30 if rs.revision == 1 else 10)  # ten days ago
    for hpa in world.hpas.values():
        hpa.current_replicas = hpa.desired_replicas = world.workloads[(hpa.namespace, hpa.target)].replicas
    world.events.clear()
    world._event_index.clear()
    world.logs.clear()
    world.frames.clear()
    world.now = start_time
    return world
