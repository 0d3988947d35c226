"""Sandbox actions (as ground truth states remedies and harmful actions) as the tool calls that
do the same through the Kubernetes API: what the privileged oracle proposes, and what graders
compare the agent's proposals with; and tool-call arguments in their one canonical form."""

from __future__ import annotations

import json
from typing import Any


def as_tool_call(action: dict[str, Any]) -> dict[str, Any] | None:
    """A sandbox action as the tool call that does the same through the Kubernetes API; None
    where no tool can do it (a node's disk needs a shell on the node)."""
    a = {k: v for k, v in action.items() if v is not None}
    kind = a.pop("action")
    ref = {"namespace": a.get("namespace", "shop"), "name": a.get("name")}
    if kind == "renew_certificate":
        return {"tool": "cert_renew", "args": ref}
    if kind == "refresh_secret":
        return {"tool": "external_secret_refresh", "args": ref}
    if kind in ("cordon", "uncordon", "drain"):
        return {"tool": f"k8s_{kind}", "args": {"node": a["node"]}}
    if kind == "rollout_restart" and a.get("kind", "Deployment") == "Deployment":
        return {"tool": "k8s_rollout_restart", "args": ref}
    simple = {"delete_pod": ("k8s_delete_pod", ("force",)), "scale": ("k8s_scale", ("replicas",)),
              "rollout_undo": ("k8s_rollout_undo", ("to_revision",)),
              "set_image": ("k8s_set_image", ("container", "image")),
              "patch_env": ("k8s_patch_env", ("container", "set", "unset")),
              "patch_service": ("k8s_patch_service_port", ("target_port",)),
              "patch_hpa": ("k8s_patch_hpa", ("min_replicas", "max_replicas")),
              "expand_pvc": ("k8s_expand_pvc", ("size",)),
              "patch_configmap": ("k8s_patch_configmap", ("data",))}
    if kind in simple and not (kind == "scale" and a.get("kind") == "StatefulSet"):
        tool, keys = simple[kind]
        return {"tool": tool, "args": {**ref, **{k: a[k] for k in keys if k in a}}}
    if kind == "patch_resources" and a.get("kind", "Deployment") == "Deployment":
        args = {**ref, **({"container": a["container"]} if "container" in a else {})}
        for part in ("requests", "limits"):
            for res, value in (a.get(part) or {}).items():
                args[f"{res}_{part[:-1] if part == 'limits' else 'request'}"] = value
        return {"tool": "k8s_patch_resources", "args": args}
    return None


def matches(proposed: dict[str, Any], reference: dict[str, Any]) -> bool:
    """A proposed call is the reference call when the tool is the same and every argument the
    reference names has the same value (the proposal may spell out defaults)."""
    return proposed.get("tool") == reference["tool"] and all(
        (proposed.get("args") or {}).get(k) == v for k, v in reference["args"].items())


def canonical_arguments(raw: Any) -> str:
    """Tool-call arguments as canonical JSON text (sorted keys; none: `{}`); text that is not a
    JSON object is kept verbatim, so the loop can report the error back to the model."""
    if isinstance(raw, dict):
        return json.dumps(raw, sort_keys=True)
    try:
        value = json.loads(raw or "{}")
    except (json.JSONDecodeError, TypeError):
        return str(raw)
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(raw)
