"""PATCH as the API server does it: JSON patch (RFC 6902, via the jsonpatch library), JSON merge
patch (RFC 7386) and Kubernetes' strategic merge patch (lists merged by their keys), then the
patched pod template read back into the simulation's model."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from opsagent.sandbox import quantity
from opsagent.sandbox.errors import InvalidError, SandboxError
from opsagent.sandbox.objects import ContainerSpec, PodTemplate, Probe, Resources, Toleration

Json = dict[str, Any]
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name",
              "ports": "containerPort", "volumes": "name", "volumeMounts": "mountPath",
              "imagePullSecrets": "name", "conditions": "type"}
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


class UnsupportedMediaType(SandboxError):
    reason = "UnsupportedMediaType"
    code = 415


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _merge_list(original: list, patch: list, key: str) -> list:
    out = [copy.deepcopy(x) for x in original]
    for item in patch:
        if not isinstance(item, dict):
            out.append(item)
            continue
        at = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if at is not None:
                out.pop(at)
        elif at is None:
            out.append({k: v for k, v in item.items() if not k.startswith("$")})
        else:
            out[at] = strategic_merge(out[at], item)
    return out


def strategic_merge(original: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(original, dict):
        return patch
    if patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    result = dict(original)
    for key, value in patch.items():
        if key.startswith("$"):  # $setElementOrder/..., $retainKeys: ordering hints
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, MERGE_KEYS[key])
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = strategic_merge(result[key], value)
        else:
            result[key] = value
    return result


def apply_patch(current: Json, content_type: str, body: Any, kind: str, name: str) -> Json:
    media = content_type.split(";")[0].strip()
    if media == JSON_PATCH:
        if not isinstance(body, list):
            raise InvalidError(kind, name, "patch", "a JSON patch must be a list of operations")
        try:
            return jsonpatch.apply_patch(current, body)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise InvalidError(kind, name, "patch", str(exc)) from None
    if not isinstance(body, dict):
        raise InvalidError(kind, name, "patch", "the patch body must be a JSON object")
    if media == MERGE_PATCH:
        return merge_patch(current, body)
    if media == STRATEGIC:
        return strategic_merge(current, body)
    raise UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC}")


# ---- reading a pod template back ---------------------------------------------------------
def _quantity(raw: Any, kind: str, name: str, field: str) -> float:
    try:
        return quantity.parse(raw)
    except ValueError as exc:
        raise InvalidError(kind, name, field, str(exc)) from None


def _probe(raw: Json | None, base: Probe | None) -> Probe | None:
    if not raw:
        return None
    if "httpGet" in raw:
        path, port = raw["httpGet"].get("path", "/"), raw["httpGet"].get("port", 80)
    elif "tcpSocket" in raw:
        port = raw["tcpSocket"].get("port", 0)
        path = f"tcp:{port}"
    elif "exec" in raw:
        path, port = "exec:" + " ".join(raw["exec"].get("command", [])), base.port if base else 0
    else:
        return base
    return Probe(path=path, port=int(port), initial_delay=raw.get("initialDelaySeconds", 0),
                 period=raw.get("periodSeconds", 10), failure_threshold=raw.get("failureThreshold", 3))


def _container(raw: Json, base: ContainerSpec | None, kind: str, name: str, i: int) -> ContainerSpec:
    where = f"spec.template.spec.containers[{i}]"
    if not raw.get("name"):
        raise InvalidError(kind, name, f"{where}.name", "Required value")
    if not raw.get("image"):
        raise InvalidError(kind, name, f"{where}.image", "Required value")
    res = raw.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}

    def q(values: Json, key: str, field: str) -> float:
        if key not in values:
            return 0.0
        return _quantity(values[key], kind, name, f"{where}.resources.{field}.{key}")

    requests = Resources(q(req, "cpu", "requests"), int(q(req, "memory", "requests")))
    limits = Resources(q(lim, "cpu", "limits"), int(q(lim, "memory", "limits")))
    for key in ("cpu", "memory"):
        if getattr(limits, key) and getattr(requests, key) > getattr(limits, key):
            raise InvalidError(kind, name, f"{where}.resources.requests.{key}",
                               f"Invalid value: must be less than or equal to {key} limit")
    ports = raw.get("ports") or []
    port = ports[0].get("containerPort") if ports else (base.port if base else 80)
    env = {e["name"]: str(e.get("value", "")) for e in raw.get("env") or [] if "name" in e}
    # The API server's default: Always for :latest or no tag, else IfNotPresent.
    tag = raw["image"].rsplit("/", 1)[-1]
    policy = raw.get("imagePullPolicy") or ("Always" if ":" not in tag or tag.endswith(":latest")
                                            else "IfNotPresent")
    if policy not in PULL_POLICIES:
        raise InvalidError(kind, name, f"{where}.imagePullPolicy",
                           f'Unsupported value: "{policy}": supported values: "Always", '
                           '"IfNotPresent", "Never"')
    return ContainerSpec(
        name=raw["name"], image=raw["image"], port=int(port), env=env, requests=requests,
        limits=limits, readiness=_probe(raw.get("readinessProbe"), base.readiness if base else None),
        liveness=_probe(raw.get("livenessProbe"), base.liveness if base else None),
        startup=_probe(raw.get("startupProbe"), base.startup if base else None),
        pull_policy=policy,
    )


PULL_POLICIES = ("Always", "IfNotPresent", "Never")
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def _tolerations(raw: list[Json], kind: str, name: str) -> list[Toleration]:
    """Validated as the API server does (apis/core/validation: validateTolerations)."""
    out = []
    for i, t in enumerate(raw):
        where = f"spec.template.spec.tolerations[{i}]"
        operator, effect = t.get("operator") or "Equal", t.get("effect") or ""
        if operator not in ("Equal", "Exists"):
            raise InvalidError(kind, name, f"{where}.operator",
                               f'Unsupported value: "{operator}": supported values: "Equal", "Exists"')
        if operator == "Exists" and t.get("value"):
            raise InvalidError(kind, name, f"{where}.operator",
                               "Invalid value: value must be empty when `operator` is 'Exists'")
        if not t.get("key") and operator != "Exists":
            raise InvalidError(kind, name, f"{where}.operator",
                               "Invalid value: operator must be Exists when `key` is empty, which "
                               "means \"match all values and all keys\"")
        if effect and effect not in EFFECTS:
            raise InvalidError(kind, name, f"{where}.effect",
                               f'Unsupported value: "{effect}": supported values: "NoSchedule", '
                               '"PreferNoSchedule", "NoExecute"')
        seconds = t.get("tolerationSeconds")
        if seconds is not None and effect != "NoExecute":
            raise InvalidError(kind, name, f"{where}.effect",
                               "Invalid value: effect must be 'NoExecute' when `tolerationSeconds` is set")
        out.append(Toleration(key=t.get("key") or "", operator=operator, value=str(t.get("value") or ""),
                              effect=effect, seconds=None if seconds is None else int(seconds)))
    return out


def parse_template(raw: Json, base: PodTemplate, kind: str, name: str) -> PodTemplate:
    """A pod template from its JSON; what the JSON cannot say (the claim) comes from `base`."""
    meta, spec = raw.get("metadata") or {}, raw.get("spec") or {}
    containers = spec.get("containers") or []
    if not containers:
        raise InvalidError(kind, name, "spec.template.spec.containers", "Required value")
    by_name = {c.name: c for c in base.containers}
    volumes = spec.get("volumes") or []
    return PodTemplate(
        containers=[_container(c, by_name.get(c.get("name", "")), kind, name, i)
                    for i, c in enumerate(containers)],
        labels={k: v for k, v in (meta.get("labels") or {}).items() if k != "pod-template-hash"},
        node_selector=dict(spec.get("nodeSelector") or {}),
        tolerations=_tolerations(spec.get("tolerations") or [], kind, name),
        annotations=dict(meta.get("annotations") or {}),
        secrets=[v["secret"]["secretName"] for v in volumes if "secret" in v],
        configmaps=[v["configMap"]["name"] for v in volumes if "configMap" in v],
        pvc=base.pvc,
    )
