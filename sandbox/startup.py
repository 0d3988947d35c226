"""What an application checks when its container starts: the reasons it exits at once, written
the way the real program would say it. A non-empty answer means CrashLoopBackOff."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from opsagent.sandbox.objects import ContainerSpec, Pod, Probe

if TYPE_CHECKING:
    from opsagent.sandbox.world import World

_HOST_KEYS = re.compile(r"(_URL|_HOST|_ADDR)$")


def host_of(value: str) -> str:
    """The host in a URL or address (`jdbc:postgresql://db:5432/x`, `redis:6379`, `db`)."""
    value = re.sub(r"^[a-z:]+//", "", value.removeprefix("jdbc:"))
    return re.split(r"[:/]", value, maxsplit=1)[0]


def resolvable(world: World, namespace: str, host: str) -> bool:
    """Does a name resolve from a pod in `namespace`, the way cluster DNS would answer?"""
    if not dns_ok(world):
        return False
    parts = host.split(".")
    if len(parts) == 1:
        return (namespace, host) in world.services
    if len(parts) >= 2 and (parts[1], parts[0]) in world.services and (
        len(parts) == 2 or host.endswith(".svc.cluster.local") or host.endswith(".svc")
    ):
        return True
    return host.endswith(".example") or host.endswith(".com")


def dns_ok(world: World) -> bool:
    return any(p.ready for p in world.pods.values() if p.service == "coredns")


def corefile_error(corefile: str) -> str | None:
    m = re.search(r"forward \. ([^\s{]+)", corefile)
    if not m:
        return None
    target = m.group(1)
    if target.startswith("/"):
        return None
    try:
        ipaddress.ip_address(target.split(":")[0])
    except ValueError:
        return f'plugin/forward: not an IP address or file: "{target}"'
    return None


def startup_error(world: World, pod: Pod, spec: ContainerSpec) -> str | None:
    profile = world.profile_of(pod)
    for key in profile.required_env:
        if not spec.env.get(key):
            return f"required environment variable {key} is not set"
    if profile.name == "coredns":
        cm = world.configmaps.get(("kube-system", "coredns"))
        return corefile_error(cm.data.get("Corefile", "")) if cm else None
    if profile.name == "postgres":
        pvc = world.pvcs.get((pod.namespace, f"data-{pod.name}"))
        if pvc and pvc.used >= pvc.capacity:
            return "could not write to file \"pg_wal/xlogtemp.71\": No space left on device"
        return None
    for key, value in spec.env.items():
        if _HOST_KEYS.search(key) or key == "SPRING_DATASOURCE_URL":
            host = host_of(value)
            if host and not resolvable(world, pod.namespace, host):
                return f"dial tcp: lookup {host}: no such host ({key}={value})"
    if "postgres-credentials" in pod.template.secrets and not db_credentials_ok(world, pod):
        return 'FATAL:  password authentication failed for user "shop"'
    return None


POOL_MAX_LIFETIME_S = 1800.0  # HikariCP's default maxLifetime


def db_auth_failing(world: World, pod: Pod) -> float:
    """Share of a running pod's DB calls refused for stale credentials: connections opened
    before the password changed keep working until the pool recycles them, or until
    PostgreSQL restarts and drops them all."""
    if db_credentials_ok(world, pod):
        return 0.0
    secret = world.secrets[(pod.namespace, "postgres-credentials")]
    db = world.pods.get((pod.namespace, "postgres-0"))
    started = max(pod.containers[0].started_at, db.containers[0].started_at if db else 0.0)
    if started >= secret.source_changed_at:
        return 1.0
    return min(1.0, (world.now - secret.source_changed_at) / POOL_MAX_LIFETIME_S + 0.05)


def db_credentials_ok(world: World, pod: Pod) -> bool:
    secret = world.secrets.get((pod.namespace, "postgres-credentials"))
    if secret is None:
        return False
    return pod.secret_versions.get(secret.name, secret.version) == secret.source_version


def probe_failure(world: World, pod: Pod, probe: Probe | None) -> str | None:
    """What an HTTP probe against the app gets, as the kubelet words it; None when it answers:
    the app listens on its own port and serves its health endpoint there, nothing else."""
    if probe is None:
        return None
    profile = world.profile_of(pod)
    if probe.port != profile.port:
        return (f'Get "http://{pod.ip}:{probe.port}{probe.path}": dial tcp {pod.ip}:{probe.port}: '
                "connect: connection refused")
    if probe.path != profile.probe_path:
        return "HTTP probe failed with statuscode: 404"
    return None


def probe_ok(world: World, pod: Pod, spec: ContainerSpec) -> bool:
    return probe_failure(world, pod, spec.readiness) is None
