"""Named scenario splits for training and evaluation, leak-free by construction, and the one
`scenarios()` that `run --batch`, `trajectories collect`, `eval` and the loop all draw from.

Evaluation uses seeds (worlds) the training pool never draws: `held-out` is in distribution
(targets and fault types training sees), `held-out-targets` and `held-out-faults` the scenarios
that touch a target or fault type training never sees (one with both counts as a held-out
fault); the training pool drops every scenario that touches either. Each world gives every fault type on
every valid target, plus scenarios with two incidents at once and incidents with a red herring
composed in. `confirm` is `held-out` drawn from two more unseen worlds that no comparison used
to choose a checkpoint reads: reusing one split to pick among many checkpoints flatters the one
picked, so a final candidate is confirmed there once. `held_out()` says whether a recorded run
belongs to evaluation; exports for training refuse those."""

from __future__ import annotations

import random
from collections.abc import Iterable
from enum import StrEnum

from opsagent.sandbox.build import build_world
from opsagent.sandbox.faults import FAULTS, get_fault
from opsagent.sandbox.scenario import FaultSpec, ScenarioSpec, generate, split
from opsagent.trajectories.models import Environment

TRAIN_SEEDS = range(0, 1000)
HELD_OUT_SEEDS = range(1000, 1002)
CONFIRM_SEEDS = range(1002, 1004)
EVAL_SEEDS = range(HELD_OUT_SEEDS.start, CONFIRM_SEEDS.stop)
HELD_OUT_TARGETS = {"payment", "recommendation"}
HELD_OUT_FAULTS = {"redis_eviction", "readiness_probe"}
COMPOSED_PER_WORLD = 3  # two-incident scenarios, and as many incident + red herring ones
SEVERITIES = (0.6, 1.0, 1.0, 1.5, 2.0)  # training varies how hard a fault hits (evaluation: 1.0)


class Split(StrEnum):
    TRAIN = "train"
    HELD_OUT = "held-out"  # unseen worlds (seeds)
    HELD_OUT_TARGETS = "held-out-targets"  # ... on targets never trained on
    HELD_OUT_FAULTS = "held-out-faults"  # ... with fault types never trained on
    CONFIRM = "confirm"  # held-out's kind, on worlds kept for a final candidate's one comparison


NAMES = tuple(s.value for s in Split)
EVAL_SPLITS = (Split.HELD_OUT, Split.HELD_OUT_TARGETS, Split.HELD_OUT_FAULTS)


def _composed(seed: int, faults: list[str]) -> list[ScenarioSpec]:
    """A world's two-incident scenarios (different targets) and incidents with a red herring."""
    world = build_world(seed)
    rng = random.Random(f"composed:{seed}")
    incidents = [f for f in faults if FAULTS[f].is_incident]
    noise = [f for f in faults if not FAULTS[f].is_incident]
    out = []
    for _ in range(COMPOSED_PER_WORLD):
        a, b = rng.sample(incidents, 2)
        ta = rng.choice(get_fault(a).candidates(world))
        others = [t for t in get_fault(b).candidates(world) if t != ta]
        if others:
            out.append(ScenarioSpec(faults=[FaultSpec(type=a, target=ta),
                                            FaultSpec(type=b, target=rng.choice(others))], seed=seed))
        if noise:
            pair = (rng.choice(incidents), rng.choice(noise))
            faults = [FaultSpec(type=f, target=rng.choice(get_fault(f).candidates(world))) for f in pair]
            out.append(ScenarioSpec(faults=faults, seed=seed))
    return out


def _worlds(seeds: Iterable[int]) -> list[ScenarioSpec]:
    faults = sorted(FAULTS)
    seeds = list(seeds)
    return generate(faults, seeds) + [s for seed in seeds for s in _composed(seed, faults)]


def _sample(specs: list[ScenarioSpec], limit: int | None, seed: int) -> list[ScenarioSpec]:
    if limit is None or limit >= len(specs):
        return specs
    return sorted(random.Random(seed).sample(specs, limit), key=lambda s: (s.seed, s.id))


def scenarios(name: str, limit: int | None = None, seed: int = 0) -> list[ScenarioSpec]:
    """The split's scenarios (at most `limit`, a seeded sample), every fault's target explicit."""
    if name in (Split.HELD_OUT, Split.CONFIRM):  # in distribution: targets and fault types training sees
        seeds = HELD_OUT_SEEDS if name == Split.HELD_OUT else CONFIRM_SEEDS
        pool = [s for s in _worlds(seeds) if not _unseen(s)]
        return _sample(pool, limit, seed)
    if name in (Split.HELD_OUT_TARGETS, Split.HELD_OUT_FAULTS):
        seen_faults, unseen_faults = split(_worlds(HELD_OUT_SEEDS), "fault", HELD_OUT_FAULTS)
        if name == Split.HELD_OUT_FAULTS:
            return _sample(unseen_faults, limit, seed)
        return _sample(split(seen_faults, "target", HELD_OUT_TARGETS)[1], limit, seed)  # type: ignore[arg-type]
    if name == Split.TRAIN:
        per_world = len(_worlds([0]))
        worlds = max(1, min(len(TRAIN_SEEDS), -(-(limit or 50) * 3 // (2 * per_world))))
        seeds = sorted(random.Random(seed).sample(list(TRAIN_SEEDS), worlds))
        pool = [s for s in _worlds(seeds) if not held_out_spec(s)]
        return [_severities(s) for s in _sample(pool, limit, seed)]
    raise ValueError(f"unknown split {name!r}; choose one of {', '.join(NAMES)}")


def _severities(spec: ScenarioSpec) -> ScenarioSpec:
    """The spec with each incident fault's severity drawn (seeded by the spec)."""
    rng = random.Random(f"severity:{spec.id}")
    faults = [f.model_copy(update={"severity": rng.choice(SEVERITIES)}) if FAULTS[f.type].is_incident else f
              for f in spec.faults]
    return spec.model_copy(update={"faults": faults})


def _unseen(spec: ScenarioSpec) -> bool:
    return any(f.type in HELD_OUT_FAULTS or f.target in HELD_OUT_TARGETS for f in spec.faults)


def held_out_spec(spec: ScenarioSpec) -> bool:
    return spec.seed in EVAL_SEEDS or _unseen(spec)


def held_out(env: Environment) -> bool:
    """A recorded sandbox run on an evaluation world, target or fault type (a run with no
    record of its targets counts as held out: it cannot be shown not to be)."""
    if env.kind != "sandbox":
        return False
    return (env.seed is None or env.seed in EVAL_SEEDS or bool(set(env.faults) & HELD_OUT_FAULTS)
            or (bool(env.faults) and not env.targets) or bool(set(env.targets) & HELD_OUT_TARGETS))
