"""Training throughput of one base on exported rows, per dtype: tokens/s and achieved GFLOP/s
(the forward and backward FLOPs the steps compute, train/throughput.py) against the matmul rate
measured in the same run. Runs the product's own `train()` for a few steps.

    python -m bench.train_throughput --data /tmp/g15 --rows 4 [--dtype fp32 --dtype bf16]
        [--attention sdpa_windowed --attention sdpa] [--stage dpo]

`--stage dpo` times DPO on the exported pairs instead (policy forward + backward on chosen and
rejected, the reference forward), from the base as the issue's run would from its SFT adapter.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from opsagent.train.config import DPOStageConfig, SFTStageConfig
from opsagent.train.registry import ModelRegistry
from opsagent.train.trainer import train


def main(data: Annotated[Path, typer.Option(help="data dir with models/ and data/sft")],
         base: str = "gemma3-270m", rows: int = 4,
         dtype: Annotated[list[str] | None, typer.Option(help="fp32, bf16 (default both)")] = None,
         max_length: int = 4096,
         attention: Annotated[list[str] | None, typer.Option(help="sdpa_windowed, sdpa (both)")] = None,
         stage: Annotated[str, typer.Option(help="sft (data/sft) or dpo (data/dpo)")] = "sft",
         ) -> None:
    if stage not in ("sft", "dpo"):
        raise typer.BadParameter(f"{stage!r}: sft or dpo", param_hint="--stage")
    registry = ModelRegistry(data / "models")
    results = {}
    runs = itertools.product(dtype or ["fp32", "bf16"], attention or ["sdpa_windowed", "sdpa"])
    for precision, attn in runs:
        with tempfile.TemporaryDirectory() as tmp:
            scratch = ModelRegistry(Path(tmp) / "models")
            scratch.add(registry.get(base))
            from datasets import load_from_disk

            sample = load_from_disk(str(data / "data" / stage)).select(range(rows))
            sample.save_to_disk(str(Path(tmp) / stage))
            config = SFTStageConfig if stage == "sft" else DPOStageConfig
            cfg = config(base=base, dataset=Path(tmp) / stage, max_steps=rows, batch_size=1, grad_accum=1,
                         precision=precision, max_length=max_length, save_steps=10**6, attention=attn)
            m = train(cfg, scratch, f"bench-{precision}").train_metrics
            keys = ("tokens_per_s", "achieved_gflops", "matmul_gflops", "share_of_matmul", "runtime_s",
                    "tokens_seen", "trained_tokens_per_row", "rows_left_out_too_long")
            results[f"{stage} {precision} {attn}"] = {k: m.get(k) for k in keys}
            shutil.rmtree(Path(tmp) / "models" / f"bench-{precision}", ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    typer.run(main)
