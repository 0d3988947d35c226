"""Repair's runbook: concrete, valid actions only; refused or done actions never proposed again;
verification checks that fit what the actions can fix; recording rules expanded for checks."""

from opsagent.agent.models import Diagnosis
from opsagent.agent.runbook import build, instances
from opsagent.agent.verify import check, expand
from opsagent.tools.catalog import default_registry
from tests.live import requires_stack

REGISTRY = default_registry()


def diagnosis(*remediation: dict, components: tuple[str, ...] = ("shop/Deployment/checkout",)) -> Diagnosis:
    return Diagnosis(is_incident=True, hypothesis="h", components=list(components), summary="s",
                     confidence=0.5, remediation=list(remediation))


def test_invalid_read_only_and_refused_calls_are_set_aside():
    d = diagnosis({"tool": "kubectl", "args": {}}, {"tool": "k8s_scale", "args": {"name": "checkout"}},
                  {"tool": "k8s_list_pods", "args": {}},
                  {"tool": "k8s_rollout_undo", "args": {"name": "checkout"}, "why": "bad release"},
                  {"tool": "k8s_rollout_restart", "args": {"name": "checkout"}})
    refused = [{"tool": "k8s_rollout_restart", "args": {"name": "checkout", "namespace": "shop"}}]
    book = build(d, REGISTRY, refused, [], {})
    assert [(a.tool, a.args) for a in book.actions] == \
        [("k8s_rollout_undo", {"name": "checkout", "namespace": "shop"})]
    assert book.actions[0].risk == "mutate-high" and book.actions[0].touches == ["shop/Deployment/checkout"]
    reasons = [i["reason"] for i in book.invalid]
    assert reasons[0] == "unknown tool 'kubectl'" and reasons[1].startswith("invalid arguments")
    assert reasons[2] == "a read-only tool is not a remediation"
    assert book.rollback == ["k8s_rollout_undo: k8s_rollout_undo again returns to the revision running now"]


def test_verification_uses_the_alerts_and_the_components():
    book = build(diagnosis({"tool": "k8s_rollout_undo", "args": {"name": "checkout"}}), REGISTRY, [], [],
                 {"ShopServiceHighErrorRate": "errors > 0.05"})
    assert book.verification[0] == "errors > 0.05"
    assert any('deployment="checkout"' in c for c in book.verification)
    assert any('service="checkout"' in c and "http_requests_total" in c for c in book.verification)


def test_isolating_a_node_is_verified_by_its_workloads_not_the_node():
    d = diagnosis({"tool": "k8s_drain", "args": {"node": "ip-10-0-2-37"}},
                  components=("Node/ip-10-0-2-37",))
    book = build(d, REGISTRY, [], [], {"KubeNodeNotReady": "node not ready", "ShopServiceHighErrorRate": "e"})
    assert book.verification == ["e", "sum(kube_deployment_status_replicas_unavailable) > 0"]


def test_recording_rules_are_expanded_for_checks():
    records = {"service:errors:ratio_rate5m": "sum by (service) (rate(errors[5m]))",
               "a:b": "service:errors:ratio_rate5m * 2"}
    assert expand("a:b > 1", records) == "((sum by (service) (rate(errors[5m]))) * 2) > 1"
    assert expand('service:errors:ratio_rate5m{service="x"} > 1', records) == \
        'service:errors:ratio_rate5m{service="x"} > 1'  # a selector on a recorded series stays


def test_an_alert_s_check_stands_for_the_instances_that_fired():
    alerts = [{"status": "firing", "labels": {"alertname": "TargetDown", "job": "postgres-exporter",
                                              "namespace": "shop", "severity": "warning"}},
              {"status": "resolved", "labels": {"alertname": "TargetDown", "job": "cart"}}]
    book = build(diagnosis({"tool": "k8s_rollout_undo", "args": {"name": "checkout"}}), REGISTRY, [], [],
                 {"TargetDown": "up == 0"}, instances(alerts))
    assert book.scope == {"up == 0": [{"job": "postgres-exporter", "namespace": "shop"}]}


@requires_stack
def test_a_scoped_check_counts_only_the_series_of_its_instances(registry, ctx):
    """Against the live sandbox's Prometheus: `up == 1` lists every healthy target. Scoped to
    one job it still shows that job; scoped to a job not there it is clear, although other
    jobs' series remain; labels the series do not carry (cluster) do not clear it."""
    query = "up == 1"
    assert query in check(registry, ctx, [query])
    assert query in check(registry, ctx, [query], {query: [{"job": "apiserver"}]})
    assert check(registry, ctx, [query], {query: [{"job": "no-such-job", "namespace": "shop"}]}) == {}
    assert query in check(registry, ctx, [query], {query: [{"cluster": "prod-eu"}]})
