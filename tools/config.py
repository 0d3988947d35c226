"""Where the tools reach the cluster: the same settings serve a real cluster and the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ToolsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kubeconfig: Path | None = Field(default=None, description="None: in-cluster or ~/.kube/config")
    kube_context: str | None = Field(default=None, description="kubeconfig context to use")
    prometheus_url: str = Field(default="http://127.0.0.1:9090")
    elasticsearch_url: str = Field(default="http://127.0.0.1:9200")
    elasticsearch_username: str | None = None
    elasticsearch_password: str | None = None
    elasticsearch_api_key: str | None = None
    log_index: str = Field(default="logs-*", description="index pattern of the container logs")
    timeout_s: float = Field(default=10.0, gt=0, description="per backend request")
    retries: int = Field(default=2, ge=0, le=5, description="retries of a timed-out request")
    knowledge_dir: Path | None = Field(default=None, description="runbooks; None: the shipped set")


def sandbox_config(run_dir: Path) -> ToolsConfig:
    """ToolsConfig pointing at a running sandbox, from the sandbox.json it wrote."""
    info_path = run_dir / "sandbox.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"no running sandbox at {run_dir} (no sandbox.json); start one with "
                                "`opsagent sandbox up`")
    info = json.loads(info_path.read_text())
    return ToolsConfig(kubeconfig=Path(info["kubeconfig"]),
                       prometheus_url=info["prometheus"] or "http://127.0.0.1:9",
                       elasticsearch_url=info["elasticsearch"]["url"],
                       elasticsearch_username="elastic",
                       elasticsearch_password=info["elasticsearch"]["password"])
