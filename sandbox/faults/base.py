"""What every fault is: parameters, how it changes the world, and its ground truth.

A fault changes the world the way the real cause would (a rollout of a defective image, an
edited ConfigMap, a failing NIC); the symptoms then come from the simulation itself, so an
action that really removes the cause really clears them.
"""

from __future__ import annotations

import operator
import re
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import BaseModel, Field

from opsagent.sandbox.actions import Action, Scale
from opsagent.sandbox.metrics import Frame, render
from opsagent.sandbox.world import World


class Level(StrEnum):
    """System level of the root cause, after AIOpsLab."""

    HARDWARE = "Hardware"
    OS = "Operating System"
    VIRTUALIZATION = "Virtualization"
    APPLICATION = "Application"


class FaultType(StrEnum):
    """Fault type of the root cause, after AIOpsLab."""

    MISCONFIGURATION = "Misconfiguration"
    CODE_DEFECT = "Code Defect"
    AUTHENTICATION = "Authentication Issue"
    NETWORK_STORAGE = "Network/Storage Issue"
    OPERATION_ERROR = "Operation Error"
    DEPENDENCY = "Dependency Problem"


Category = Literal[
    "application", "configuration", "resource", "node", "network", "dependency", "operator",
    "noise",
]


class MetricCheck(BaseModel):
    """A condition on the metric history: the last value, or its increase over `window_s`,
    optionally divided by the increase of `per` (for ratios such as errors / requests)."""

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    op: Literal[">", "<", ">=", "<="] = ">"
    value: float = 0.0
    over: Literal["last", "increase"] = "last"
    per: str | None = None
    window_s: int = 300


class Symptoms(BaseModel):
    """What a real incident of this kind shows; tests check that the simulation produces it."""

    events: list[str] = Field(default_factory=list, description="event reasons")
    logs: list[str] = Field(default_factory=list, description="regexes matched by some line")
    metrics: list[MetricCheck] = Field(default_factory=list)
    no_events_because: str = ""


class GroundTruth(BaseModel):
    """What graders (and only graders, or the privileged oracle) may know about a fault."""

    fault: str
    is_incident: bool
    category: Category
    level: Level | None
    fault_type: FaultType | None
    components: list[str] = Field(description="namespace/Kind/name of the faulty objects")
    target: str
    severity: float
    onset: float
    summary: str
    alerts: list[str] = Field(description="alerts a real cluster fires for it, given time")
    mitigations: list[list[dict]] = Field(description="alternatives; each a sequence of actions")
    harmful: list[dict] = Field(description="actions that make this incident worse")


class Fault:
    """Base class. Subclasses set the class attributes and override `inject`; most also
    override `tick`, `mitigated`, `mitigations` and `harmful`."""

    id: ClassVar[str]
    category: ClassVar[Category]
    level: ClassVar[Level | None]
    fault_type: ClassVar[FaultType | None]
    summary: ClassVar[str]
    is_incident: ClassVar[bool] = True
    onset_range: ClassVar[tuple[int, int]] = (900, 1500)  # seconds before "now"
    # The alerts a real cluster fires for this fault (kube-prometheus and the shop's rules),
    # each with a label value it must carry ("{target}" stands for the fault's target), and
    # how long before "now" the fault must start for their `for:` to have elapsed.
    alerts: ClassVar[dict[str, str]] = {}
    alert_onset_s: ClassVar[int] = 2400

    def __init__(self, target: str, severity: float = 1.0, onset: float = 0.0):
        self.target = target
        self.severity = severity
        self.onset = onset
        self.injected = False
        self.state: dict[str, object] = {}

    # ---- description ------------------------------------------------------------------
    @classmethod
    def candidates(cls, world: World) -> list[str]:
        """Targets this fault can be placed on, in a stable order."""
        raise NotImplementedError(cls.__name__)

    def components(self, world: World) -> list[str]:
        ns = world.profiles[self.target].namespace
        kind = world.profiles[self.target].kind
        return [f"{ns}/{kind}/{self.target}"]

    def symptoms(self, world: World) -> Symptoms:
        raise NotImplementedError(type(self).__name__)

    # ---- behaviour ----------------------------------------------------------------------
    def inject(self, world: World) -> None:
        raise NotImplementedError(type(self).__name__)

    def tick(self, world: World) -> None:
        """Called every tick after injection; most faults need nothing here."""

    def mitigated(self, world: World) -> bool:
        raise NotImplementedError(type(self).__name__)

    def mitigations(self, world: World) -> list[list[Action]]:
        raise NotImplementedError(type(self).__name__)

    def harmful(self, world: World) -> list[Action]:
        """By default: taking the faulty workload away altogether."""
        p = world.profiles[self.target]
        return [Scale(namespace=p.namespace, name=p.name, replicas=0, kind=p.kind)]

    def ground_truth(self, world: World) -> GroundTruth:
        return GroundTruth(
            fault=self.id, is_incident=self.is_incident, category=self.category,
            level=self.level, fault_type=self.fault_type, components=self.components(world),
            target=self.target, severity=self.severity, onset=self.onset, summary=self.summary,
            alerts=sorted(self.alerts),
            mitigations=[[a.model_dump() for a in seq] for seq in self.mitigations(world)],
            harmful=[a.model_dump() for a in self.harmful(world)],
        )


FAULTS: dict[str, type[Fault]] = {}


def register(cls: type[Fault]) -> type[Fault]:
    if cls.id in FAULTS:
        raise ValueError(f"fault id {cls.id!r} registered twice")
    FAULTS[cls.id] = cls
    return cls


def _metric_sum(frame: Frame, name: str, labels: dict[str, str]) -> float:
    return sum(s.value for s in render(frame)
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def metric_value(world: World, check: MetricCheck) -> float:
    """The value a MetricCheck compares, over the world's metric history."""
    last = world.frames[-1]
    if check.over == "last":
        return _metric_sum(last, check.name, check.labels)
    start = next((f for f in world.frames if f.t >= last.t - check.window_s), world.frames[0])
    growth = _metric_sum(last, check.name, check.labels) - _metric_sum(start, check.name, check.labels)
    if check.per is None:
        return growth
    per = _metric_sum(last, check.per, check.labels) - _metric_sum(start, check.per, check.labels)
    if check.per == check.name:  # a share of one label value among all of them
        unfiltered = {k: v for k, v in check.labels.items() if k != "code"}
        per = _metric_sum(last, check.per, unfiltered) - _metric_sum(start, check.per, unfiltered)
    return growth / per if per else 0.0


def missing_symptoms(world: World, symptoms: Symptoms, since: float) -> list[str]:
    """Which of the expected symptoms the world does not show (events and logs since `since`)."""
    missing = []
    reasons = {e.reason for e in world.events if e.last_timestamp >= since}
    missing += [f"event {r}" for r in symptoms.events if r not in reasons]
    lines = [r.message for r in world.logs.query(since=since)]
    for pattern in symptoms.logs:
        rx = re.compile(pattern)
        if not any(rx.search(line) for line in lines):
            missing.append(f"log /{pattern}/")
    ops = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}
    for check in symptoms.metrics:
        value = metric_value(world, check)
        if not ops[check.op](value, check.value):
            missing.append(f"metric {check.name}{check.labels} {check.over}={value:.3g} "
                           f"not {check.op} {check.value}")
    return missing
