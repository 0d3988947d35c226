"""PATCH semantics: the three patch types, and pod templates read back losslessly."""

from __future__ import annotations

import pytest

from opsagent.sandbox.errors import InvalidError
from opsagent.sandbox.kube.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC,
    UnsupportedMediaType,
    apply_patch,
    parse_template,
)
from opsagent.sandbox.kube.render import template_json

POD = {"spec": {"containers": [
    {"name": "app", "image": "a:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
    {"name": "sidecar", "image": "s:1"},
]}}


def test_strategic_merge_merges_lists_by_key():
    patch = {"spec": {"containers": [
        {"name": "app", "image": "a:2", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]},
        {"name": "sidecar", "$patch": "delete"},
    ]}}
    out = apply_patch(POD, STRATEGIC, patch, "Deployment", "x")
    (app,) = out["spec"]["containers"]
    assert app["image"] == "a:2"
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"},
                          {"name": "C", "value": "4"}]


def test_merge_patch_replaces_lists_and_deletes_nulls():
    out = apply_patch(POD, MERGE_PATCH, {"spec": {"containers": [{"name": "only", "image": "o:1"}],
                                                  "nodeSelector": None}}, "Deployment", "x")
    assert out["spec"]["containers"] == [{"name": "only", "image": "o:1"}]


def test_json_patch_and_its_errors():
    out = apply_patch(POD, JSON_PATCH, [{"op": "replace", "path": "/spec/containers/1/image",
                                         "value": "s:2"}], "Deployment", "x")
    assert out["spec"]["containers"][1]["image"] == "s:2"
    with pytest.raises(InvalidError):
        apply_patch(POD, JSON_PATCH, [{"op": "remove", "path": "/spec/nothing"}], "Deployment", "x")
    with pytest.raises(UnsupportedMediaType):
        apply_patch(POD, "text/plain", {}, "Deployment", "x")


def test_templates_read_back_unchanged(healthy):
    for wl in healthy.world.workloads.values():
        back = parse_template(template_json(wl.template), wl.template, wl.kind, wl.name)
        assert back == wl.template
        assert back.pod_hash() == wl.template.pod_hash()


def test_bad_quantities_are_invalid(healthy):
    wl = healthy.world.workloads[("shop", "cart")]
    raw = template_json(wl.template)
    raw["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "lots"
    with pytest.raises(InvalidError, match=r"containers\[0\].resources.limits.cpu"):
        parse_template(raw, wl.template, "Deployment", "cart")
