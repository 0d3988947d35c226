"""The service's own Prometheus metrics (one registry per app, so several apps can live in one
process, as in the tests)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from opsagent.tools.base import ToolResult
from opsagent.tools.registry import ToolRegistry


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.alerts = Counter(
            "opsagent_alerts_received", "Alerts received, by status", ["status"], registry=r
        )
        self.notifications = Counter(
            "opsagent_alert_notifications", "Webhook notifications accepted", ["source"], registry=r
        )
        self.incidents = Counter(
            "opsagent_incidents_opened", "Incidents opened, by source", ["source"], registry=r
        )
        self.finished = Counter(
            "opsagent_incidents_finished", "Incidents finished, by outcome", ["outcome"], registry=r
        )
        self.actions = Counter(
            "opsagent_actions", "Proposed actions, by gate verdict", ["verdict"], registry=r
        )
        self.executed = Counter(
            "opsagent_actions_executed", "Executed actions, by result", ["status"], registry=r
        )
        self.approval_wait = Histogram(
            "opsagent_approval_wait_seconds",
            "From asking to deciding",
            buckets=(1, 5, 15, 60, 300, 900, 3600, 14400),
            registry=r,
        )
        self.model_latency = Histogram(
            "opsagent_model_call_seconds",
            "One model call",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.model_tokens = Counter("opsagent_model_tokens", "Model tokens", ["kind"], registry=r)
        self.tool_calls = Counter(
            "opsagent_tool_calls", "Tool calls, by tool and status", ["tool", "status"], registry=r
        )
        self.tool_errors = Counter("opsagent_tool_errors", "Tool calls that failed", ["tool"], registry=r)
        self.queue_depth = Gauge("opsagent_inbox_depth", "Accepted notifications not yet handled", registry=r)
        self.running = Gauge("opsagent_incidents_running", "Incidents being worked on now", registry=r)
        self.waiting = Gauge("opsagent_approvals_pending", "Actions waiting for an SRE", registry=r)
        self.heartbeat = Gauge(
            "opsagent_watchdog_last_seen_timestamp_seconds",
            "When Alertmanager's Watchdog heartbeat last arrived",
            registry=r,
        )

    def observe(self, node: str, update: dict[str, Any]) -> None:
        """Count what a graph transition did."""
        if node == "gate" and update.get("decisions"):
            self.actions.labels(update["decisions"][-1]["verdict"]).inc()
        elif node == "execute" and update.get("executed"):
            self.executed.labels(update["executed"][-1]["status"]).inc()
        elif node == "diagnose" and update.get("model_calls"):
            call = update["model_calls"][-1]
            if "ms" in call:
                self.model_latency.observe(call["ms"] / 1000)
            self.model_tokens.labels("prompt").inc(call.get("prompt_tokens", 0))
            self.model_tokens.labels("completion").inc(call.get("completion_tokens", 0))


class MeteredRegistry(ToolRegistry):
    """The tool registry, counting every call's result (errors by tool) as it goes."""

    def __init__(self, inner: ToolRegistry, metrics: Metrics):
        self.__dict__.update(inner.__dict__)
        self._metrics = metrics

    def call(self, ctx: Any, name: str, args: dict[str, Any] | str | None) -> ToolResult:
        result = super().call(ctx, name, args)
        self._metrics.tool_calls.labels(name, result.status).inc()
        if result.status == "error":
            self._metrics.tool_errors.labels(name).inc()
        return result
