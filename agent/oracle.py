"""The `oracle` policy (sandbox only, privileged): it reads the scenario's ground truth and takes
the shortest correct path, so it is the reference for minimal steps and gold training data.
Only graders and this policy may read ground truth; it is labelled as such in what it writes."""

from __future__ import annotations

from typing import Any

from agent.models import Diagnosis, Evidence
from sandbox.scenario import Scenario


def _tool_call(action: dict[str, Any]) -> dict[str, Any] | None:
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


class Oracle:
    """Answers at once from ground truth: no investigation, the first remedy that tools can
    carry out (or escalation when none can)."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario

    def next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        truths = [t for t in self.scenario.ground_truth() if t.is_incident]
        if not truths:
            diagnosis = Diagnosis(is_incident=False, hypothesis="no incident", components=[],
                                  summary="privileged oracle: the scenario has no incident", confidence=1.0)
            return {"role": "assistant", "content": diagnosis.model_dump_json()}
        truth = truths[0]
        remediation: list[dict[str, Any]] = []
        for option in truth.mitigations:
            calls = [_tool_call(a) for a in option]
            if all(calls):
                remediation = [{**c, "why": "ground-truth mitigation"} for c in calls]  # type: ignore[dict-item]
                break
        diagnosis = Diagnosis(
            is_incident=True, hypothesis=truth.fault.replace("_", " "), components=truth.components,
            level=truth.level.value if truth.level else None,
            fault_type=truth.fault_type.value if truth.fault_type else None,
            summary=f"privileged oracle: {truth.summary}", confidence=1.0,
            evidence=[Evidence(tool="ground_truth", finding=truth.summary)], remediation=remediation)
        return {"role": "assistant", "content": diagnosis.model_dump_json()}
