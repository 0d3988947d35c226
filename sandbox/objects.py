"""The simulated cluster's objects, shaped after the Kubernetes API objects they stand for.

Plain dataclasses rather than pydantic: the simulation touches them thousands of times per
episode, and validation belongs at the boundaries (actions, scenario specs, ground truth).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

GiB = 1024**3
MiB = 1024**2
KiB = 1024

_KUBE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def kube_hash(text: str, length: int = 10) -> str:
    """A deterministic name suffix in the alphabet Kubernetes uses for generated names."""
    n = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, len(_KUBE_ALPHABET))
        out.append(_KUBE_ALPHABET[r])
    return "".join(out)


@dataclass
class Resources:
    cpu: float  # cores
    memory: int  # bytes


@dataclass
class Probe:
    path: str
    port: int
    initial_delay: int = 5
    period: int = 10
    failure_threshold: int = 3


@dataclass
class Toleration:
    """A pod's toleration, matched against a node's taint as the scheduler and the taint
    eviction controller do; `seconds` is tolerationSeconds (NoExecute only)."""

    key: str = ""
    operator: str = "Equal"  # Equal | Exists
    value: str = ""
    effect: str = ""  # "" matches every effect
    seconds: int | None = None

    def tolerates(self, key: str, effect: str, value: str = "") -> bool:
        if self.effect and self.effect != effect:
            return False
        if self.operator == "Exists":
            return not self.key or self.key == key
        return self.key == key and self.value == value


# The DefaultTolerationSeconds admission plugin gives every pod these unless it has its own.
DEFAULT_TOLERATIONS = (
    Toleration("node.kubernetes.io/not-ready", "Exists", effect="NoExecute", seconds=300),
    Toleration("node.kubernetes.io/unreachable", "Exists", effect="NoExecute", seconds=300),
)


def admitted_tolerations(own: list[Toleration]) -> list[Toleration]:
    """A pod's tolerations after admission: its template's, and the defaults it lacks."""
    return own + [d for d in DEFAULT_TOLERATIONS if not any(t.tolerates(d.key, d.effect) for t in own)]


@dataclass
class ContainerSpec:
    name: str
    image: str
    port: int
    env: dict[str, str]
    requests: Resources
    limits: Resources
    readiness: Probe | None = None
    liveness: Probe | None = None
    startup: Probe | None = None
    pull_policy: str = "IfNotPresent"  # Always | IfNotPresent | Never


@dataclass
class PodTemplate:
    containers: list[ContainerSpec]
    labels: dict[str, str]
    node_selector: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # mounted Secrets
    configmaps: list[str] = field(default_factory=list)  # mounted ConfigMaps
    pvc: str | None = None  # claim name template (StatefulSet: "<claim>-<pod>")
    tolerations: list[Toleration] = field(default_factory=list)

    def pod_hash(self) -> str:
        return kube_hash(repr(self))


@dataclass
class Workload:
    """A Deployment or a StatefulSet."""

    kind: str
    namespace: str
    name: str
    labels: dict[str, str]
    replicas: int
    template: PodTemplate
    created_at: float
    revision: int = 1
    generation: int = 1
    observed_generation: int = 1
    max_surge: float = 0.25
    max_unavailable: float = 0.25
    progress_deadline_s: float = 600.0
    progressed_at: float = 0.0  # last time the rollout made progress
    completed_at: float | None = None  # when the rollout last became complete; None while not
    # Status, refreshed each tick.
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    status_replicas: int = 0
    _hash_of: PodTemplate | None = field(default=None, repr=False, compare=False)
    _hash: str = field(default="", repr=False, compare=False)

    @property
    def pod_hash(self) -> str:
        """The template's hash, recomputed only when the template object is replaced."""
        if self._hash_of is not self.template:
            self._hash_of, self._hash = self.template, self.template.pod_hash()
        return self._hash


@dataclass
class ReplicaSet:
    namespace: str
    name: str
    owner: str
    revision: int
    template: PodTemplate
    replicas: int
    created_at: float
    change_cause: str = ""
    ready_replicas: int = 0


@dataclass
class ContainerStatus:
    name: str
    image: str
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    exit_code: int = 0
    started_at: float = 0.0
    last_reason: str = ""
    last_exit_code: int = 0
    last_started_at: float = 0.0
    last_finished_at: float = 0.0
    restarts: int = 0
    ready: bool = False
    next_start: float = 0.0  # CrashLoopBackOff / ImagePullBackOff not before this time
    backoff: float = 0.0
    memory: float = 0.0  # working set bytes
    cpu: float = 0.0  # cores in use over the last tick
    cpu_demand: float = 0.0
    cpu_seconds: float = 0.0
    periods: float = 0.0
    throttled_periods: float = 0.0
    probe_failures: int = 0
    liveness_failures: int = 0
    startup_failures: int = 0
    started: bool = False  # the startup probe has succeeded (or there is none)
    connections: float = 0.0  # DB connections held (leaks grow this)


