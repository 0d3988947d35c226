"""The chaos bench's witness: a mutation the apiserver received is attributed to the object the
ledger's execution names, or "executed twice" would count what was done once (and miss what
was done twice)."""

import pytest

from bench.kube_witness import object_of, target_of

CASES = [
    ("/apis/apps/v1/namespaces/shop/deployments/checkout", "k8s_rollout_undo", {"name": "checkout"}),
    ("/apis/apps/v1/namespaces/shop/deployments/cart/scale", "k8s_scale", {"name": "cart", "replicas": 3}),
    ("/api/v1/namespaces/shop/pods/cart-1", "k8s_delete_pod", {"name": "cart-1"}),
    ("/api/v1/nodes/ip-10-0-1-21", "k8s_cordon", {"node": "ip-10-0-1-21"}),
    ("/api/v1/namespaces/shop/services/auth", "k8s_patch_service_port", {"name": "auth", "target_port": 1}),
    ("/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/frontend", "k8s_patch_hpa",
     {"name": "frontend"}),
    ("/api/v1/namespaces/shop/persistentvolumeclaims/data-postgres-0", "k8s_expand_pvc",
     {"name": "data-postgres-0", "size": "40Gi"}),
    ("/api/v1/namespaces/shop/configmaps/redis-config", "k8s_patch_configmap", {"name": "redis-config"}),
    ("/apis/cert-manager.io/v1/namespaces/shop/certificates/paygate-client-tls/status", "cert_renew",
     {"name": "paygate-client-tls"}),
    ("/apis/external-secrets.io/v1beta1/namespaces/shop/externalsecrets/postgres-credentials",
     "external_secret_refresh", {"name": "postgres-credentials"}),
    ("/apis/apps/v1/namespaces/payments/deployments/gateway?fieldManager=x", "k8s_rollout_restart",
     {"name": "gateway", "namespace": "payments"}),
]


@pytest.mark.parametrize(("path", "tool", "args"), CASES, ids=[c[1] for c in CASES])
def test_a_request_and_its_execution_name_the_same_object(path, tool, args):
    assert object_of(path) == target_of(tool, args)


def test_an_eviction_changes_its_pod():
    assert object_of("/api/v1/namespaces/shop/pods/cart-1/eviction") == "pods/shop/cart-1"
