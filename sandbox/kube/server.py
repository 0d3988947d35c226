"""Run the API server on a free local port, and write the kubeconfig that reaches it."""

from __future__ import annotations

import base64
import socket
import threading
import time
from pathlib import Path

import uvicorn
import yaml

from sandbox.kube.app import Cluster, create_app
from sandbox.kube.tls import write_certificates


class KubeServer:
    """The API server in a background thread; `stop()` shuts it down cleanly."""

    def __init__(self, cluster: Cluster, run_dir: Path, host: str = "127.0.0.1", port: int = 0):
        self.cluster = cluster
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        self.ca, cert, key = write_certificates(run_dir / "pki", host)
        config = uvicorn.Config(create_app(cluster), log_level="warning", access_log=False,
                                lifespan="off", ssl_certfile=str(cert), ssl_keyfile=str(key),
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=f"kube-api:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> KubeServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the Kubernetes API server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

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
