"""The Kubernetes API server over HTTPS (kubectl sends bearer tokens only over TLS), and the
kubeconfig that reaches it."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from opsagent.sandbox.httpserver import AppServer
from opsagent.sandbox.kube.app import Cluster, create_app
from opsagent.sandbox.kube.tls import write_certificates


class KubeServer(AppServer):
    def __init__(self, cluster: Cluster, run_dir: Path, host: str = "127.0.0.1", port: int = 0):
        self.cluster = cluster
        self.ca, cert, key = write_certificates(run_dir / "pki", host)
        super().__init__(create_app(cluster), "kube-apiserver", host, port, tls=(cert, key))

    def start(self, timeout: float = 10.0) -> KubeServer:
        super().start(timeout)
        return self

    def stop(self) -> None:
        self.cluster.closed.set()  # open watches end, so the server stops at once
        super().stop()

    def write_kubeconfig(self, path: Path, namespace: str = "shop") -> Path:
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "opsagent-sandbox", "cluster": {
                "server": self.url,
                "certificate-authority-data": base64.b64encode(self.ca.read_bytes()).decode(),
            }}],
            "users": [{"name": "sandbox-sre", "user": {"token": self.cluster.token}}],
            "contexts": [{"name": "opsagent-sandbox", "context": {
                "cluster": "opsagent-sandbox", "user": "sandbox-sre", "namespace": namespace}}],
            "current-context": "opsagent-sandbox",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path
