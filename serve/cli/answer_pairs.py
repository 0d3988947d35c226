"""`opsagent trajectories answer-pairs`: on-policy DPO pairs (train.answer_pairs). The checkpoint,
served by vLLM with the prompt profile it was trained with, answers the teacher's investigations
from the store; its wrong answers, judged by the one grader, are paired with the teacher's."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from opsagent.serve.cli.common import console, fail, model_registry, unwind_on_sigterm
from opsagent.serve.cli.trajectories import served
from opsagent.serve.settings import Settings, resolve_model
from opsagent.trajectories.store import TrajectoryStore


def answer_pairs_cmd(
    ctx: typer.Context,
    checkpoint: Annotated[str, typer.Option(help="the checkpoint (or current) whose answers are judged")],
    out: Annotated[Path, typer.Option(help="output directory: out/dpo, its Parquet file and data card")],
    questions: Annotated[int, typer.Option(min=1, help="teacher runs to answer (distinct ones)")] = 300,
    samples: Annotated[int, typer.Option(min=1, help="answers sampled per run")] = 4,
    per_question: Annotated[int, typer.Option(min=1, help="wrong answers kept per run")] = 1,
    temperature: Annotated[float, typer.Option(min=0, help="sampling temperature")] = 1.0,
    greedy_first: Annotated[bool, typer.Option(
        help="each run's first answer greedy (what the served model says), the others sampled")] = False,
    workers: Annotated[int, typer.Option(min=1, help="requests at once (vLLM batches them)")] = 8,
    minimal_edit: Annotated[bool, typer.Option(
        help="rejected: the teacher's answer with only the checkpoint's wrong decision put in")] = False,
    chosen: Annotated[Literal["teacher", "own"], typer.Option(
        help="the chosen side: the teacher's answer, or the checkpoint's own right one with the teacher's "
             "remedy (both sides on-policy; a run it never answers right makes no pair)")] = "teacher",
    hand_overs: Annotated[bool, typer.Option(
        help="also the teacher's right diagnoses handed to a human with no remedy proposed")] = False,
    server_url: Annotated[str | None, typer.Option(help="a running vLLM instead of starting one")] = None,
) -> None:
    """Preference pairs where the checkpoint is wrong: its sampled answer to a teacher's
    investigation (malformed, wrong detection, component or fault type, or a harmful remedy)
    against the teacher's answer (or, `--chosen own`, its own right one). Train DPO on `out/dpo`."""
    import openai

    from opsagent.train.answer_pairs import kept, openai_sampler, pairs, sampled
    from opsagent.train.answer_pairs import questions as teacher_questions
    from opsagent.train.trainer import load_tokenizer
    from opsagent.trajectories.clean import SecretLeak, scan
    from opsagent.trajectories.export import Lengths, save

    settings: Settings = resolve_model(ctx.obj)
    store = TrajectoryStore(settings.data_dir / "trajectories")
    name, _, agent, server = served(settings, checkpoint, server_url)
    registry = model_registry(settings)
    ckpt = registry.get(name)
    tokenizer = load_tokenizer(registry.base_dir(ckpt))
    shown = agent.profile
    asked = teacher_questions(store.iter(policy="expert"), shown.rewrite, hand_overs=hand_overs)
    qs = [q for q, _ in zip(asked, range(questions), strict=False)]
    if not qs:
        raise fail("no teacher run to answer in the store; record some with `opsagent trajectories collect`")
    unwind_on_sigterm()  # vLLM stops with it
    started = time.perf_counter()
    log = out / "answers.jsonl"
    done = kept(log)
    if all(len(done.get(q.run.id, [])) >= samples for q in qs):
        server = None  # every answer is in the log already: nothing to ask
    try:
        if server is not None:
            with console.status(f"starting vLLM for {name}"):
                server.start()
            agent = agent.served_by(server.url)
        client = openai.OpenAI(base_url=agent.llm.base_url, api_key=agent.llm.api_key.get_secret_value(),
                               timeout=agent.llm.timeout_s, max_retries=1)
        sample = openai_sampler(client, name, temperature, agent.llm.max_tokens, greedy_first)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(f"{name} answers {len(qs)} investigations × {samples}", total=len(qs))
            out.mkdir(parents=True, exist_ok=True)
            answers = sampled(qs, sample, log, samples, workers, lambda n: progress.advance(task, n))
    except openai.OpenAIError as exc:
        raise fail(f"the model endpoint failed: {exc}") from None
    finally:
        if server is not None:
            server.stop()
    rows, judged = pairs(qs, answers, per_question, minimal_edit, chosen)
    try:
        scan(rows, "DPO")
    except SecretLeak as exc:
        raise fail(str(exc)) from None
    lengths = Lengths(tokenizer)
    sizes = [lengths([*r["prompt"], *r["chosen"]], json.loads(r["tools"])) for r in rows]
    how = "as --server-url serves it" if server_url else "from the log" if server is None \
        else "adapter" if server.lora else "merged"
    settings_used = {"checkpoint": name, "samples": samples, "temperature": temperature,
                     "greedy_first": greedy_first, "per_question": per_question, "minimal_edit": minimal_edit,
                     "chosen": chosen, "hand_overs": hand_overs,
                     "served": how}
    save(out, "dpo", rows, sizes, lengths.unit, settings_used, Counter(), len(qs))
    counts = {"questions": len(qs), "dpo": len(rows), "profile": shown.name, "answers": dict(judged),
              **settings_used, "minutes": round((time.perf_counter() - started) / 60, 1)}
    (out / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    console.print(f"{len(rows)} pairs from {len(qs)} investigations (answers: {dict(judged)}) "
                  f"→ {out / 'dpo'}")
