"""The registry contract: schemas the model can use, and calls that never raise."""

from __future__ import annotations

import json

import jsonschema

from opsagent.tools.base import Args, Risk, Tool, ToolResult
from opsagent.tools.registry import ToolRegistry

EXAMPLES = {
    "prometheus_query": {"query": "up"}, "prometheus_query_range": {"query": "up", "minutes": 10},
    "prometheus_metric_names": {"contains": "memory"}, "prometheus_label_values": {"label": "pod"},
    "prometheus_alerts": {"state": "firing"}, "k8s_list_pods": {"namespace": "shop"},
    "k8s_describe_pod": {"name": "cart-abc"}, "k8s_pod_logs": {"name": "cart-abc", "previous": True},
    "k8s_events": {"object_name": "cart"}, "k8s_list_deployments": {},
    "k8s_rollout_history": {"name": "cart"}, "k8s_list_nodes": {}, "k8s_get_service": {"name": "cart"},
    "logs_search": {"service": "cart", "level": "ERROR"}, "logs_patterns": {"minutes": 30},
    "knowledge_search": {"query": "crash loop"}, "k8s_delete_pod": {"name": "cart-abc"},
    "k8s_rollout_restart": {"name": "cart"}, "k8s_scale": {"name": "cart", "replicas": 3},
    "k8s_rollout_undo": {"name": "cart"}, "k8s_set_image": {"name": "cart", "image": "cart:1.2"},
    "k8s_patch_resources": {"name": "cart", "cpu_limit": "500m"},
    "k8s_patch_env": {"name": "cart", "set": {"A": "1"}}, "k8s_cordon": {"node": "ip-10-0-1-21"},
    "k8s_uncordon": {"node": "ip-10-0-1-21"}, "k8s_drain": {"node": "ip-10-0-1-21"},
    "metric_anomalies": {"query": "up"}, "prometheus_rules": {"contains": "Crash"},
    "pod_resource_usage": {"namespace": "shop"},
    "k8s_patch_service_port": {"name": "cart", "target_port": 8080},
    "k8s_patch_hpa": {"name": "frontend", "max_replicas": 8},
    "k8s_expand_pvc": {"name": "data-postgres-0", "size": "40Gi"},
    "k8s_patch_configmap": {"name": "coredns", "data": {"Corefile": "."}},
    "k8s_certificates": {}, "k8s_external_secrets": {"namespace": "shop"},
    "cert_renew": {"name": "paygate-client-tls"}, "external_secret_refresh": {"name": "postgres-credentials"},
}


def test_every_tool_has_a_valid_openai_schema(registry):
    assert set(registry.tools) == set(EXAMPLES)
    for entry in registry.openai():
        assert entry["type"] == "function"
        fn = entry["function"]
        assert fn["name"] in EXAMPLES and len(fn["description"]) > 20
        params = fn["parameters"]
        assert params["type"] == "object" and "properties" in params
        jsonschema.Draft202012Validator.check_schema(params)
        jsonschema.validate(EXAMPLES[fn["name"]], params)
        for prop in params["properties"].values():
            assert "description" in prop or "type" in prop or "anyOf" in prop


def test_arguments_round_trip_through_the_models(registry):
    for name, args in EXAMPLES.items():
        model = registry.tools[name].args
        parsed = model.model_validate(args)
        assert model.model_validate(json.loads(parsed.model_dump_json())) == parsed


def test_roles_and_risks(registry):
    assert all(t.risk == Risk.READ for t in registry.for_role("diagnose"))
    repair = {t.name for t in registry.for_role("repair")}
    assert {"k8s_rollout_undo", "k8s_drain"} <= repair
    assert registry.tools["k8s_drain"].risk == Risk.DESTRUCTIVE
    assert registry.tools["k8s_scale"].touches(registry.tools["k8s_scale"].args(
        name="cart", replicas=1)) == ["shop/Deployment/cart"]


def test_calls_never_raise(registry):
    assert "unknown tool" in registry.call(None, "rm_rf", {}).error
    assert "not valid JSON" in registry.call(None, "k8s_scale", "{replicas:").error
    bad = registry.call(None, "k8s_scale", {"name": "cart", "replicas": -3, "force": True})
    assert bad.status == "error" and "replicas" in bad.error and "force" in bad.error

    class Boom(Args):
        pass

    def explode(ctx, args):  # type: ignore[no-untyped-def]
        raise RuntimeError("backend exploded")

    local = ToolRegistry([Tool("boom", "a tool that always fails, for this test", Boom, Risk.READ,
                           ("diagnose",), explode)])
    result = local.call(None, "boom", {})
    assert isinstance(result, ToolResult) and result.status == "error"
    assert "RuntimeError: backend exploded" in result.text


def test_output_budget_marks_what_it_cut():
    class NoArgs(Args):
        pass

    long = "\n".join(f"line {i} " + "x" * 50 for i in range(500))
    tool = Tool("chatty", "returns far more text than its budget allows", NoArgs, Risk.READ,
                ("diagnose",), lambda c, a: ToolResult(tool="chatty", args={}, status="success", text=long),
                budget_chars=1000)
    result = ToolRegistry([tool]).call(None, "chatty", {})
    assert result.truncated and len(result.text) <= 1000
    assert "[truncated:" in result.text and "narrow the query" in result.text
