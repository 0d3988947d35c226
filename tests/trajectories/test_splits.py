"""The splits cannot leak: no held-out world (seed), held-out target or held-out fault type is
ever drawn for training, and an export refuses recorded runs of evaluation scenarios even when
they sit in the same store as the training runs (as `opsagent eval` leaves them)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from opsagent.trajectories.export import export
from opsagent.trajectories.models import Environment, Grade
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.splits import (
    CONFIRM_SEEDS,
    EVAL_SEEDS,
    HELD_OUT_FAULTS,
    HELD_OUT_SEEDS,
    HELD_OUT_TARGETS,
    Split,
    held_out,
    scenarios,
)
from opsagent.trajectories.store import TrajectoryStore
from tests.trajectories.test_store import state

EVALUATED = ("held-out", "held-out-targets", "held-out-faults", "confirm")


def _touches(spec, *, seeds=(), targets=(), faults=()) -> bool:
    return spec.seed in seeds or any(f.target in targets or f.type in faults for f in spec.faults)


def test_training_never_draws_an_evaluation_world_target_or_fault_type():
    train = [s for seed in range(3) for s in scenarios("train", 400, seed=seed)]
    assert len(train) == 1200 and all(f.target for s in train for f in s.faults)
    assert not [s.id for s in train if _touches(s, seeds=EVAL_SEEDS, targets=HELD_OUT_TARGETS,
                                                faults=HELD_OUT_FAULTS)]
    assert any(len(s.faults) == 2 for s in train)  # composed scenarios are drawn too


def test_the_evaluation_splits_are_disjoint_and_each_is_what_it_says():
    held = {name: scenarios(name) for name in (Split.HELD_OUT, Split.HELD_OUT_TARGETS, Split.HELD_OUT_FAULTS)}
    confirm = scenarios(Split.CONFIRM)
    ids = [s.id for specs in [*held.values(), confirm] for s in specs]
    assert len(ids) == len(set(ids))  # one row each, no scenario counted twice
    assert all(s.seed in HELD_OUT_SEEDS for specs in held.values() for s in specs)
    assert {s.seed for s in confirm} == set(CONFIRM_SEEDS) and not set(CONFIRM_SEEDS) & set(HELD_OUT_SEEDS)
    unseen = {"targets": HELD_OUT_TARGETS, "faults": HELD_OUT_FAULTS}
    assert not [s for s in [*held[Split.HELD_OUT], *confirm] if _touches(s, **unseen)]
    # the same kind of scenario as held-out, as many: a comparison there reads like one on held-out
    kinds = [{s.faults[0].type for s in specs if len(s.faults) == 1}
             for specs in (held[Split.HELD_OUT], confirm)]
    assert kinds[0] == kinds[1] and abs(len(confirm) - len(held[Split.HELD_OUT])) <= 2
    assert all(_touches(s, targets=HELD_OUT_TARGETS) for s in held[Split.HELD_OUT_TARGETS])
    assert all(_touches(s, faults=HELD_OUT_FAULTS) for s in held[Split.HELD_OUT_FAULTS])
    assert any(len(s.faults) == 2 for s in held[Split.HELD_OUT])  # two-fault scenarios are evaluated
    assert scenarios("held-out", 10, seed=1) == scenarios("held-out", 10, seed=1)  # seeded samples


def _environment(spec) -> Environment:
    return Environment(kind="sandbox", scenario=spec.id, seed=spec.seed, faults=[f.type for f in spec.faults],
                       targets=[f.target for f in spec.faults])


def test_an_export_drops_every_run_of_an_evaluation_scenario(tmp_path):
    store = TrajectoryStore(tmp_path / "store")
    recorder = Recorder(store)
    specs = {"train": scenarios("train", 6), **{name: scenarios(name, 3) for name in EVALUATED}}
    for name, group in specs.items():
        for spec in group:
            incident = f"{name}:{spec.id}"
            recorder.start(incident, "scenario", "task", [], _environment(spec), "expert", [])
            recorder.finish(incident, state(f"pods of {spec.id}"))
            recorder.grade(incident, Grade(source="ground-truth", detected=True, localised=True,
                                           analysed=True, mitigated=True))
    cluster = Environment(kind="cluster")  # a real incident: not a scenario, always usable
    recorder.start("real", "alertmanager", "task", [], cluster, "expert", [])
    recorder.finish("real", state("pods of a real cluster"))
    recorder.grade("real", Grade(source="sre-label", detected=True, localised=True, mitigated=True))
    counts = export(list(store.iter()), tmp_path / "data")
    rows = pq.read_table(tmp_path / "data" / "sft.parquet").to_pylist()
    assert sorted(r["id"] for r in rows) == sorted(["real", *(f"train:{s.id}" for s in specs["train"])])
    assert counts["dropped"]["held-out scenario"] == 12
    text = json.dumps(rows)
    assert not [s.id for name in EVALUATED for s in specs[name] if s.id in text]


def test_a_run_that_does_not_say_where_it_ran_counts_as_held_out():
    assert held_out(Environment(kind="sandbox", scenario="memory_leak#s5", seed=5, faults=["memory_leak"]))
    assert held_out(Environment(kind="sandbox", scenario="x", faults=[]))  # no seed
    assert not held_out(Environment(kind="sandbox", scenario="memory_leak@cart#s5", seed=5,
                                    faults=["memory_leak"], targets=["cart"]))


def test_training_varies_how_hard_faults_hit_and_evaluation_does_not():
    train = scenarios("train", 300, seed=2)
    severities = {f.severity for s in train for f in s.faults}
    assert {0.6, 1.0, 1.5, 2.0} <= severities
    assert len({s.id for s in train}) == len(train)  # the severity is part of the id
    assert all(f.severity == 1.0 for name in ("held-out", "held-out-targets", "held-out-faults")
               for s in scenarios(name) for f in s.faults)
