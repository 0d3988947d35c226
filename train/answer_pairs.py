"""On-policy preference pairs at the answer: the checkpoint answers the teacher's own
investigations, and where its answer is wrong, the teacher's answer to the same conversation is
chosen against it.

Why: pairs of the teacher against the perturbed teacher teach what a trained checkpoint already
does (no harmful action), not what it gets wrong. Measured on sft3-gemma (bench/loop_gemma.md):
DPO on them lowered the held-out task score from 0.772 to 0.725. Its mistakes are in the answer
(the fault named, the component), so the pairs are taken there, from answers it samples itself
(on-policy, as in iterative/online DPO), and judged by the one grader against the run's ground
truth. What only the sandbox could judge (whether a different remedy would have worked) makes
no pair."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from opsagent.agent.models import Diagnosis
from opsagent.trajectories import clean
from opsagent.trajectories.actions import as_tool_call, matches
from opsagent.trajectories.export import SOURCES, facets, success
from opsagent.trajectories.grade import grade_against_truth
from opsagent.trajectories.models import Trajectory
from opsagent.trajectories.splits import held_out

# The sampled answers to a conversation; None where the model called a tool instead of answering.
Sampler = Callable[[list[dict[str, Any]], list[dict[str, Any]]], list[str | None]]


@dataclass
class Question:
    """A teacher run up to its answer, as the checkpoint's prompt profile shows it."""

    run: Trajectory
    prompt: list[dict[str, Any]]
    answer: dict[str, Any]


def questions(runs: Iterable[Trajectory], rewrite: Callable[[Trajectory], Trajectory | None],
              near_duplicate: float = 0.95) -> Iterator[Question]:
    """The teacher's successful, single-answer runs of training scenarios with ground truth,
    near-duplicate investigations once."""
    copies = clean.NearDuplicates(near_duplicate)
    for t in runs:
        if t.policy != "expert" or not success(t) or not t.ground_truth or held_out(t.environment):
            continue
        shown = rewrite(t)
        if shown is None:
            continue
        messages = clean.canonical(shown.messages)
        answers = [i for i, m in enumerate(messages) if m["role"] == "assistant" and not m.get("tool_calls")]
        if len(answers) != 1 or copies.seen(t.id, messages[:answers[0]]):
            continue
        yield Question(shown, messages[:answers[0]], messages[answers[0]])


def wrong(answer: str, run: Trajectory) -> str | None:
    """Why an answer to `run`'s conversation is wrong, by the one grader against its ground truth:
    malformed | detection | localisation | analysis | harmful; None when it is right or when only
    the sandbox could tell (a remedy other than the teacher's)."""
    try:
        d = Diagnosis.model_validate_json(answer).model_dump()
    except ValidationError:
        return "malformed"
    truths = run.ground_truth or []
    as_answered = run.model_copy(update={"diagnosis": d, "diagnoses": [d], "stuck": None, "decisions": [],
                                         "executed": [], "approvals": []})
    g = grade_against_truth(as_answered, truths, mitigated=None)
    for task, ok in (("detection", g.detected), ("localisation", g.localised), ("analysis", g.analysed)):
        if ok is False:
            return task
    harmful = [c for truth in truths if truth["is_incident"]
               for a in truth["harmful"] if (c := as_tool_call(a))]
    if any(matches(r, h) for r in d["remediation"] if isinstance(r, dict) for h in harmful):
        return "harmful"
    return None


def sampled(qs: list[Question], sample: Sampler, log: Path, workers: int = 8,
            progress: Callable[[int], None] | None = None) -> dict[str, list[str | None]]:
    """Each question's sampled answers, by run id. Every question's answers are appended to `log`
    (JSON lines) as soon as they come, and those already there are not asked again: a killed run
    goes on where it stopped. `progress(n)`: n more questions answered."""
    done: dict[str, list[str | None]] = {}
    if log.is_file():
        for line in log.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line cut by a kill
                record = json.loads(line)
                done[record["run"]] = record["answers"]
        if not log.read_text().endswith("\n"):  # the cut line stays one line of its own
            with log.open("a") as f:
                f.write("\n")
    if progress is not None:
        progress(sum(q.run.id in done for q in qs))
    lock = threading.Lock()

    def one(q: Question) -> None:
        answers = sample(q.prompt, q.run.tools)
        with lock, log.open("a") as f:
            f.write(json.dumps({"run": q.run.id, "answers": answers}) + "\n")
            done[q.run.id] = answers
        if progress is not None:
            progress(1)

    pool = ThreadPoolExecutor(workers)
    try:
        list(pool.map(one, [q for q in qs if q.run.id not in done]))
    finally:  # on SIGTERM the caller stops the server at once, failing the requests in flight
        pool.shutdown(wait=False, cancel_futures=True)
    return done


def pairs(qs: list[Question], answers: dict[str, list[str | None]],
          per_question: int = 1) -> tuple[list[dict[str, Any]], Counter]:
    """DPO rows (the export's format, `kind` "teacher-vs-checkpoint-answer"): for each question,
    up to `per_question` of the checkpoint's wrong answers (distinct) against the teacher's. Also
    returns how the answers were judged. An answer that looks like a secret is left out (a
    sampled answer is new text that redaction never saw)."""
    rows: list[dict[str, Any]] = []
    judged: Counter = Counter()
    for q in qs:
        seen: set[str] = set()
        for text in answers.get(q.run.id, []):
            if text is None:  # it went on investigating: not an answer to judge
                judged["tool call"] += 1
                continue
            if clean.secrets_in({"answer": text}):
                judged["secret-shaped"] += 1
                continue
            why = wrong(text, q.run)
            judged[why or "right"] += 1
            if why is None or text in seen or len(seen) >= per_question:
                continue
            seen.add(text)
            rows.append({"prompt": q.prompt, "chosen": [q.answer],
                         "rejected": [{"role": "assistant", "content": text}],
                         "tools": json.dumps(q.run.tools), "kind": "teacher-vs-checkpoint-answer",
                         "reason": f"{SOURCES['llm']}: {why}", **facets(q.run),
                         "id": f"{q.run.id}|answer-{len(seen)}", "source": SOURCES["llm"]})
    return rows, judged


def openai_sampler(client: Any, model: str, n: int, temperature: float, max_tokens: int) -> Sampler:
    """`n` answers from an OpenAI-compatible endpoint (vLLM shares the prompt's prefill among them),
    with the tools in the prompt as at serving."""

    def sample(prompt: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[str | None]:
        offered = {"tools": tools} if tools else {}
        response = client.chat.completions.create(model=model, messages=prompt, n=n, temperature=temperature,
                                                  max_tokens=max_tokens, **offered)
        return [None if c.message.tool_calls else c.message.content or "" for c in response.choices]

    return sample
