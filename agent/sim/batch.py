"""Many incidents in parallel sandboxes: each worker process owns one sandbox (with its own
Prometheus) and runs episodes back to back on it; results stream back as they finish. This is
how trajectories are collected and policies compared."""

from __future__ import annotations

import gc
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import active_children
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from opsagent.agent.checkpoint import open_checkpointer
from opsagent.agent.config import AgentConfig
from opsagent.agent.runner import auto_approve
from opsagent.agent.sim.episode import EpisodeResult, open_sandbox, run_episode, tool_context
from opsagent.agent.store import Store
from opsagent.sandbox.children import die_with_parent
from opsagent.sandbox.runtime import Sandbox
from opsagent.sandbox.scenario import ScenarioSpec
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.redact import Redactor
from opsagent.trajectories.store import TrajectoryStore

_worker: dict[str, Any] = {}


def settle_gc() -> None:
    """For a process that runs episodes back to back, once its sandbox is up. An episode
    allocates millions of short-lived tuples (metric samples, series keys) in a process that
    holds ~390k long-lived objects (langgraph, pydantic, clients): at the default thresholds the
    collector re-traversed those for ~27% of an episode's CPU (bench/data_engine.md). Collect
    less often, and never traverse what start-up made again (it lives as long as the process)."""
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()


def _init(data_dir: str, cfg_json: str, prometheus: bool, pseudonymise_ips: bool) -> None:
    # A worker stops on SIGTERM: from run_jobs stopping early, or from the kernel when the parent
    # is killed with -9. It unwinds the episode in flight, even one waiting on the model.
    signal.signal(signal.SIGTERM, _stop)
    die_with_parent()
    _worker["cfg"] = AgentConfig.model_validate_json(cfg_json)
    _worker["box"] = None
    _worker["run_dir"] = Path(tempfile.mkdtemp(prefix="opsagent-worker-"))
    _worker["data_dir"] = Path(data_dir)
    _worker["prometheus"] = prometheus
    _worker["redactor"] = Redactor(pseudonymise_ips=pseudonymise_ips)
    # Worker processes leave through os._exit, which skips atexit: clean up this way.
    Finalize(None, _close, exitpriority=10)


def _stop(signum: int, _frame: object) -> None:
    # Once: a second SIGTERM (the kernel's and run_jobs', say) must not cut the clean-up short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(128 + signum)


def _close() -> None:
    """Stop the worker's sandbox (its Prometheus and Alertmanager) and remove its files."""
    if _worker["box"] is not None:
        _worker["box"].stop()
        _worker["box"] = None
    shutil.rmtree(_worker["run_dir"], ignore_errors=True)


class Job(BaseModel):
    """One scenario for one or more policies, run one after another on the same world (the same
    `now`): their trajectories are identical until the policies decide differently."""

    spec: ScenarioSpec
    policies: list[str]
    variant: str | None = None  # agent.sim.augment.KINDS
    now: float | None = None  # when the history ends; default: when the job starts. Jobs of one
    # scenario given the same `now` see the same world too (checked with a `now` 3 h back).


def _job(job_json: str) -> list[dict[str, Any]]:
    try:
        return _episodes(Job.model_validate_json(job_json))
    except SystemExit as stop:
        # The signal of _init. Raised on, the pool would report it and wait for another job (the
        # parent gone, forever): leave now that the episode has unwound, as an exit would.
        _close()
        os._exit(stop.code if isinstance(stop.code, int) else 1)


def _episodes(job: Job) -> list[dict[str, Any]]:
    spec = job.spec
    if _worker["box"] is None:
        _worker["box"] = open_sandbox(_worker["run_dir"] / "sandbox", spec, _worker["prometheus"])
        _worker["ctx"] = tool_context(_worker["box"])
        settle_gc()
    box: Sandbox = _worker["box"]
    cfg: AgentConfig = _worker["cfg"]
    store = Store(_worker["data_dir"] / "agent.db")
    trajectories = TrajectoryStore(_worker["data_dir"] / "trajectories")
    now = job.now or time.time()
    try:
        with open_checkpointer(cfg.checkpoint_url, _worker["data_dir"]) as cp:
            return [run_episode(box, spec, policy, cfg, store, cp, auto_approve, now=now, variant=job.variant,
                                recorder=Recorder(trajectories, _worker["redactor"]),
                                ctx=_worker["ctx"]).model_dump()
                    for policy in job.policies]
    finally:
        store.close()
        trajectories.close()


def run_jobs(jobs: list[Job], cfg: AgentConfig, data_dir: Path, workers: int, prometheus: bool = True,
             pseudonymise_ips: bool = False) -> Iterator[EpisodeResult]:
    """Every job's episodes, as they finish, over `workers` processes with a sandbox each.
    Stopped early (a signal, an error, the caller leaving), it stops the workers' episodes in
    flight rather than wait for them: an episode waiting on a slow model could take minutes."""
    init = (str(data_dir), cfg.model_dump_json(), prometheus, pseudonymise_ips)
    others = set(active_children())
    with ProcessPoolExecutor(max_workers=workers, initializer=_init, initargs=init) as pool:
        futures = [pool.submit(_job, job.model_dump_json()) for job in jobs]
        try:
            for future in as_completed(futures):
                for result in future.result():
                    yield EpisodeResult.model_validate(result)
        finally:
            if not all(f.done() for f in futures):
                pool.shutdown(wait=False, cancel_futures=True)
                for worker in set(active_children()) - others:
                    worker.terminate()  # SIGTERM: see _init


def run_batch(specs: list[ScenarioSpec], policy: str, cfg: AgentConfig, data_dir: Path, workers: int,
              prometheus: bool = True, pseudonymise_ips: bool = False) -> Iterator[EpisodeResult]:
    return run_jobs([Job(spec=s, policies=[policy]) for s in specs], cfg, data_dir, workers, prometheus,
                    pseudonymise_ips)


def run_splits(specs: dict[str, list[ScenarioSpec]], policy: str, cfg: AgentConfig, data_dir: Path,
               workers: int, pseudonymise_ips: bool = False) -> Iterator[tuple[str, EpisodeResult]]:
    """(split, result) for every scenario of every split, over one pool of workers: their
    sandboxes start once for all the splits, not once per split."""
    where: dict[str, list[str]] = {}
    for split, items in specs.items():
        for spec in items:
            where.setdefault(spec.id, []).append(split)
    jobs = [Job(spec=spec, policies=[policy]) for items in specs.values() for spec in items]
    for result in run_jobs(jobs, cfg, data_dir, workers, pseudonymise_ips=pseudonymise_ips):
        yield where[result.scenario].pop(0), result
