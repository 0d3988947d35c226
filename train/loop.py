"""One iteration of the loop: collect trajectories with the teacher and the current checkpoint
in parallel sandboxes, export, SFT then DPO, evaluate candidate and current on held-out
scenarios through one vLLM server (adapters loaded at run time), promote if better with no
safety regression. Iterations chain: the promoted checkpoint is the next one's `current`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from opsagent.agent.config import AgentConfig
from opsagent.agent.sim.batch import Job, run_batch, run_jobs
from opsagent.train.base_models import NAMES as BASES
from opsagent.train.base_models import import_base
from opsagent.train.config import LoraSettings, stage_config
from opsagent.train.promote import PromotionVerdict, decide
from opsagent.train.registry import Checkpoint, ModelRegistry
from opsagent.train.serving import ModelServer, ServerConfig, serve
from opsagent.train.trainer import load_tokenizer, train
from opsagent.trajectories.export import Filters, export
from opsagent.trajectories.grade import summarise
from opsagent.trajectories.splits import scenarios
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
    server: ModelServer,
    registry: ModelRegistry,
    checkpoint: Checkpoint,
    agent: AgentConfig,
    data_dir: Path,
    cfg: LoopConfig,
) -> dict[str, Any]:
    key = f"held-out@{cfg.held_out}"
    if key in checkpoint.eval_metrics:
        return checkpoint.eval_metrics[key]
    served = agent.served_by(server.url, checkpoint.id)
    runs = run_batch(scenarios("held-out", cfg.held_out), "llm", served, data_dir, cfg.workers)
    summary = summarise([r.grade for r in runs])
    registry.record_eval(checkpoint.id, {key: summary})
    return summary


def iterate(
    cfg: LoopConfig,
    registry: ModelRegistry,
    data_dir: Path,
    agent: AgentConfig,
    server_cfg: ServerConfig | None = None,
) -> dict[str, Any]:
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
        counts = export(
            records, run_dir / "data", Filters(max_chars=10**8, max_tokens=cfg.max_length), tokenizer
        )
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
        candidate = current
        for stage, steps in (("sft", cfg.sft_steps), ("dpo", cfg.dpo_steps)):  # DPO from the SFT result
            if counts[stage]:
                spec = stage_config(
                    {"stage": stage, "base": candidate.id, "dataset": run_dir / "data" / stage,
                     "max_steps": steps, **common}
                )
                candidate = train(spec, registry, f"{stage}-{stamp}")
        server.load_adapter(candidate.id, candidate.path)  # no restart: same base
        console.print(
            f"[bold]evaluate[/] {current.id} and {candidate.id} on {cfg.held_out} held-out scenarios"
        )
        before = held_out(server, registry, current, agent, data_dir, cfg)
        after = held_out(server, registry, registry.get(candidate.id), agent, data_dir, cfg)
    verdict: PromotionVerdict = decide(after, before)
    if verdict.promote:
        registry.set_current(candidate.id)
    return {
        "current": current.id,
        "candidate": candidate.id,
        "before": before,
        "after": after,
        "verdict": verdict.model_dump(),
        "exported": counts,
        "run_dir": str(run_dir),
    }
