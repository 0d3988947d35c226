"""On-policy preference pairs at the answer: the checkpoint answers the teacher's own
investigations, and where its answer is wrong, the teacher's answer to the same conversation (or
the checkpoint's own right one, `chosen="own"`) is chosen against it.

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
from typing import Any, Literal

from pydantic import ValidationError

from opsagent.agent.models import Diagnosis
from opsagent.trajectories import clean
from opsagent.trajectories.actions import as_tool_call, matches
from opsagent.trajectories.export import SOURCES, facets, rightful_hand_over, success
from opsagent.trajectories.grade import grade_against_truth
from opsagent.trajectories.models import Trajectory
from opsagent.trajectories.splits import held_out

# Sampler(prompt, tools, have, n): n more answers to a conversation that already has `have`; None
# where the model called a tool instead of answering.
Sampler = Callable[[list[dict[str, Any]], list[dict[str, Any]], int, int], list[str | None]]


@dataclass
class Question:
    """A teacher run up to its answer, as the checkpoint's prompt profile shows it."""

    run: Trajectory
    prompt: list[dict[str, Any]]
    answer: dict[str, Any]


def questions(runs: Iterable[Trajectory], rewrite: Callable[[Trajectory], Trajectory | None],
              near_duplicate: float = 0.95, hand_overs: bool = False) -> Iterator[Question]:
    """The teacher's successful, single-answer runs of training scenarios with ground truth,
    near-duplicate investigations once; with `hand_overs`, also its right diagnoses handed to a
    human (`rightful_hand_over`: the SFT export's `--hand-overs`)."""
    copies = clean.NearDuplicates(near_duplicate)
    for t in runs:
        worth = success(t) or (hand_overs and rightful_hand_over(t))
        if t.policy != "expert" or not worth or not t.ground_truth or held_out(t.environment):
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


def kept(log: Path) -> dict[str, list[str | None]]:
    """The answers already in `log`, by run id: every record's answers, in order (a rerun that
    asks for more answers appends a record). A line cut by a kill is skipped, and the file made to
    end with a newline so that it stays one line of its own."""
    done: dict[str, list[str | None]] = {}
    if not log.is_file():
        return done
    text = log.read_text()
    for line in text.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            record = json.loads(line)
            done.setdefault(record["run"], []).extend(record["answers"])
    if text and not text.endswith("\n"):
        with log.open("a") as f:
            f.write("\n")
    return done


def sampled(qs: list[Question], sample: Sampler, log: Path, n: int, workers: int = 8,
            progress: Callable[[int], None] | None = None) -> dict[str, list[str | None]]:
    """`n` answers to each question, by run id. They are appended to `log` (JSON lines) as soon as
    they come, and those already there are not asked again: a killed run goes on where it
    stopped, and a rerun with a larger `n` asks only for the rest. `progress(k)`: k more
    questions have all their answers."""
    done = kept(log)
    if progress is not None:
        progress(sum(len(done.get(q.run.id, [])) >= n for q in qs))
    lock = threading.Lock()

    def one(q: Question) -> None:
        have = len(done.get(q.run.id, []))
        answers = sample(q.prompt, q.run.tools, have, n - have)
        with lock, log.open("a") as f:
            f.write(json.dumps({"run": q.run.id, "answers": answers}) + "\n")
            done[q.run.id] = [*done.get(q.run.id, []), *answers]
        if progress is not None:
            progress(1)

    pool = ThreadPoolExecutor(workers)
    try:
        list(pool.map(one, [q for q in qs if len(done.get(q.run.id, [])) < n]))
    finally:  # on SIGTERM the caller stops the server at once, failing the requests in flight
        pool.shutdown(wait=False, cancel_futures=True)
    return {q.run.id: done[q.run.id][:n] for q in qs if q.run.id in done}


# What the one grader judges a Diagnosis by (besides a harmful remedy): a minimal edit puts these in.
DECISION = ("is_incident", "hypothesis", "components", "level", "fault_type")


def minimal_edit(teacher: str, answer: str, why: str) -> str:
    """The teacher's answer with only what the checkpoint decided otherwise put in: its decision
    fields (`DECISION`; its remediation for a harmful remedy), written as the teacher's answers are
    (the Diagnosis' own JSON, the teacher's fields only).
    Why: DPO lowers every token of the rejected answer after it departs from the chosen one, so a
    right remedy behind a wrong component is pushed down too (bench/loop_gemma.md); edited, the
    two differ where the grader found the mistake and nowhere else. A malformed answer has
    nothing to edit into and stays as it came."""
    if why == "malformed":
        return answer
    mine, theirs = Diagnosis.model_validate_json(answer).model_dump(), json.loads(teacher)
    fields = ("remediation",) if why == "harmful" else DECISION
    edited = Diagnosis.model_validate({**theirs, **{k: mine[k] for k in fields}})
    return edited.model_dump_json(include=set(theirs))


