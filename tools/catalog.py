"""Every tool, in one registry."""

from __future__ import annotations

from opsagent.tools import (
    knowledge,
    kubernetes_config,
    kubernetes_read,
    kubernetes_secrets,
    kubernetes_write,
    logs,
    prometheus,
)
from opsagent.tools.registry import ToolRegistry


def default_registry() -> ToolRegistry:
    return ToolRegistry([*prometheus.TOOLS, *kubernetes_read.TOOLS, *logs.TOOLS, *knowledge.TOOLS,
                     *kubernetes_write.TOOLS, *kubernetes_config.TOOLS, *kubernetes_secrets.TOOLS])
