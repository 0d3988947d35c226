"""Scenarios: a seeded world with faults placed in its history, ready at "now" for an agent.

A scenario is fully determined by its spec (fault types, targets, severities, onsets, seed):
the same spec builds the same world, and the same actions then produce the same future.
"""

from __future__ import annotations

import functools
import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from opsagent.sandbox.actions import Action, ActionResult, parse_action
from opsagent.sandbox.build import DEFAULT_START, build_world
from opsagent.sandbox.errors import InvalidError
from opsagent.sandbox.faults import FAULTS, Fault, GroundTruth, get_fault
from opsagent.sandbox.world import Health, World, gc_paused

DEFAULT_NOW = DEFAULT_START + 1800


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="fault id from the catalogue, e.g. memory_leak")
    target: str | None = Field(default=None, description="service or node; seeded choice if unset")
    severity: float = Field(default=1.0, gt=0, le=3)
    onset_s: int | None = Field(default=None, ge=0, description="seconds before now")


class ScenarioSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    faults: list[FaultSpec] = Field(default_factory=list, description="empty: a healthy cluster")
    seed: int = 0
    history_s: int = Field(default=1800, ge=0, le=6 * 3600)
    dt_s: float = Field(default=15.0, ge=1, le=60)
    now: float = Field(default=DEFAULT_NOW, description="epoch seconds the history ends at")

    @property
    def id(self) -> str:
        parts = [f.type + (f"@{f.target}" if f.target else "")
                 + (f"*{f.severity:g}" if f.severity != 1 else "") for f in self.faults] or ["healthy"]
        return "+".join(parts) + f"#s{self.seed}"


class Scenario:
    def __init__(self, spec: ScenarioSpec, world: World, faults: list[Fault]):
        self.spec = spec
        self.world = world
        self.faults = faults
        self.actions: list[ActionResult] = []
        # The hook holds the faults, not the scenario: no reference cycle, so a finished
        # episode is freed at once instead of waiting for the cyclic collector.
        world.tick_hooks = [functools.partial(_drive, faults)]

    @classmethod
    def build(cls, spec: ScenarioSpec) -> Scenario:
        world = build_world(spec.seed, start_time=spec.now - spec.history_s, dt_s=spec.dt_s)
        choose = random.Random(f"{spec.seed}:{spec.id}")
        faults = []
        for i, fs in enumerate(spec.faults):
            fault_cls = get_fault(fs.type)
            options = fault_cls.candidates(world)
            target = fs.target or options[choose.randrange(len(options))]
            if target not in options:
                raise InvalidError("Scenario", spec.id, f"faults[{i}].target",
                                   f"{target!r} is not a valid target for {fs.type}; "
                                   f"valid: {', '.join(options)}")
            before = fs.onset_s if fs.onset_s is not None else choose.randint(*fault_cls.onset_range)
            onset = max(world.now + world.dt, spec.now - before)
            faults.append(fault_cls(target, fs.severity, onset))
        scenario = cls(spec, world, faults)
        with gc_paused():
            while world.now < spec.now - 1e-6:
                world.tick()
        return scenario

    # ---- what an operator does --------------------------------------------------------
    def apply(self, action: Action | dict[str, Any]) -> ActionResult:
        """Apply one action now. Raises pydantic.ValidationError or SandboxError, with the
        world unchanged, when the action is malformed or names something that is not there."""
        act = parse_action(action) if isinstance(action, dict) else action
        result = act.apply(self.world)
        self.actions.append(result)
        return result

    def advance(self, seconds: float) -> None:
        self.world.advance(seconds)

    # ---- what graders know ------------------------------------------------------------
    @property
    def is_incident(self) -> bool:
        return any(f.is_incident for f in self.faults)

    def mitigated(self) -> bool:
        """Every real fault's cause is removed and the workloads it hit have recovered."""
        return all(f.mitigated(self.world) for f in self.faults if f.is_incident)

    def ground_truth(self) -> list[GroundTruth]:
        return [f.ground_truth(self.world) for f in self.faults]

    def health(self) -> Health:
        return self.world.health()


def _drive(faults: list[Fault], world: World) -> None:
    """Inject each fault at its onset, then let it act every tick."""
    for fault in faults:
        if fault.injected:
            fault.tick(world)
        elif world.now >= fault.onset:
            fault.inject(world)
            fault.injected = True


# ---- generating and splitting scenario sets ------------------------------------------------
SplitBy = Literal["fault", "target", "seed"]


def generate(
    fault_types: list[str] | None = None,
    seeds: list[int] | range = range(3),
    targets: list[str] | None = None,
    with_noise: bool = False,
) -> list[ScenarioSpec]:
    """One spec per (fault type, valid target, seed). Targets come from the world each seed
    builds, since placement (and so which nodes are safe targets) depends on the seed."""
    types = fault_types or sorted(k for k, f in FAULTS.items() if f.is_incident)
    specs = []
    for seed in seeds:
        world = build_world(seed)
        for ftype in types:
            for target in get_fault(ftype).candidates(world):
                if targets is not None and target not in targets:
                    continue
                faults = [FaultSpec(type=ftype, target=target)]
                if with_noise:
                    noise = [k for k, f in FAULTS.items() if not f.is_incident]
                    faults.append(FaultSpec(type=noise[seed % len(noise)]))
                specs.append(ScenarioSpec(faults=faults, seed=seed))
    return specs


def split(
    specs: list[ScenarioSpec], by: SplitBy, held_out: set[str] | set[int]
) -> tuple[list[ScenarioSpec], list[ScenarioSpec]]:
    """(train, held_out) with no leakage: a spec is held out when any of its faults matches."""

    def key(spec: ScenarioSpec) -> set:
        if by == "seed":
            return {spec.seed}
        if by == "fault":
            return {f.type for f in spec.faults}
        return {f.target for f in spec.faults}

    train = [s for s in specs if not key(s) & held_out]
    rest = [s for s in specs if key(s) & held_out]
    return train, rest
