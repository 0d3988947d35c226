"""What an action would change, read from the cluster before it runs: the "before → after" an
approver sees on the approval card (image, replicas, revision, resources, which environment
keys; never their values, which may be secrets)."""

from __future__ import annotations

from typing import Any

from opsagent.agent.facts import _read
from opsagent.tools.context import ToolContext

REVISION = "deployment.kubernetes.io/revision"


def _container(d: Any, name: str) -> Any:
    containers = d.spec.template.spec.containers
    return next((c for c in containers if c.name == name), containers[0]) if name else containers[0]


def _undo(ctx: ToolContext, d: Any, ns: str, to_revision: int | None) -> list[dict[str, Any]]:
    current = int((d.metadata.annotations or {}).get(REVISION, 0))
    selector = ",".join(f"{k}={v}" for k, v in d.spec.selector.match_labels.items())
    sets = _read(ctx, f"the replicasets of {ns}/{d.metadata.name}",
                 lambda: ctx.apps.list_namespaced_replica_set(ns, label_selector=selector).items)
    by_rev = {int((r.metadata.annotations or {}).get(REVISION, 0)): r for r in sets}
    want = to_revision or max((r for r in by_rev if r < current), default=None)
    if want not in by_rev:
        return [{"field": "revision", "before": current, "after": f"{want} (not in the history)"}]
    target = by_rev[want].spec.template.spec.containers[0].image
    return [{"field": "revision", "before": current, "after": want},
            {"field": "image", "before": d.spec.template.spec.containers[0].image, "after": target}]


def changes(ctx: ToolContext, tool: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    """[{field, before, after}] for the Deployment actions; [] for the others."""
    if not tool.startswith("k8s_") or "name" not in args or tool in ("k8s_delete_pod",):
        return []
    ns, name = args.get("namespace", "shop"), args["name"]
    d = _read(ctx, f"deployment {ns}/{name}", lambda: ctx.apps.read_namespaced_deployment(name, ns), None)
    if d is None:
        return []
    if tool == "k8s_scale":
        return [{"field": "replicas", "before": d.spec.replicas, "after": args.get("replicas")}]
    if tool == "k8s_rollout_undo":
        return _undo(ctx, d, ns, args.get("to_revision"))
    if tool == "k8s_rollout_restart":
        return [{"field": "pods", "before": f"{d.spec.replicas} running", "after": "replaced one by one"}]
    c = _container(d, args.get("container", ""))
    if tool == "k8s_set_image":
        return [{"field": f"{c.name}.image", "before": c.image, "after": args.get("image")}]
    if tool == "k8s_patch_resources":
        res = c.resources
        now = {"cpu_request": (res.requests or {}).get("cpu"), "cpu_limit": (res.limits or {}).get("cpu"),
               "memory_request": (res.requests or {}).get("memory"),
               "memory_limit": (res.limits or {}).get("memory")}
        return [{"field": f"{c.name}.{k}", "before": now[k], "after": v}
                for k, v in args.items() if k in now and v is not None]
    if tool == "k8s_patch_env":
        have = {e.name for e in c.env or []}
        out = [{"field": f"{c.name}.env.{k}", "before": "set" if k in have else "unset",
                "after": "changed" if k in have else "set"} for k in args.get("set") or {}]
        return out + [{"field": f"{c.name}.env.{k}", "before": "set" if k in have else "unset",
                       "after": "unset"} for k in args.get("unset") or []]
    return []
