"""Certificates and ExternalSecrets through the official client's CustomObjectsApi against the
sandbox's custom resources: their state reads true, and a renewal / re-sync changes exactly
what cert-manager / External Secrets Operator would."""

from __future__ import annotations

import subprocess
import time

import pytest
from kubernetes.client.rest import ApiException

from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec


def load(box, fault: str) -> None:
    box.load(ScenarioSpec(faults=[FaultSpec(type=fault)], seed=5, now=time.time()), fault)


def test_an_expired_certificate_is_renewed(box, ctx, registry):
    load(box, "tls_cert_expired")
    listed = registry.call(ctx, "k8s_certificates", {})
    assert "paygate-client-tls: ready=False (Expired)" in listed.text
    renewed = registry.call(ctx, "cert_renew", {"name": "paygate-client-tls"})
    assert renewed.status == "success" and "re-issuance triggered" in renewed.text
    assert "paygate-client-tls: ready=True (Ready)" in registry.call(ctx, "k8s_certificates", {}).text
    assert box.scenario.world.secrets[("shop", "paygate-client-tls")].not_after > box.scenario.world.now
    missing = registry.call(ctx, "cert_renew", {"name": "paygate-client"})
    assert missing.status == "error" and "did you mean: paygate-client-tls" in missing.error


def test_a_stale_external_secret_is_resynced(box, ctx, registry):
    load(box, "db_credentials_revoked")
    secret = box.scenario.world.secrets[("shop", "postgres-credentials")]
    assert secret.version != secret.source_version
    before = registry.call(ctx, "k8s_external_secrets", {}).text
    done = registry.call(ctx, "external_secret_refresh", {"name": "postgres-credentials"})
    assert done.status == "success" and secret.version == secret.source_version
    assert registry.call(ctx, "k8s_external_secrets", {}).text != before  # lastSync moved


def test_the_api_refuses_what_the_operators_would_not_do(box, ctx):
    load(box, "tls_cert_expired")
    with pytest.raises(ApiException) as err:
        ctx.custom.patch_namespaced_custom_object("cert-manager.io", "v1", "shop", "certificates",
                                                  "paygate-client-tls", {"spec": {"duration": "1h"}})
    assert err.value.status == 422 and "spec.duration" in err.value.body
    kubeconfig = str(box.run_dir / "kubeconfig")
    out = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "certificates,externalsecrets", "-n",
                          "shop", "-o", "name"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["certificate.cert-manager.io/paygate-client-tls",
                                  "externalsecret.external-secrets.io/postgres-credentials"]
