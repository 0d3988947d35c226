"""Certificates (cert-manager) and secrets synced from a secret store (External Secrets
Operator): read their state, and ask the operators to re-issue or re-sync — the same requests
`cmctl renew` and an ESO `force-sync` annotation make. Both operators are custom resources."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from opsagent.tools.base import Args, Risk, Tool, ToolResult
from opsagent.tools.context import ToolContext
from opsagent.tools.kubernetes_read import Name, guard
from opsagent.tools.kubernetes_write import done
from opsagent.tools.side_effects import mutate

CERTS = ("cert-manager.io", "v1", "certificates")
EXTERNAL = ("external-secrets.io", "v1beta1", "externalsecrets")


class Namespace(Args):
    namespace: str = Field(default="shop", description="namespace")


class Ref(Args):
    name: str = Name
    namespace: str = Field(default="shop")


def _list(ctx: ToolContext, crd: tuple[str, str, str], namespace: str) -> list[dict[str, Any]]:
    group, version, plural = crd
    return ctx.custom.list_namespaced_custom_object(group, version, namespace, plural)["items"]


def _names(ctx: ToolContext, crd: tuple[str, str, str], namespace: str):  # type: ignore[no-untyped-def]
    return lambda: [o["metadata"]["name"] for o in _list(ctx, crd, namespace)]


def _ready(obj: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c["type"] == "Ready"), {})


def _listing(tool: str, crd: tuple[str, str, str], kind: str, detail: Any):  # type: ignore[no-untyped-def]
    """A read tool listing one custom resource with its Ready condition and `detail(obj)`."""

    def read(ctx: ToolContext, a: Namespace) -> ToolResult:
        def run() -> ToolResult:
            lines = []
            for obj in _list(ctx, crd, a.namespace):
                ready = _ready(obj)
                lines.append(f"{obj['metadata']['name']}: ready={ready.get('status', '?')} "
                             f"({ready.get('reason', '-')}) {detail(obj)}")
            return ToolResult(tool=tool, args=a.model_dump(), status="success" if lines else "no_data",
                              text="\n".join(lines) or f"no {kind} in {a.namespace}")
        return guard(ctx, tool, a, run)

    return read


_certificates = _listing("k8s_certificates", CERTS, "Certificates", lambda c: (
    f"notAfter={c['status'].get('notAfter', '?')} secret={c['spec']['secretName']} "
    f"issuer={c['spec']['issuerRef']['name']}"))
_external_secrets = _listing("k8s_external_secrets", EXTERNAL, "ExternalSecrets", lambda e: (
    f"lastSync={e['status'].get('refreshTime', '?')} every {e['spec']['refreshInterval']} "
    f"from {e['spec']['secretStoreRef']['name']}"))


def _now(ctx: ToolContext) -> str:
    return dt.datetime.fromtimestamp(ctx.now(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _renew(ctx: ToolContext, a: Ref) -> ToolResult:
    group, version, plural = CERTS
    stamp, seen = _now(ctx), dict[str, Any]()

    def run() -> ToolResult:
        seen.update(_cert_state(ctx, a))
        condition = {"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
                     "message": "Certificate re-issuance manually triggered", "lastTransitionTime": stamp}
        ctx.custom.patch_namespaced_custom_object_status(group, version, a.namespace, plural, a.name,
                                                         {"status": {"conditions": [condition]}})
        return done("cert_renew", a, f"certificate {a.namespace}/{a.name}: re-issuance triggered; pods "
                    "that loaded the old certificate keep it until they restart", [])

    def read_back() -> tuple[bool | None, str]:
        """Applied: our Issuing condition is there, or the controller already re-issued (another
        revision than the one read before the request). Neither: not known (cert-manager may
        not have picked it up yet), never "not applied" on that alone."""
        now = _cert_state(ctx, a)
        issuing = now["issuing_since"] is not None and now["issuing_since"] >= stamp
        renewed = bool(seen) and now["revision"] != seen["revision"]
        return (True if issuing or renewed else None), (
            f"certificate {a.namespace}/{a.name}: revision {now['revision']}, notAfter {now['not_after']}, "
            f"issuing since {now['issuing_since'] or 'never'}")
    return mutate(ctx, "cert_renew", a, run, _names(ctx, CERTS, a.namespace), read_back)


def _cert_state(ctx: ToolContext, a: Ref) -> dict[str, Any]:
    group, version, plural = CERTS
    status = ctx.custom.get_namespaced_custom_object(group, version, a.namespace, plural, a.name).get(
        "status", {})
    issuing = [c for c in status.get("conditions", [])
               if c.get("type") == "Issuing" and c.get("status") == "True"]
    return {"not_after": status.get("notAfter"), "revision": status.get("revision"),
            "issuing_since": issuing[0].get("lastTransitionTime") if issuing else None}


def _resync(ctx: ToolContext, a: Ref) -> ToolResult:
    group, version, plural = EXTERNAL
    stamp, seen = _now(ctx), dict[str, Any]()

    def get() -> dict[str, Any]:
        obj = ctx.custom.get_namespaced_custom_object(group, version, a.namespace, plural, a.name)
        return {"mark": (obj["metadata"].get("annotations") or {}).get("force-sync"),
                "synced": obj.get("status", {}).get("syncedResourceVersion")}

    def run() -> ToolResult:
        seen.update(get())
        ctx.custom.patch_namespaced_custom_object(group, version, a.namespace, plural, a.name,
                                                  {"metadata": {"annotations": {"force-sync": stamp}}})
        return done("external_secret_refresh", a, f"externalsecret {a.namespace}/{a.name}: re-sync from "
                    "the secret store requested; pods read the Secret at start", [])

    def read_back() -> tuple[bool | None, str]:
        """Applied: our force-sync mark, or a sync since. Another mark and no sync: not applied."""
        now = get()
        if now["mark"] == stamp or (seen and now["synced"] != seen["synced"]):
            applied: bool | None = True
        else:
            applied = False if now["mark"] is not None else None
        return applied, (f"externalsecret {a.namespace}/{a.name}: force-sync {now['mark'] or 'absent'}, "
                         f"synced version {now['synced']}")
    return mutate(ctx, "external_secret_refresh", a, run, _names(ctx, EXTERNAL, a.namespace), read_back)


def _target(kind: str) -> Any:
    return lambda a: [f"{a.namespace}/{kind}/{a.name}"]


TOOLS = [
    Tool("k8s_certificates", "cert-manager Certificates in a namespace: ready, expiry, issuer.", Namespace,
         Risk.READ, ("monitor", "diagnose"), _certificates),
    Tool("k8s_external_secrets", "ExternalSecrets in a namespace: sync status, last sync, store.", Namespace,
         Risk.READ, ("monitor", "diagnose"), _external_secrets),
    Tool("cert_renew", "Ask cert-manager to re-issue a Certificate now (as `cmctl renew`).", Ref,
         Risk.MUTATE_LOW, ("repair",), _renew, _target("Certificate")),
    Tool("external_secret_refresh", "Ask External Secrets Operator to re-sync an ExternalSecret from the "
         "secret store now (force-sync).", Ref, Risk.MUTATE_LOW, ("repair",), _resync,
         _target("ExternalSecret")),
]
