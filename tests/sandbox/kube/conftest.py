"""A live API server over a scenario, and clients pointed at it through a kubeconfig."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from opsagent.sandbox.kube.app import Cluster
from opsagent.sandbox.kube.server import KubeServer
from tests import requires
from tests.conftest import build


class Live:
    def __init__(self, tmp: Path, fault: str = "memory_leak", target: str = "catalog"):
        self.scenario = build(fault, seed=3, target=target)
        self.server = KubeServer(Cluster(self.scenario.world), tmp).start()
        self.kubeconfig = self.server.write_kubeconfig(tmp / "kubeconfig")
        self.api = config.new_client_from_config(config_file=str(self.kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)

    @property
    def world(self):  # type: ignore[no-untyped-def]
        return self.scenario.world

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        out = subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env,
                             timeout=60)
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {out.stderr}")
        return out

    def close(self) -> None:
        self.api.close()
        self.server.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One server for read-only tests."""
    cluster = Live(tmp_path_factory.mktemp("kube"))
    yield cluster
    cluster.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Live]:
    """A server of its own, for tests that change the world."""
    cluster = Live(tmp_path)
    yield cluster
    cluster.close()


requires_kubectl = requires.kubectl
