"""Every tool, in one registry."""

from __future__ import annotations

from tools import (
    knowledge,
    kubernetes_config,
    kubernetes_read,
    kubernetes_secrets,
    kubernetes_write,
    logs,
    prometheus,
)
from tools.registry import Registry


def default_registry() -> Registry:
    return Registry([*prometheus.TOOLS, *kubernetes_read.TOOLS, *logs.TOOLS, *knowledge.TOOLS,
                     *kubernetes_write.TOOLS, *kubernetes_config.TOOLS, *kubernetes_secrets.TOOLS])