def same_remedy(answer: str, teacher: str) -> bool:
    """Whether an answer proposes the teacher's remedy: each of the teacher's calls, and no other
    (`matches`: the same tool and the arguments the teacher names). Why: `wrong` cannot judge a
    remedy other than a harmful one, so a right answer that is to be trained towards must also
    remedy as the run that succeeded did."""
    mine, theirs = (json.loads(text).get("remediation") or [] for text in (answer, teacher))
    return all(any(matches(m, t) for m in mine) for t in theirs) and all(
        any(matches(m, t) for t in theirs) for m in mine)


def pairs(qs: list[Question], answers: dict[str, list[str | None]], per_question: int = 1,
          minimal: bool = False, chosen: Literal["teacher", "own"] = "teacher",
          ) -> tuple[list[dict[str, Any]], Counter]:
    """DPO rows (the export's format, `kind` "teacher-vs-checkpoint-answer", or "-edit" with
    `minimal`: the rejected side is `minimal_edit` of the wrong answer): for each question, up to
    `per_question` of the checkpoint's wrong answers (distinct, first sampled first) against the
    teacher's. With `chosen="own"` (kind "checkpoint-right-vs-wrong-answer") the chosen side is the
    checkpoint's own first right answer with the teacher's remedy (`same_remedy`), as in iterative
    RPO: both sides are the policy's own text, so the pair's gradient is where they differ, not
    in the teacher's wording; a question it never answered right makes no pair. Also returns how
    the answers were judged. An answer that looks like a secret is left out (a sampled answer is
    new text that redaction never saw)."""
    rows: list[dict[str, Any]] = []
    judged: Counter = Counter()
    kind = ("checkpoint-right-vs-wrong-" if chosen == "own" else "teacher-vs-checkpoint-") + (
        "edit" if minimal else "answer")
    for q in qs:
        seen: set[str] = set()
        verdicts: list[tuple[str, str | None]] = []  # (answer, why it is wrong), each judged once
        for text in answers.get(q.run.id, []):
            if text is None:  # it went on investigating: not an answer to judge
                judged["tool call"] += 1
            elif clean.secrets_in({"answer": text}):
                judged["secret-shaped"] += 1
            else:
                why = wrong(text, q.run)
                judged[why or "right"] += 1
                verdicts.append((text, why))
        best: dict[str, Any] = q.answer
        if chosen == "own":
            right = [a for a, why in verdicts if why is None and same_remedy(a, q.answer["content"])]
            if not right:
                judged["questions without a right answer of its own"] += 1
                continue
            best = {"role": "assistant", "content": right[0]}
        for text, why in verdicts:
            if why is None:
                continue
            rejected = text
            if minimal:  # an edit the grader would not find wrong is no pair
                rejected = minimal_edit(best["content"], text, why)
                if wrong(rejected, q.run) is None:
                    continue
            if rejected in seen or len(seen) >= per_question:
                continue
            seen.add(rejected)
            rows.append({"prompt": q.prompt, "chosen": [best],
                         "rejected": [{"role": "assistant", "content": rejected}],
                         "tools": json.dumps(q.run.tools), "kind": kind,
                         "reason": f"{SOURCES['llm']}: {why}", **facets(q.run),
                         "id": f"{q.run.id}|answer-{len(seen)}", "source": SOURCES["llm"]})
    return rows, judged


def openai_sampler(client: Any, model: str, temperature: float, max_tokens: int,
                   greedy_first: bool = False) -> Sampler:
    """Answers from an OpenAI-compatible endpoint (vLLM shares the prompt's prefill among the `n` of
    one request), with the tools in the prompt as at serving. `greedy_first`: a conversation's
    first answer is the greedy one (temperature 0), the answer the served model gives, so that
    where it is wrong it is the one paired."""

    def ask(prompt: list[dict[str, Any]], tools: list[dict[str, Any]], n: int, t: float) -> list[str | None]:
        offered = {"tools": tools} if tools else {}
        response = client.chat.completions.create(model=model, messages=prompt, n=n, temperature=t,
                                                  max_tokens=max_tokens, **offered)
        return [None if c.message.tool_calls else c.message.content or "" for c in response.choices]

    def sample(prompt: list[dict[str, Any]], tools: list[dict[str, Any]], have: int,
               n: int) -> list[str | None]:
        if greedy_first and have == 0:
            return ask(prompt, tools, 1, 0.0) + (ask(prompt, tools, n - 1, temperature) if n > 1 else [])
        return ask(prompt, tools, n, temperature)

    return sample
