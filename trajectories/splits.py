"""Named scenario splits for training and evaluation, leak-free by construction: the held-out
suite uses seeds (worlds) the training pool never draws; `held-out-targets` and
`held-out-faults` also keep whole targets or fault types out of training."""

from __future__ import annotations

import random
from enum import StrEnum

from opsagent.sandbox.faults import FAULTS
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec, generate, split

TRAIN_SEEDS = range(0, 1000)
HELD_OUT_SEEDS = range(1000, 1002)
HELD_OUT_TARGETS = {"payment", "recommendation"}
HELD_OUT_FAULTS = {"redis_eviction", "readiness_probe"}


class Split(StrEnum):
    TRAIN = "train"
    HELD_OUT = "held-out"  # unseen worlds (seeds)
    HELD_OUT_TARGETS = "held-out-targets"  # ... and targets never trained on
    HELD_OUT_FAULTS = "held-out-faults"  # ... and fault types never trained on


NAMES = tuple(s.value for s in Split)


def _sample(specs: list[ScenarioSpec], limit: int | None, seed: int) -> list[ScenarioSpec]:
    if limit is None or limit >= len(specs):
        return specs
    return sorted(random.Random(seed).sample(specs, limit), key=lambda s: s.id)


def scenarios(name: str, limit: int | None = None, seed: int = 0) -> list[ScenarioSpec]:
    """The split's scenarios: every fault type (incidents and red herrings) on every valid target."""
    faults = sorted(FAULTS)
    if name == "held-out":
        return _sample(generate(faults, HELD_OUT_SEEDS), limit, seed)
    if name in ("held-out-targets", "held-out-faults"):
        by, keys = ("target", HELD_OUT_TARGETS) if name == "held-out-targets" else ("fault", HELD_OUT_FAULTS)
        return _sample(split(generate(faults, HELD_OUT_SEEDS), by, keys)[1], limit, seed)  # type: ignore[arg-type]
    if name == "train":
        worlds = max(1, min(len(TRAIN_SEEDS), (limit or 50) // 10 + 1))  # ~10 scenarios a world
        seeds = sorted(random.Random(seed).sample(list(TRAIN_SEEDS), worlds))
        pool = split(generate(faults, seeds), "target", HELD_OUT_TARGETS)[0]
        pool = split(pool, "fault", HELD_OUT_FAULTS)[0]
        return _sample(pool, limit, seed)
    raise ValueError(f"unknown split {name!r}; choose one of {', '.join(NAMES)}")


def every_fault(n: int, seed: int = 0, faults: list[str] | None = None) -> list[ScenarioSpec]:
    """N scenarios cycling through every fault type (incidents and red herrings) on seeded
    random worlds and targets: a quick mixed batch, not a split (it draws held-out targets too)."""
    types = faults or sorted(FAULTS)
    rng = random.Random(seed)
    return [ScenarioSpec(faults=[FaultSpec(type=types[i % len(types)])], seed=rng.randrange(10**6))
            for i in range(n)]
