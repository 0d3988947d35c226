"""Writes through the API: a patched object is compared with what it was, and each change is
carried out by the simulation's own actions, so the API and the actions can never disagree."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from opsagent.sandbox.actions import (
    Cordon,
    DeletePod,
    ExpandPVC,
    PatchConfigMap,
    PatchHPA,
    PatchService,
    RefreshSecret,
    RenewCertificate,
    Scale,
    Uncordon,
)
from opsagent.sandbox.errors import InvalidError
from opsagent.sandbox.kube import render
from opsagent.sandbox.kube.patch import EFFECTS, parse_template
from opsagent.sandbox.objects import Workload
from opsagent.sandbox.world import World

Json = dict[str, Any]


def _run(action_cls: type, kind: str, name: str, /, **fields: Any) -> Any:
    """Build an action, turning pydantic's complaint into the API's 422."""
    try:
        return action_cls(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise InvalidError(kind, name, f"spec.{field}", f"Invalid value: {err.get('input')!r}: "
                           f"{err['msg']}") from None


def _only(kind: str, name: str, old: Json, new: Json, allowed: set[str]) -> None:
    """Refuse changes the sandbox would not carry out, rather than pretend to."""
    for section in ("spec", "data", "metadata"):
        before, after = old.get(section) or {}, new.get(section) or {}
        for key in set(before) | set(after):
            if before.get(key) != after.get(key) and not {section, f"{section}.{key}"} & allowed:
                if section == "metadata" and key in ("resourceVersion", "managedFields",
                                                     "generation", "creationTimestamp", "uid"):
                    continue
                raise InvalidError(kind, name, f"{section}.{key}",
                                   "changing this field is not supported by the sandbox")


def patch_workload(world: World, wl: Workload, old: Json, new: Json) -> None:
    kind, name = wl.kind, wl.name
    _only(kind, name, old, new, {"spec.replicas", "spec.template", "metadata.annotations",
                                 "metadata.labels"})
    if new["spec"].get("selector") != old["spec"].get("selector"):
        raise InvalidError(kind, name, "spec.selector", "field is immutable")
    if new["spec"]["template"] != old["spec"]["template"]:
        template = parse_template(new["spec"]["template"], wl.template, kind, name)
        if template.labels.get("app.kubernetes.io/name") != wl.labels.get("app.kubernetes.io/name"):
            raise InvalidError(kind, name, "spec.template.metadata.labels",
                               "`selector` does not match template `labels`")
        cause = (new["metadata"].get("annotations") or {}).get("kubernetes.io/change-cause",
                                                                 "kubectl patch")

        def replace(t: Any) -> None:
            t.__dict__.update(template.__dict__)

        world.update_template(wl, replace, cause)
    if new["spec"].get("replicas") != old["spec"].get("replicas"):
        _run(Scale, kind, name, namespace=wl.namespace, name=name,
             replicas=new["spec"].get("replicas"), kind=kind).apply(world)


def scale_json(wl: Workload) -> Json:
    return {"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": wl.name, "namespace": wl.namespace,
                         "uid": render.uid(wl.kind, wl.namespace, wl.name, wl.created_at),
                         "creationTimestamp": render.ts(wl.created_at)},
            "spec": {"replicas": wl.replicas},
            "status": {"replicas": wl.status_replicas,
                       "selector": ",".join(f"{k}={v}" for k, v in wl.labels.items())}}


def patch_scale(world: World, wl: Workload, old: Json, new: Json) -> None:
    replicas = (new.get("spec") or {}).get("replicas")
    if replicas != old["spec"]["replicas"]:
        _run(Scale, "Scale", wl.name, namespace=wl.namespace, name=wl.name, replicas=replicas,
             kind=wl.kind).apply(world)


def patch_other(world: World, resource: str, obj: Any, old: Json, new: Json) -> None:
    name = old["metadata"]["name"]
    kind = old["kind"]
    if resource == "pods":
        _only(kind, name, old, new, {"metadata.labels", "metadata.annotations"})
        _relabel(world, obj, name, new["metadata"].get("labels") or {})
        obj.annotations = {k: str(v) for k, v in (new["metadata"].get("annotations") or {}).items()}
    elif resource == "nodes":
        _only(kind, name, old, new, {"spec.unschedulable", "spec.taints"})
        _taint(world, obj, name, new["spec"].get("taints") or [])
        if bool(new["spec"].get("unschedulable")) != bool(old["spec"].get("unschedulable")):
            action = Cordon if new["spec"].get("unschedulable") else Uncordon
            action(node=name).apply(world)
    elif resource == "services":
        _only(kind, name, old, new, {"spec.ports"})
        ports = new["spec"].get("ports") or []
        changed = {k for k, v in (ports[0] if ports else {}).items()
                   if v != old["spec"]["ports"][0].get(k)}
        if len(ports) != 1 or changed - {"targetPort"}:
            raise InvalidError(kind, name, "spec.ports", "only targetPort may change in the sandbox")
        _run(PatchService, kind, name, namespace=obj.namespace, name=name,
             target_port=ports[0]["targetPort"]).apply(world)
    elif resource == "configmaps":
        _only(kind, name, old, new, {"data"})
        data = new.get("data") or {}
        if set(old.get("data") or {}) - set(data):
            raise InvalidError(kind, name, "data", "removing keys is not supported by the sandbox")
        changed = {k: str(v) for k, v in data.items() if (old.get("data") or {}).get(k) != v}
        if changed:
            PatchConfigMap(namespace=obj.namespace, name=name, data=changed).apply(world)
    elif resource == "horizontalpodautoscalers":
        _only(kind, name, old, new, {"spec.minReplicas", "spec.maxReplicas"})
        _run(PatchHPA, kind, name, namespace=obj.namespace, name=name,
             min_replicas=new["spec"].get("minReplicas"),
             max_replicas=new["spec"].get("maxReplicas")).apply(world)
    elif resource == "persistentvolumeclaims":
        _only(kind, name, old, new, {"spec.resources"})
        size = new["spec"]["resources"]["requests"]["storage"]
        if size != old["spec"]["resources"]["requests"]["storage"]:
            _run(ExpandPVC, kind, name, namespace=obj.namespace, name=name, size=str(size)).apply(world)
    elif resource == "certificates":
        # `cmctl renew` sets the Issuing condition through the status subresource.
        _only(kind, name, old, new, set())
        issuing = [c for c in (new.get("status") or {}).get("conditions") or []
                   if c.get("type") == "Issuing" and c.get("status") == "True"]
        if issuing:
            RenewCertificate(namespace=obj.namespace, name=name).apply(world)
    elif resource == "externalsecrets":
        # External Secrets Operator re-syncs when the `force-sync` annotation changes.
        _only(kind, name, old, new, {"metadata.annotations"})
        before = (old["metadata"].get("annotations") or {}).get("force-sync")
        annotations = {k: str(v) for k, v in (new["metadata"].get("annotations") or {}).items()}
        world.secret(obj.namespace, name).annotations = annotations  # kept, as the apiserver does
        if annotations.get("force-sync") not in (None, before):
            RefreshSecret(namespace=obj.namespace, name=name).apply(world)
    else:
        raise InvalidError(kind, name, "", "this resource cannot be patched in the sandbox")


def _taint(world: World, node: Any, name: str, taints: list[Json]) -> None:
    """`kubectl taint`: the SRE's taints replace the node's; those under node.kubernetes.io/
    follow the node's conditions and cordon, so the controllers keep them as they are."""
    mine = []
    for i, t in enumerate(taints):
        key, effect = t.get("key") or "", t.get("effect") or ""
        if not key:
            raise InvalidError("Node", name, f"spec.taints[{i}].key", "Required value")
        if effect not in EFFECTS:
            raise InvalidError("Node", name, f"spec.taints[{i}].effect", f'Unsupported value: "{effect}": '
                               'supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"')
        if not key.startswith("node.kubernetes.io/"):
            mine.append((key, str(t.get("value") or ""), effect))
    for key, _, effect in mine:
        node.taint_added.setdefault((key, effect), world.now)
    node.taint_added = {k: v for k, v in node.taint_added.items() if any(k == (t[0], t[2]) for t in mine)}
    node.user_taints = mine


def _relabel(world: World, pod: Any, name: str, labels: Json) -> None:
    """Any label may change; the controllers react on their next pass: a ReplicaSet releases a
    pod that leaves its selector (and starts another), Services route by their selectors. A
    StatefulSet's pod keeps its selector labels here: its replacement would need the same name,
    which the sandbox does not model."""
    labels = {k: str(v) for k, v in labels.items()}
    if pod.owner_kind == "StatefulSet":
        for key, value in world.workloads[(pod.namespace, pod.workload)].labels.items():
            if labels.get(key) != value:
                raise InvalidError("Pod", name, f"metadata.labels.{key}", "a StatefulSet's pod keeps "
                                   "the labels of its selector in the sandbox")
    pod.set_labels = labels


def delete_pod(world: World, namespace: str, name: str, grace: int | None) -> None:
    DeletePod(namespace=namespace, name=name, force=grace == 0).apply(world)
