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

from agent.batch import run_batch, summarise
from agent.config import AgentConfig
from serve.model_server import ModelServer, ServerConfig
from train.base_models import NAMES as BASES
from train.base_models import import_base
from train.config import LoraSettings, StageConfig
from train.promote import Verdict, decide
from train.registry import Checkpoint, Registry
from train.trainer import load_tokenizer, train
from trajectories.export import Filters, export
from trajectories.splits import scenarios
from trajectories.store import TrajectoryStore

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


def _llm(agent: AgentConfig, server: ModelServer, model: str) -> AgentConfig:
    return agent.model_copy(
        update={"llm": agent.llm.model_copy(update={"base_url": server.url, "model": model})}
    )


def serve(registry: Registry, checkpoint: Checkpoint, cfg: ServerConfig | None, log: Path) -> ModelServer:
    """A vLLM server for a checkpoint's base, with the checkpoint's adapter as a served model;
    any other adapter on the same base can be loaded into it at run time."""
    base = registry.get(checkpoint.base or "") if checkpoint.kind != "base" else checkpoint
    adapters = {checkpoint.id: checkpoint.path} if checkpoint.kind != "base" else {}
    return ModelServer(base.path, base.id, adapters, cfg or ServerConfig(port=0), log_path=log)


def held_out(
    server: ModelServer,
    registry: Registry,
    checkpoint: Checkpoint,
    agent: AgentConfig,
    data_dir: Path,
    cfg: LoopConfig,
) -> dict[str, Any]:
    key = f"held-out@{cfg.held_out}"
    if key in checkpoint.eval_metrics:
        return checkpoint.eval_metrics[key]
    runs = run_batch(
        scenarios("held-out", cfg.held_out), "llm", _llm(agent, server, checkpoint.id), data_dir, cfg.workers
    )
    summary = summarise(list(runs))
    registry.record_eval(checkpoint.id, {key: summary})
    return summary


def iterate(
    cfg: LoopConfig,
    registry: Registry,
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
    console.print(f"[bold]collect[/] {len(specs)} scenarios with the expert (teacher) and with {current.id}")
    list(run_batch(specs, "expert", agent, data_dir, cfg.workers))
    with serve(registry, current, server_cfg, run_dir / "vllm.log") as server:
        list(run_batch(specs, "llm", _llm(agent, server, current.id), data_dir, cfg.workers))
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
            verdict = Verdict(promote=False, reasons=["nothing to train on"], score=0.0, current_score=0.0)
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
                spec = StageConfig(
                    stage=stage,
                    base=candidate.id,
                    dataset=run_dir / "data" / stage,
                    max_steps=steps,
                    **common,
                )
                candidate = train(spec, registry, f"{stage}-{stamp}")
        server.load_adapter(candidate.id, candidate.path)  # no restart: same base
        console.print(
            f"[bold]evaluate[/] {current.id} and {candidate.id} on {cfg.held_out} held-out scenarios"
        )
        before = held_out(server, registry, current, agent, data_dir, cfg)
        after = held_out(server, registry, registry.get(candidate.id), agent, data_dir, cfg)
    verdict: Verdict = decide(after, before)
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
