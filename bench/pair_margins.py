"""How far a checkpoint already prefers each DPO pair's chosen turn: the log-probability of the
chosen and of the rejected turn under the model, the pair tokenised as TRL's DPOTrainer does
(prompt with the generation prompt; the completion is where prompt + turn departs from it).
Pairs the policy already ranks right by many nats have nothing left to teach it.

    python -m bench.pair_margins --data /tmp/g30/data/dpo --model /tmp/g30/models/sft-gemma/merged-bfloat16 \
        --base /tmp/g30/models/bases/gemma3-270m --pairs 76
"""

from __future__ import annotations

import json
import random
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import track

from opsagent.train.trainer import load_tokenizer


def _ids(tokenizer: Any, messages: list[dict], tools: list[dict], **kwargs: Any) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, **kwargs)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


def _completion_logp(model: Any, prompt: list[int], full: list[int]) -> float:
    import torch
    from trl.data_utils import common_prefix_length  # where TRL starts the completion

    start = common_prefix_length(prompt, full)
    x = torch.tensor([full])
    with torch.no_grad():
        logits = model(x).logits[0, start - 1:-1].float()
    return torch.log_softmax(logits, -1).gather(1, x[0, start:].unsqueeze(1)).sum().item()


def main(data: Annotated[Path, typer.Option(help="an exported dpo/ dataset")],
         model: Annotated[Path, typer.Option(help="the policy, a merged model directory")],
         base: Annotated[Path, typer.Option(help="the base model directory (its tokenizer)")],
         pairs: int = 76, max_tokens: int = 4096, seed: int = 0) -> None:
    import torch
    from datasets import load_from_disk
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(base)
    policy = AutoModelForCausalLM.from_pretrained(model, dtype=torch.bfloat16).eval()
    rows = load_from_disk(str(data))
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    margins: dict[str, list[float]] = defaultdict(list)
    for i in track(order, description="pairs"):
        if sum(map(len, margins.values())) >= pairs:
            break
        row = rows[i]
        tools = json.loads(row["tools"])
        prompt = _ids(tokenizer, row["prompt"], tools, add_generation_prompt=True)
        sides = {s: _ids(tokenizer, row["prompt"] + row[s], tools) for s in ("chosen", "rejected")}
        if max(map(len, sides.values())) > max_tokens:
            continue  # as the DPO stage leaves it out
        chosen, rejected = (_completion_logp(policy, prompt, sides[s]) for s in ("chosen", "rejected"))
        margins[row["reason"]].append(chosen - rejected)
    every = [m for ms in margins.values() for m in ms]
    print(f"{len(every)} pairs: the policy prefers the chosen turn in {sum(m > 0 for m in every)}; "
          f"margin median {statistics.median(every):.1f} nats, smallest {min(every):.1f}")
    for reason, ms in sorted(margins.items(), key=lambda kv: -len(kv[1])):
        print(f"  {reason}: {len(ms)} pairs, median {statistics.median(ms):.1f}, smallest {min(ms):.1f}")


if __name__ == "__main__":
    typer.run(main)
