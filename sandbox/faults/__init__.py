"""The fault catalogue: one module per fault, registered by id."""

from __future__ import annotations

from opsagent.sandbox.errors import UnknownFaultError
from opsagent.sandbox.faults import (  # noqa: F401  (importing registers each fault)
    bad_env_config,
    bad_image_tag,
    bad_rollout,
    cpu_limit,
    db_connection_leak,
    db_credentials,
    dns_failure,
    gateway_outage,
    memory_leak,
    network_delay,
    node_disk_full,
    node_not_ready,
    node_packet_loss,
    node_selector,
    noise,
    noisy_neighbour,
    pvc_full,
    readiness_probe,
    redis_eviction,
    scaled_to_zero,
    service_target_port,
    tls_cert_expired,
    traffic_surge,
)
from opsagent.sandbox.faults.base import FAULTS, Fault, FaultType, GroundTruth, Level, Symptoms


def get_fault(fault_id: str) -> type[Fault]:
    try:
        return FAULTS[fault_id]
    except KeyError:
        known = ", ".join(sorted(FAULTS))
        raise UnknownFaultError(f"unknown fault type {fault_id!r}; known: {known}") from None


def incident_faults() -> list[str]:
    return sorted(k for k, f in FAULTS.items() if f.is_incident)


__all__ = ["FAULTS", "Fault", "FaultType", "GroundTruth", "Level", "Symptoms", "get_fault",
           "incident_faults"]
