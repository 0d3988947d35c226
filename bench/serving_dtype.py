"""vLLM serving throughput of one checkpoint per dtype on this machine: output tokens/s with 1
and with 8 concurrent streams (same prompt, greedy, fixed length), to pick `ServerConfig.dtype`.

    python -m bench.serving_dtype --base /tmp/g15/models/bases/gemma3-270m [--tokens 64]
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import openai
import typer

from opsagent.train.serving import ModelServer, ServerConfig

PROMPT = [{"role": "user", "content": "List three reasons a Kubernetes pod can be in CrashLoopBackOff."}]


def _rate(client: openai.OpenAI, model: str, streams: int, tokens: int) -> float:
    def one(_: int) -> int:
        r = client.chat.completions.create(model=model, messages=PROMPT, max_tokens=tokens, temperature=0,
                                           extra_body={"ignore_eos": True, "min_tokens": tokens})
        return r.usage.completion_tokens if r.usage else 0

    started = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        produced = sum(pool.map(one, range(streams)))
    return round(produced / (time.perf_counter() - started), 1)


def main(base: Annotated[Path, typer.Option(help="a model directory")], tokens: int = 64,
         dtype: Annotated[list[str] | None, typer.Option(help="default: float32, bfloat16")] = None) -> None:
    results = {}
    for d in dtype or ["float32", "bfloat16"]:
        with ModelServer(base, "m", cfg=ServerConfig(port=0, dtype=d, max_model_len=4096)) as server:
            client = openai.OpenAI(base_url=server.url, api_key="unused")
            _rate(client, "m", 1, 8)  # warm-up
            results[d] = {"1 stream tok/s": _rate(client, "m", 1, tokens),
                          "8 streams tok/s": _rate(client, "m", 8, tokens)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    typer.run(main)
