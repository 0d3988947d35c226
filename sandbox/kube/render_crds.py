"""The custom resources the shop runs, rendered from the world: cert-manager Certificates (one
per TLS Secret) and External Secrets Operator ExternalSecrets (one per other Secret, synced
from the company's secret store)."""

from __future__ import annotations

from typing import Any

from opsagent.sandbox.kube.render import _meta, ts, uid
from opsagent.sandbox.objects import Secret
from opsagent.sandbox.world import World

Json = dict[str, Any]
CREATED_DAYS = 30


def certificates(world: World) -> list[Secret]:
    return [s for s in world.secrets.values() if s.type == "kubernetes.io/tls"]


def external_secrets(world: World) -> list[Secret]:
    return [s for s in world.secrets.values() if s.type != "kubernetes.io/tls"]


def certificate_json(world: World, s: Secret) -> Json:
    created = world.now - 86400 * CREATED_DAYS
    expired = (s.not_after or 0) <= world.now
    ready = {"type": "Ready", "status": "False" if expired else "True",
             "reason": "Expired" if expired else "Ready",
             "message": f"Certificate expired on {ts(s.not_after or 0)}" if expired
             else "Certificate is up to date and has not expired",
             "lastTransitionTime": ts(min(world.now, s.not_after or world.now)), "observedGeneration": 1}
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": _meta(s.name, s.namespace, created, uid("Certificate", s.namespace, s.name, 0)),
            "spec": {"secretName": s.name, "commonName": f"{s.name}.shop.internal", "duration": "2160h0m0s",
                     "renewBefore": "360h0m0s", "issuerRef": {"name": "paygate-ca", "kind": "ClusterIssuer",
                                                              "group": "cert-manager.io"}},
            "status": {"conditions": [ready], "notAfter": ts(s.not_after or 0),
                       "renewalTime": ts((s.not_after or 0) - 360 * 3600), "revision": s.version}}


def external_secret_json(world: World, s: Secret) -> Json:
    created = world.now - 86400 * CREATED_DAYS
    # Last sync: before the store's rotation while stale; the rotation's time once caught up.
    synced_at = (s.source_changed_at or created) if s.version == s.source_version \
        else s.source_changed_at - 600
    return {"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret",
            "metadata": _meta(s.name, s.namespace, created, uid("ExternalSecret", s.namespace, s.name, 0),
                              **({"annotations": dict(s.annotations)} if s.annotations else {})),
            "spec": {"refreshInterval": "24h",
                     "secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
                     "target": {"name": s.name, "creationPolicy": "Owner"},
                     "dataFrom": [{"extract": {"key": f"shop/{s.name}"}}]},
            "status": {"refreshTime": ts(synced_at), "syncedResourceVersion": f"1-{s.version}",
                       "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced",
                                       "message": "Secret was synced", "lastTransitionTime": ts(synced_at)}]}}
