"""One incident in the sandbox, end to end: the scenario's alerts (as Alertmanager delivers
them) open the incident, the graph handles it with the chosen policy through the real
protocols, and the result is compared with the ground truth. Simulated time runs ahead of the
wall clock while the agent waits, so an episode takes seconds, not the minutes it simulates."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from opsagent.agent.config import AgentConfig
from opsagent.agent.deps import Deps
from opsagent.agent.gate import GatePolicy, MemoryHistory
from opsagent.agent.react import Policy
from opsagent.agent.runner import Decider, IncidentRunner, Update
from opsagent.agent.sim import augment
from opsagent.agent.sim.oracle import Oracle
from opsagent.agent.store import Store
from opsagent.agent.triage import describe
from opsagent.sandbox.prom.alerts import scenario_alerts
from opsagent.sandbox.runtime import Sandbox
from opsagent.sandbox.scenario import ScenarioSpec
from opsagent.tools.catalog import default_registry
from opsagent.tools.config import sandbox_config
from opsagent.tools.context import ToolContext
from opsagent.tools.registry import ToolRegistry
from opsagent.trajectories.grade import grade_against_truth
from opsagent.trajectories.models import Environment, Grade, Trajectory
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.records import RECORDED_FIELDS


class EpisodeResult(BaseModel):
    """One episode: what ran, and its Grade (trajectories.grade, the one grader)."""

    incident: str
    scenario: str
    faults: list[str]
    policy: str
    outcome: str | None
    waiting_for_approval: bool
    grade: Grade
    seconds: float


def run_episode(box: Sandbox, spec: ScenarioSpec, policy: str, cfg: AgentConfig, store: Store,
                checkpointer: Any, decide: Decider, on_update: Update | None = None,
                registry: ToolRegistry | None = None, gate_policy: GatePolicy | None = None,
                give_up_s: float | None = None, recorder: Recorder | None = None,
                implementation: Policy | None = None, now: float | None = None,
                variant: str | None = None, ctx: ToolContext | None = None) -> EpisodeResult:
    """`box` is a running sandbox without its wall clock (clock=False); it is loaded with `spec`,
    its history ending at `now` (default: the wall clock; runs given the same `now` see the same
    world, word for word). `implementation`: a policy object to run under the name `policy`
    (else built from it). `variant`: the input as a chat question or paraphrased (augment.KINDS).
    `ctx`: the tools' clients for this sandbox, kept across episodes (TLS set-up costs ~0.2 s)."""
    started = time.perf_counter()
    box.load(spec.model_copy(update={"now": now or time.time()}), episode=spec.id)
    scenario = box.scenario
    registry = registry or default_registry()
    own = ctx is None
    if ctx is None:
        ctx = tool_context(box)
    try:
        alerts = scenario_alerts(scenario)
        if implementation is None and policy == "oracle":
            implementation = Oracle(scenario)
        deps = Deps.from_config(cfg, ctx, store, policy, registry=registry, gate_policy=gate_policy,
                                implementation=implementation,
                                clock=lambda: box.scenario.world.now, wait=box.advance,
                                # Each episode is its own world: what another episode did to its own
                                # copy of a workload (same names, same simulated hours) is not this
                                # one's history, or a collection's 4th run on a target is refused.
                                history=MemoryHistory())
        runner = IncidentRunner(deps, checkpointer, recorder)
        incident = f"{spec.id}-{uuid.uuid4().hex[:8]}"
        env = Environment(kind="sandbox", scenario=spec.id, seed=spec.seed, variant=variant,
                          faults=[f.type for f in spec.faults], targets=[f.target for f in scenario.faults])
        if variant is None:
            runner.start(incident, describe(alerts), alerts, source="scenario", on_update=on_update,
                         environment=env)
        else:
            v = augment.variant(alerts, variant, spec.seed)
            runner.start(incident, v.task, v.alerts, source=v.source, on_update=on_update, environment=env)
        state = runner.drive(incident, decide, on_update, give_up_s=give_up_s)
        truths = [t.model_dump(mode="json") for t in box.scenario.ground_truth()]
        stored = recorder.store.get(incident) if recorder is not None else None
        recorded = stored is not None and stored.complete
        trajectory = stored if recorded else _unrecorded(incident, state, env, policy)
        graded = grade_against_truth(trajectory, truths, box.scenario.mitigated())  # type: ignore[arg-type]
        if recorded:
            recorder.grade(incident, graded, truths)  # type: ignore[union-attr]
        return EpisodeResult(incident=incident, scenario=spec.id, faults=[f.type for f in spec.faults],
                             policy=policy, outcome=state.get("outcome"),
                             waiting_for_approval=runner.waiting(incident) is not None, grade=graded,
                             seconds=round(time.perf_counter() - started, 3))
    finally:
        if own:
            ctx.close()


def _unrecorded(incident: str, state: dict[str, Any], env: Environment, policy: str) -> Trajectory:
    """The run as a trajectory when none was recorded (or it is still open: waiting for an
    approval), so that it is graded by the same grader all the same."""
    fields = {k: state[k] for k in RECORDED_FIELDS if state.get(k) is not None}
    started = float(state.get("started_at") or 0.0)
    return Trajectory.model_validate({"id": incident, "incident": incident, "created": started,
                                      "finished": started, "source": "scenario", "input": {},
                                      "environment": env.model_dump(), "policy": policy, **fields})


def tool_context(box: Sandbox) -> ToolContext:
    """The tools' clients for a sandbox, at its simulated clock (whichever scenario it serves)."""
    return ToolContext(sandbox_config(box.run_dir), now=lambda: box.scenario.world.now)


def open_sandbox(run_dir: Path, spec: ScenarioSpec, prometheus: bool = True) -> Sandbox:
    return Sandbox(spec.model_copy(update={"now": time.time()}), run_dir, clock=False,
                   prometheus=prometheus).start()
