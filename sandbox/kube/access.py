"""What the sandbox's credentials may do, as `kubectl auth can-i` asks it: SelfSubjectAccessReview
(one verb on one resource) and SelfSubjectRulesReview (`--list`). The token may do exactly what
the sandbox serves: every verb of every served resource and subresource, nothing else."""

from __future__ import annotations

from typing import Any

from opsagent.sandbox.kube.resources import RESOURCES, Resource

Json = dict[str, Any]
NON_RESOURCE = {"/version": ["get"], "/healthz": ["get"], "/livez": ["get"], "/readyz": ["get"],
                "/api": ["get"], "/api/*": ["get"], "/apis": ["get"], "/apis/*": ["get"]}


def _verbs(res: Resource, sub: str) -> list[str]:
    if not sub:
        return list(res.verbs)
    return next((list(v) for name, v in res.subresources if name == sub), [])


def _allowed(attrs: Json) -> tuple[bool, str]:
    verb, group = attrs.get("verb", ""), attrs.get("group", "")
    resource, sub = attrs.get("resource", ""), attrs.get("subresource", "")
    for res in RESOURCES:
        if res.name == resource and (res.group == group or group == "*"):
            verbs = _verbs(res, sub)
            if verb in verbs or (verb == "*" and verbs):
                return True, f"the sandbox serves {verb} on {resource}{'/' + sub if sub else ''}"
            return False, (f"the sandbox serves {', '.join(verbs) or 'nothing'} on "
                           f"{resource}{'/' + sub if sub else ''}, not {verb}")
    return False, f"the sandbox does not serve {resource}" + (f" in group {group!r}" if group else "")


def access_review(body: Json) -> Json:
    spec = (body or {}).get("spec") or {}
    if "nonResourceAttributes" in spec:
        attrs = spec["nonResourceAttributes"]
        allowed = attrs.get("verb") in NON_RESOURCE.get(attrs.get("path", ""), [])
        reason = "served without a token" if allowed else "not served to this token"
    else:
        allowed, reason = _allowed(spec.get("resourceAttributes") or {})
    return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": spec,
            "status": {"allowed": allowed, **({"reason": reason} if allowed else {"denied": False,
                                                                                  "reason": reason})}}


def rules_review(body: Json) -> Json:
    rules = []
    for res in RESOURCES:
        rules.append({"verbs": list(res.verbs), "apiGroups": [res.group], "resources": [res.name]})
        for sub, verbs in res.subresources:
            rules.append({"verbs": list(verbs), "apiGroups": [res.group], "resources": [f"{res.name}/{sub}"]})
    rules.append({"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                  "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]})
    urls = [{"verbs": v, "nonResourceURLs": [u]} for u, v in NON_RESOURCE.items()]
    return {"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": (body or {}).get("spec") or {},
            "status": {"resourceRules": rules,
                       "nonResourceRules": urls,
                       "incomplete": False}}
