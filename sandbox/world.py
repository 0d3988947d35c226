"""The simulated cluster: every object, the clock, and one `tick()` that moves it all forward.

The world is deterministic: all randomness comes from one seeded `random.Random`, so the same
seed and the same actions produce the same world, event for event and line for line.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import hashlib
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from opsagent.sandbox import controllers, kubelet, logs, traffic
from opsagent.sandbox.errors import NotFoundError
from opsagent.sandbox.logstore import LogStore
from opsagent.sandbox.metrics import Frame, snapshot
from opsagent.sandbox.objects import (
    HPA,
    PVC,
    ConfigMap,
    Event,
    Node,
    Pod,
    PodTemplate,
    ReplicaSet,
    Secret,
    Service,
    Workload,
    kube_hash,
)
from opsagent.sandbox.shop import PROFILES, ServiceProfile

Key = tuple[str, str]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Simulating allocates many short-lived tuples and no cycles; the cyclic collector's
    passes over the growing history cost a fifth of the time, so pause it meanwhile."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class ImageDefect:
    """What a container image does wrong once it runs (None in the registry: a good image)."""

    error_ratio: float = 0.0  # share of requests answered 5xx
    leak_bytes_per_s: float = 0.0  # memory leak
    conn_leak_per_s: float = 0.0  # DB connections leaked
    exception: str = ""  # the exception the defect raises, for its logs


@dataclass
class ServiceStats:
    rps: float = 0.0
    error_ratio: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    reachable: int = 0
    causes: dict[str, float] = field(default_factory=dict)  # failure cause -> share of requests
    requests_ok: float = 0.0  # counters since start
    requests_err: float = 0.0
    requests_4xx: float = 0.0
    latency_buckets: list[float] = field(default_factory=list)
    latency_sum: float = 0.0


class World:
    def __init__(self, seed: int, start_time: float, dt: float = 15.0):
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = start_time
        self.dt = dt
        self.profiles: dict[str, ServiceProfile] = dict(PROFILES)
        self.nodes: dict[str, Node] = {}
        self.workloads: dict[Key, Workload] = {}
        self.replicasets: dict[Key, ReplicaSet] = {}
        self.pods: dict[Key, Pod] = {}
        self.services: dict[Key, Service] = {}
        self.configmaps: dict[Key, ConfigMap] = {}
        self.secrets: dict[Key, Secret] = {}
        self.hpas: dict[Key, HPA] = {}
        self.pvcs: dict[Key, PVC] = {}
        self.events: list[Event] = []
        self._event_index: dict[tuple, Event] = {}
        self.logs = LogStore(logs.render_batch)
        self.frames: list[Frame] = []
        self.stats: dict[str, ServiceStats] = {name: ServiceStats() for name in self.profiles}
        self.images: dict[str, ImageDefect | None] = {}
        self.traffic_multiplier = 1.0
        self.external_down: set[str] = set()
        self.db_max_connections = 100
        self.db_connections = 0.0
        self.cache_hit_ratio = 0.95
        self.evictions_total = 0.0
        self.redis_dataset = 600 * 1024**2  # bytes the cache would like to hold
        self.redis_used = 0.0
        self.redis_max = 0.0
        self.cpu_factor: dict[str, float] = {}  # CPU cost per request, relative (1.0: normal)
        self.cpu_extra: dict[str, float] = {}  # cores burnt per pod regardless of traffic
        self.tick_hooks: list[Callable[[World], None]] = []
        self._ip_counter = 10

    # ---- identity helpers -------------------------------------------------------------
    def new_uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_ip(self, node_index: int) -> str:
        self._ip_counter += 1
        return f"10.244.{node_index}.{self._ip_counter % 250 + 2}"

    def fork(self) -> World:
        """An independent copy, for what-if comparisons."""
        return copy.deepcopy(self)

    # ---- lookups that raise typed errors ---------------------------------------------
    def workload(self, namespace: str, name: str, kind: str | None = None) -> Workload:
        wl = self.workloads.get((namespace, name))
        if wl is None or (kind and wl.kind != kind):
            raise NotFoundError(kind or "Deployment", name, namespace)
        return wl

    def pod(self, namespace: str, name: str) -> Pod:
        pod = self.pods.get((namespace, name))
        if pod is None:
            raise NotFoundError("Pod", name, namespace)
        return pod

    def node(self, name: str) -> Node:
        if name not in self.nodes:
            raise NotFoundError("Node", name)
        return self.nodes[name]

    def _get(self, store: dict, kind: str, namespace: str, name: str):
        obj = store.get((namespace, name))
        if obj is None:
            raise NotFoundError(kind, name, namespace)
        return obj

    def service(self, namespace: str, name: str) -> Service:
        return self._get(self.services, "Service", namespace, name)

    def configmap(self, namespace: str, name: str) -> ConfigMap:
        return self._get(self.configmaps, "ConfigMap", namespace, name)

    def secret(self, namespace: str, name: str) -> Secret:
        return self._get(self.secrets, "Secret", namespace, name)

    def hpa(self, namespace: str, name: str) -> HPA:
        return self._get(self.hpas, "HorizontalPodAutoscaler", namespace, name)

    def pvc(self, namespace: str, name: str) -> PVC:
        return self._get(self.pvcs, "PersistentVolumeClaim", namespace, name)

    def pods_of(self, workload: Workload) -> list[Pod]:
        return [
            p for p in self.pods.values()
            if p.namespace == workload.namespace and p.workload == workload.name
        ]

    def profile_of(self, pod: Pod) -> ServiceProfile:
        return self.profiles[pod.service]

    # ---- mutation helpers used by actions and faults ----------------------------------
    def update_template(
        self, workload: Workload, mutate: Callable[[PodTemplate], None], cause: str
    ) -> None:
        """Change a workload's pod template the way `kubectl apply/set/patch` does: a new
        generation, and for a Deployment a new (or re-used) ReplicaSet revision."""
        template = copy.deepcopy(workload.template)
        mutate(template)
        if repr(template) == repr(workload.template):
            return
        workload.template = template
        workload.generation += 1
        if workload.kind == "Deployment":
            controllers.adopt_template(self, workload, cause)

    def emit(
        self, kind: str, namespace: str, name: str, reason: str, message: str,
        type_: str = "Normal", source: str = "kubelet",
    ) -> None:
        """Record a Kubernetes event, folding repeats into `count` as the API server does."""
        key = (namespace, kind, name, reason, message)
        ev = self._event_index.get(key)
        if ev is not None:
            ev.count += 1
            ev.last_timestamp = self.now
            return
        ev = Event(
            namespace=namespace, kind=kind, name=name, reason=reason, message=message,
            type=type_, source=source, first_timestamp=self.now, last_timestamp=self.now,
            uid=kube_hash(f"{key}{self.now}", 16),
        )
        self._event_index[key] = ev
        self.events.append(ev)
        if type_ == "Warning":
            self._journal(kind, namespace, name, reason, message, source)

    def _journal(self, kind: str, namespace: str, name: str, reason: str, message: str,
                 source: str) -> None:
        """Warnings also appear in the journal of the component that raised them."""
        stamp = time.strftime("%m%d %H:%M:%S", time.gmtime(self.now))
        if source == "default-scheduler":
            logs.component(self, "control-plane", "kube-scheduler", "INFO",
                           f'I{stamp}.000000       1 schedule_one.go:1004] "Unable to schedule pod;'
                           f' no fit; waiting" pod="{namespace}/{name}" err="{message}"')
            return
        host = name if kind == "Node" else getattr(self.pods.get((namespace, name)), "node", None)
        if source in ("kubelet", "kernel-monitor") and host:
            if reason == "EvictionThresholdMet":
                text = (f'W{stamp}.000000    2241 eviction_manager.go:366] "Eviction manager: '
                        'attempting to reclaim" resourceName="ephemeral-storage"')
            else:
                text = (f'E{stamp}.000000    2241 pod_workers.go:1298] "Error syncing pod, '
                        f'skipping" err="{reason}: {message}" pod="{namespace}/{name}"')
            logs.component(self, host, "kubelet", "ERROR", text)

    # ---- time ---------------------------------------------------------------------------
    def tick(self) -> None:
        self.now += self.dt
        for hook in self.tick_hooks:
            hook(self)
        controllers.reconcile(self)
        kubelet.sync(self)
        traffic.flow(self)
        kubelet.account(self)
        logs.tick(self)
        controllers.node_status(self)
        self.frames.append(snapshot(self))

    def advance(self, seconds: float) -> None:
        with gc_paused():
            for _ in range(max(1, round(seconds / self.dt))):
                self.tick()

    def fingerprint(self) -> str:
        """A digest of everything observable: metric history, logs, events and pod states.
        Two worlds with the same fingerprint are the same world."""
        digest = hashlib.sha256()
        for part in (self.frames, self.logs.records, self.events):
            digest.update(repr(part).encode())
        digest.update(repr(sorted((k, p.phase, p.node, p.ready) for k, p in self.pods.items())).encode())
        return digest.hexdigest()

    # ---- what a user of the cluster sees --------------------------------------------------
    def health(self) -> Health:
        edge = self.stats[PROFILES["frontend"].name]
        entry = self.stats["ingress-nginx-controller"]
        unavailable = sum(
            max(0, wl.replicas - wl.available_replicas) for wl in self.workloads.values()
        )
        degraded = sum(v for k, v in edge.causes.items() if k.startswith("degraded:"))
        return Health(
            error_ratio=max(entry.error_ratio, edge.error_ratio),
            p99_ms=entry.p99_ms,
            unavailable_replicas=unavailable,
            degraded_ratio=min(1.0, degraded),
        )


@dataclass(frozen=True)
class Health:
    """The user-facing state of the shop: what an SLO would measure."""

    error_ratio: float
    p99_ms: float
    unavailable_replicas: int
    degraded_ratio: float = 0.0  # answered, but without an optional part (recommendations)

    SLO_ERROR_RATIO = 0.01
    SLO_P99_MS = 500.0

    @property
    def slo_ok(self) -> bool:
        return self.error_ratio <= self.SLO_ERROR_RATIO and self.p99_ms <= self.SLO_P99_MS

    def badness(self) -> float:
        """One number to compare two worlds: higher is worse."""
        return (100.0 * self.error_ratio + 20.0 * self.degraded_ratio + self.p99_ms / 100.0
                + self.unavailable_replicas)
