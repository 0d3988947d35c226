"""One iteration of the loop: collect trajectories with the teacher, the perturbed teacher and
the current checkpoint in parallel sandboxes, export in the checkpoint's prompt profile, SFT
then DPO, evaluate parent, SFT and DPO on the three held-out splits through one vLLM server
(adapters loaded at run time), draw the learning curve, promote if better in distribution with
no safety regression on any split. Iterations chain: the promoted checkpoint is the next one's `current`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from opsagent.agent.config import AgentConfig
from opsagent.agent.sim.batch import Job, run_jobs, run_splits
from opsagent.train.base_models import NAMES as BASES
from opsagent.train.base_models import import_base
from opsagent.train.config import LoraSettings, stage_config
from opsagent.train.curve import draw
from opsagent.train.promote import PromotionVerdict, decide_on_splits, measured_under
from opsagent.train.registry import Checkpoint, ModelRegistry
from opsagent.train.serving import AttachedServer, ModelServer, ServerConfig, serve
from opsagent.train.trainer import load_tokenizer, train
from opsagent.trajectories.export import Filters, export
from opsagent.trajectories.grade import summarise
from opsagent.trajectories.splits import EVAL_SPLITS, scenarios
from opsagent.trajectories.store import TrajectoryStore

console = Console()


class LoopConfig(BaseModel):
    base: str = "tiny"
    episodes: int = 20
    held_out: int = 10
    workers: int = 2
    sft_steps: int = 30
    dpo_steps: int = 10
    learning_rate: float = 2e-4
    max_length: int = 8192
    lora: LoraSettings = LoraSettings()
    seed: int = 0


def held_out(
    server: ModelServer | AttachedServer,
    registry: ModelRegistry,
    checkpoint: Checkpoint,
    agent: AgentConfig,
    data_dir: Path,
    cfg: LoopConfig,
) -> dict[str, dict[str, Any]]:
    """The checkpoint's summary on each held-out split, served with its own prompt profile
    (recorded in the registry as `split@N`; an existing record is reused)."""
    served = agent.served_by(server.url, checkpoint.id, registry.prompt_profile(checkpoint))
    keys = {split: f"{split}@{cfg.held_out}" for split in EVAL_SPLITS}
    todo = {split: scenarios(split, cfg.held_out) for split, key in keys.items()
            if key not in checkpoint.eval_metrics}
    if todo:  # one pool of sandboxes for all the splits
        grades: dict[str, list[Any]] = {split: [] for split in todo}
        for split, result in run_splits(todo, "llm", served, data_dir, cfg.workers):
            grades[split].append(result.grade)
        measured = measured_under("llm", served)
        checkpoint = registry.record_eval(checkpoint.id, {keys[s]: {**summarise(g), "conditions": measured}
                                                          for s, g in grades.items()})
    return {split: checkpoint.eval_metrics[key] for split, key in keys.items()}


def iterate(
    cfg: LoopConfig,
    registry: ModelRegistry,
    data_dir: Path,
    agent: AgentConfig,
    server_cfg: ServerConfig | None = None,
    attached: AttachedServer | None = None,
) -> dict[str, Any]:
    """One iteration. `attached`: a running vLLM server to use (it serves the current
    checkpoint's base); by default one is started for the iteration and stopped after it."""
    if cfg.base in BASES and not (registry.root / "registry" / f"{cfg.base}.json").is_file():
        import_base(cfg.base, registry)
    if registry.current() is None:
        registry.set_current(cfg.base)
    current: Checkpoint = registry.current()  # type: ignore[assignment]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = data_dir / "loop" / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    specs = scenarios("train", cfg.episodes, seed=cfg.seed)
    console.print(f"[bold]collect[/] {len(specs)} scenarios with the teacher, the perturbed teacher "
                  f"and {current.id}, each scenario's runs on the same world")
    now = time.time()  # every run of a scenario sees the same world, so successes and failures pair
    server: ModelServer | AttachedServer
    if attached is not None:
        attached.serves(current)
        server = attached
    else:
        server = serve(registry, current, server_cfg, run_dir / "vllm.log").launch()  # loads meanwhile
    try:
        list(run_jobs([Job(spec=s, policies=["expert", "perturbed"], now=now) for s in specs], agent,
                      data_dir, cfg.workers))
    except BaseException:
        server.stop()
        raise
    with server:
        list(run_jobs([Job(spec=s, policies=["llm"], now=now) for s in specs],
                      agent.served_by(server.url, current.id), data_dir, cfg.workers))
        store = TrajectoryStore(data_dir / "trajectories")
        names = {s.id for s in specs}
        records = [t for t in store.iter() if t.environment.scenario in names and t.complete]
        tokenizer = load_tokenizer(registry.base_dir(current))
        shown = registry.prompt_profile(current)  # rows as the trained model will be prompted
        counts = export(records, run_dir / "data", Filters(max_chars=10**8, max_tokens=cfg.max_length),
                        tokenizer, rewrite=shown.rewrite, profile=shown.name)
        console.print(
            f"[bold]export[/] {counts['sft']} SFT rows, {counts['dpo']} DPO pairs; "
            f"dropped {counts['dropped']}"
        )
        if not counts["sft"] and not counts["dpo"]:
            verdict = PromotionVerdict(promote=False, reasons=["nothing to train on"], score=0.0,
                                       current_score=0.0)
            return {
                "current": current.id,
                "candidate": None,
                "before": {},
                "after": {},
                "exported": counts,
                "verdict": verdict.model_dump(),
                "run_dir": str(run_dir),
            }
        common = {
            "lora": cfg.lora,
            "max_length": cfg.max_length,
            "learning_rate": cfg.learning_rate,
            "batch_size": 1,
            "grad_accum": 1,
            "seed": cfg.seed,
        }
        candidate, trained = current, []
        for stage, steps in (("sft", cfg.sft_steps), ("dpo", cfg.dpo_steps)):  # DPO from the SFT result
            if counts[stage]:
                spec = stage_config(
                    {"stage": stage, "base": candidate.id, "dataset": run_dir / "data" / stage,
                     "max_steps": steps, **common}
                )
                candidate = train(spec, registry, f"{stage}-{stamp}")
                trained.append(candidate)
        server.load_adapter(candidate.id, candidate.path)  # no restart: same base
        console.print(f"[bold]evaluate[/] {current.id} and {candidate.id} on {cfg.held_out} scenarios of "
                      f"each of {', '.join(EVAL_SPLITS)}")
        evaluated = {c.id: held_out(server, registry, registry.get(c.id), agent, data_dir, cfg)
                     for c in [current, *trained]}  # the parent, the SFT and the DPO result
        before, after = evaluated[current.id], evaluated[candidate.id]
        curve = draw(trained, evaluated, run_dir / "learning-curve.png")
        for c in trained:
            registry.record_curve(c.id, curve)
    verdict = decide_on_splits(after, before)
    if verdict.promote:
        registry.set_current(candidate.id)
    return {
        "current": current.id,
        "candidate": candidate.id,
        "before": before,
        "after": after,
        "verdict": verdict.model_dump(),
        "exported": counts,
        "evaluated": evaluated,
        "learning_curve": str(curve),
        "run_dir": str(run_dir),
    }
