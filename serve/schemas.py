"""What the HTTP API takes and gives, as pydantic models (the OpenAPI document is made from
these). Alertmanager's payload keeps unknown fields: newer releases add some."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from opsagent.agent.models import complete_decision

Severity = Literal["critical", "warning", "info", "none"]
MAX_DEPTH = 12  # Alertmanager's own payload nests 4 deep; extra fields may add a little


def _depth(value: Any) -> int:
    """How deep a JSON value nests (iteratively: a hostile payload must not exhaust the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:  # deeper is refused anyway; no need to walk it
                stack += [(v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def shallow(data: Any) -> Any:
    if _depth(data) > MAX_DEPTH:
        raise ValueError(f"the payload nests deeper than {MAX_DEPTH} levels")
    return data


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = {}
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook notification, version 4."""

    model_config = ConfigDict(extra="allow")  # e.g. notification_reason, routeLabels in newer releases

    version: Literal["4"]
    groupKey: str = Field(min_length=1, max_length=4096)
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=5000)

    @model_validator(mode="before")
    @classmethod
    def _shallow(cls, data: Any) -> Any:
        return shallow(data)


class GenericAlert(BaseModel):
    """One alert from any other source."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="becomes the alertname label")
    status: Literal["firing", "resolved"] = "firing"
    severity: Severity = "warning"
    labels: dict[str, str] = {}
    summary: str = Field(default="", max_length=4000)
    description: str = Field(default="", max_length=4000)
    starts_at: dt.datetime | None = None

    def as_alertmanager(self) -> dict[str, Any]:
        labels = {**self.labels, "alertname": self.name, "severity": self.severity}
        starts = (self.starts_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        return {
            "status": self.status,
            "labels": labels,
            "annotations": {"summary": self.summary, "description": self.description},
            "startsAt": starts.isoformat().replace("+00:00", "Z"),
            "fingerprint": hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16],
        }


class GenericAlerts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(default="generic", min_length=1, max_length=100)
    group: str | None = Field(
        default=None,
        max_length=400,
        description="alerts of one group share an incident; default: by alert name and namespace",
    )
    alerts: list[GenericAlert] = Field(min_length=1, max_length=1000)


class Accepted(BaseModel):
    accepted: int = Field(description="the inbox item; it is handled in the background")
    alerts: int


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=8000)
    incident: str | None = Field(
        default=None, max_length=200, description="an earlier incident to talk about"
    )


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "edit"]
    reason: str | None = Field(default=None, max_length=2000)
    args: dict[str, Any] | None = Field(default=None, description="edit: the changed arguments (gated again)")

    @model_validator(mode="after")
    def _complete(self) -> DecisionRequest:
        return complete_decision(self)


class ResolutionRequest(BaseModel):
    """The SRE's resolution of an incident, which grading uses."""

    model_config = ConfigDict(extra="forbid")

    mitigated: bool
    correct_diagnosis: bool
    components: list[str] = Field(default=[], max_length=50)
    note: str = Field(default="", max_length=4000)


class Incident(BaseModel):
    id: str
    source: str
    title: str
    status: str
    outcome: str | None
    created: float
    updated: float
    alerts_resolved: bool | None = None


class TimelineEntry(BaseModel):
    at: float | None
    kind: str
    summary: str
    data: dict[str, Any] = {}


class ChartSeries(BaseModel):
    labels: dict[str, str]
    points: list[tuple[float, float]] = Field(description="(unix time, value), environment clock")


class ChartPanel(BaseModel):
    title: str
    expr: str = Field(description="the PromQL the panel plots")
    unit: str = ""
    link: str = Field(default="", description="the alert's generatorURL (Prometheus graph), if any")
    series: list[ChartSeries] = []
    error: str | None = Field(default=None, description="why the range query failed, if it did")


class Marker(BaseModel):
    at: float
    kind: str = Field(description="onset (of a fault, where the environment knows it), firing, "
                      "resolved, diagnosis, approval, action, verification or outcome")
    label: str


class Charts(BaseModel):
    start: float
    end: float
    panels: list[ChartPanel]
    markers: list[Marker]


class ModelInfo(BaseModel):
    id: str
    kind: str = Field(description="base | sft | dpo")
    base: str | None
    parent: str | None
    lineage: list[str] = Field(description="this checkpoint, its parent, ... back to its base")
    datasets: dict[str, str] = Field(description="dataset path -> content hash")
    profile: str
    path: str
    commit: str | None
    train_metrics: dict[str, Any]
    eval_metrics: dict[str, Any] = Field(description="split key (e.g. held-out@10) -> task rates")
    created: float
    current: bool
    learning_curve: bool = Field(description="GET /v1/models/{id}/curve serves its chart")


class Models(BaseModel):
    current: str | None
    checkpoints: list[ModelInfo]


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    split: str = Field(default="", max_length=80,
                       description="eval key to compare; default: the first held-out one")


class PromoteResult(BaseModel):
    current: str
    split: str
    reasons: list[str]
    by: str


class Link(BaseModel):
    kind: str = Field(description="prometheus, alertmanager, silence or dashboard")
    title: str
    url: str


class IncidentDetail(Incident):
    timeline: list[TimelineEntry]
    links: list[Link] = Field(default=[], description="the alerts' Prometheus graphs, the alerts and a "
                              "silence form in Alertmanager, the named objects in the dashboard")
    pending_approvals: list[dict[str, Any]]
    report: str | None
    trajectory: str | None = Field(description="the recorded trajectory's id, once it is stored")


class Approval(BaseModel):
    id: str
    incident: str
    status: str
    created: float
    decided: float | None
    payload: dict[str, Any]
    decision: dict[str, Any] | None