@dataclass
class Pod:
    namespace: str
    name: str
    uid: str
    owner_kind: str  # ReplicaSet | StatefulSet | "" once its ReplicaSet released it
    owner_name: str
    workload: str  # Deployment / StatefulSet name; "" once released
    service: str  # application profile name
    template: PodTemplate
    pod_hash: str
    created_at: float
    ip: str = ""
    node: str | None = None
    phase: str = "Pending"
    reason: str = ""  # Evicted, ...
    message: str = ""
    scheduled_at: float = 0.0
    deleting_at: float | None = None
    containers: list[ContainerStatus] = field(default_factory=list)
    netem_delay_ms: float = 0.0  # tc netem left inside the pod's network namespace
    secret_versions: dict[str, int] = field(default_factory=dict)  # what it loaded at start
    unschedulable_since: float | None = None
    rps: float = 0.0
    set_labels: dict[str, str] | None = None  # as `kubectl label` left them; else the template's
    annotations: dict[str, str] = field(default_factory=dict)  # set with kubectl annotate

    @property
    def ready(self) -> bool:
        if self.phase != "Running" or self.deleting_at is not None:
            return False
        for c in self.containers:  # noqa: SIM110 - a loop, not all(): runs thousands of times a tick
            if not c.ready:
                return False
        return True

    @property
    def labels(self) -> dict[str, str]:
        if self.set_labels is not None:
            return self.set_labels
        return {**self.template.labels, "pod-template-hash": self.pod_hash}


@dataclass
class Node:
    name: str
    ip: str
    zone: str
    cpu: float
    memory: int
    disk: int
    disk_used: float
    created_at: float
    unschedulable: bool = False
    kubelet_up: bool = True  # can reach the API server
    last_heartbeat: float = 0.0
    ready: bool = True
    not_ready_since: float | None = None
    disk_pressure: bool = False
    memory_pressure: bool = False
    nic_loss: float = 0.0  # packet loss ratio on its interface
    cpu_used: float = 0.0
    memory_used: float = 0.0
    cpu_seconds_idle: float = 0.0
    cpu_seconds_busy: float = 0.0
    net_rx_bytes: float = 0.0
    net_tx_bytes: float = 0.0
    net_rx_errs: float = 0.0
    net_tx_errs: float = 0.0
    extra_cpu_load: float = 0.0  # host processes outside Kubernetes
    extra_disk_rate: float = 0.0  # bytes/s written by host processes (logs, images)
    reclaimable: float = 2 * GiB  # unused images and rotated logs that a prune frees
    images: set[str] = field(default_factory=set)  # pulled onto the node already
    user_taints: list[tuple[str, str, str]] = field(default_factory=list)  # kubectl taint
    taint_added: dict[tuple[str, str], float] = field(default_factory=dict)  # (key, effect): when

    # What a managed node group of m6i.xlarge reserves for system daemons and the kubelet
    # (kube-reserved, eviction threshold) and its pod limit; allocatable is the rest.
    RESERVED_CPU = 0.08
    RESERVED_MEMORY = 993 * MiB
    MAX_PODS = 58

    @property
    def allocatable(self) -> Resources:
        return Resources(self.cpu - self.RESERVED_CPU, self.memory - self.RESERVED_MEMORY)

    def taints(self) -> list[tuple[str, str, str]]:
        """(key, value, effect) of its taints: those an SRE set, then those the node controller
        and the kubelet keep from its conditions."""
        out = list(self.user_taints)
        if not self.ready:
            out += [("node.kubernetes.io/unreachable", "", "NoSchedule"),
                    ("node.kubernetes.io/unreachable", "", "NoExecute")]
        if self.disk_pressure:
            out.append(("node.kubernetes.io/disk-pressure", "", "NoSchedule"))
        if self.memory_pressure:
            out.append(("node.kubernetes.io/memory-pressure", "", "NoSchedule"))
        if self.unschedulable:
            out.append(("node.kubernetes.io/unschedulable", "", "NoSchedule"))
        return out

    @property
    def labels(self) -> dict[str, str]:
        return {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "topology.kubernetes.io/zone": self.zone,
            "node.kubernetes.io/instance-type": "m6i.xlarge",
        }


@dataclass
class Service:
    namespace: str
    name: str
    selector: dict[str, str]
    port: int
    target_port: int
    cluster_ip: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class ConfigMap:
    namespace: str
    name: str
    data: dict[str, str]
    version: int = 1


@dataclass
class Secret:
    """A Secret; values never leave the simulation, only keys and metadata."""

    namespace: str
    name: str
    keys: list[str]
    type: str = "Opaque"
    version: int = 1  # bumped by refresh / renewal
    not_after: float | None = None  # TLS certificates: expiry time
    source_version: int = 1  # version in the external secret store / the DB
    source_changed_at: float = 0.0
    annotations: dict[str, str] = field(default_factory=dict)  # its ExternalSecret's, as patched


@dataclass
class HPA:
    namespace: str
    name: str
    target: str
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int
    current_replicas: int = 0
    desired_replicas: int = 0
    current_cpu_utilization: int = 0


@dataclass
class PVC:
    namespace: str
    name: str
    capacity: int
    used: float
    storage_class: str = "gp3"
    volume_name: str = ""
    node: str | None = None  # where its volume is attached
    fill_rate: float = 40e3  # bytes/s the database writes


@dataclass
class Event:
    namespace: str
    kind: str
    name: str
    reason: str
    message: str
    type: str
    source: str
    first_timestamp: float
    last_timestamp: float
    count: int = 1
    uid: str = ""
