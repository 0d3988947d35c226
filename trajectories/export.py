"""Export: graded trajectories become the datasets TRL trains on, unchanged.

SFT rows are `messages` (system, user, assistant turns with `tool_calls` — the thoughts kept as
chain-of-thought —, tool results, the final Diagnosis) + `tools` (a JSON string, as TRL reads
it), from the teacher's (and the checkpoint's) successes that pass the quality filters. DPO rows
are `prompt` / `chosen` / `rejected` (+ `tools`) at the same state: a success and a failure of
the same world where they part (ETO-style: the perturbed teacher's mistakes, the checkpoint's
failures), and an answer the gate denied or an SRE rejected against the one that replaced it.
Every row carries where it came from (fault, target, split, source, language, outcome, and how
an augmented row was made); runs of evaluation scenarios never enter (trajectories.splits)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from opsagent.trajectories import clean
from opsagent.trajectories.card import write_card
from opsagent.trajectories.grade import diagnosed_right, succeeded
from opsagent.trajectories.models import Trajectory
from opsagent.trajectories.rename import rename_service
from opsagent.trajectories.splits import held_out

PRIVILEGED = {"oracle"}  # policies that read ground truth: no evidence a student could gather
NOT_FOR_SFT = {"perturbed": "perturbed teacher"}  # its successes still carry its mistake
SOURCES = {"expert": "teacher", "perturbed": "perturbed", "llm": "checkpoint", "oracle": "oracle"}


class Filters(BaseModel):
    max_chars: int = 60_000  # length bound (~4 characters a token) without a tokenizer
    max_tokens: int | None = None  # exact bound, in the base tokenizer's tokens (export(tokenizer=))
    allow_denied: bool = False
    allow_malformed: bool = False
    include_privileged: bool = False
    near_duplicate: float = 0.95  # estimated Jaccard similarity (masked 5-grams) that counts as a copy
    parallel_order: float = 0.2  # share of SFT rows that also get a copy with parallel calls reordered
    renamed_service: float = 0.0  # share of one-service incidents also shown with it renamed (rename.py)
    hand_overs: bool = False  # also the teacher's right diagnoses handed to a human (rightful_hand_over)
    min_per_fault: int = 0  # near-duplicates taken back until each fault type has this many rows


def success(t: Trajectory) -> bool:
    return t.complete and succeeded(t.grade)


def rightful_hand_over(t: Trajectory) -> bool:
    """The teacher's right diagnosis handed to a human with no remedy proposed. Why: for faults it
    has no safe automatic fix for (a CoreDNS Corefile, a full node disk) that is the run to
    imitate, yet it mitigates nothing, so `success` leaves every run of those fault types out and
    a checkpoint never sees them named."""
    g = t.grade
    return (g is not None and t.complete and t.policy == "expert" and g.incident and diagnosed_right(g)
            and not g.denied and t.outcome == "escalated" and not t.decisions and not t.executed)


def facets(t: Trajectory) -> dict[str, Any]:
    env = t.environment
    return {"id": t.id, "fault": ",".join(env.faults) or "-", "target": ",".join(env.targets) or "-",
            "split": "train" if env.kind == "sandbox" else env.kind,
            "language": "zh" if env.variant == "chat-zh" else "en",
            "source": "augmented" if env.variant else SOURCES.get(t.policy, t.policy),
            "outcome": t.outcome or "-", "augmentation": env.variant or ""}


class Lengths:
    """A row's length in the base tokenizer's tokens (its chat template, tools included), or
    estimated at 4 characters a token without one."""

    def __init__(self, tokenizer: Any = None):
        self.tokenizer = tokenizer
        self.unit = "tokens (base tokenizer)" if tokenizer is not None else "≈ tokens (4 characters each)"

    def __call__(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> int:
        if self.tokenizer is None:
            return len(json.dumps(messages)) // 4
        return len(self.tokenizer.apply_chat_template(messages, tools=tools, tokenize=True,
                                                      return_dict=True)["input_ids"])


def why_not(t: Trajectory, f: Filters) -> str | None:
    """The filter a trajectory fails for SFT, or None when it passes."""
    if t.policy in PRIVILEGED and not f.include_privileged:
        return "privileged policy"
    if t.policy in NOT_FOR_SFT:
        return NOT_FOR_SFT[t.policy]
    if not success(t) and not (f.hand_overs and rightful_hand_over(t)):
        return "not a success"
    if t.grade and t.grade.denied and not f.allow_denied:
        return "denied actions"
    if (t.usage or {}).get("malformed", 0) and not f.allow_malformed:
        return "malformed calls"
    if f.max_tokens is None and len(json.dumps(t.messages)) > f.max_chars:
        return "too long"
    return None


def sft_rows(trajectories: Iterable[Trajectory], f: Filters,
             lengths: Lengths) -> tuple[list[dict[str, Any]], list[int], Counter, int]:
    """The SFT rows, their lengths, why the others were left out, and how many near-duplicates
    `min_per_fault` took back."""
    rows: list[dict[str, Any]] = []
    sizes: list[int] = []
    dropped: Counter = Counter()
    copies = clean.NearDuplicates(f.near_duplicate)
    per_fault: Counter = Counter()  # runs kept, by fault combination (augmented copies not counted)
    spare: list[tuple[Trajectory, list[dict[str, Any]], int]] = []  # near-duplicates, in order
    for t in trajectories:
        reason = why_not(t, f)
        messages = clean.canonical(t.messages)
        n = lengths(messages, t.tools) if reason is None else 0
        if reason is None and f.max_tokens is not None and n > f.max_tokens:
            reason = "too long"
        if reason is None and copies.seen(t.id, messages):
            reason = "near-duplicate"
        if reason is not None:
            dropped[reason] += 1
            if reason == "near-duplicate":
                spare.append((t, messages, n))
            continue
        rows.append({"messages": messages, "tools": json.dumps(t.tools), **facets(t)})
        sizes.append(n)
        per_fault[rows[-1]["fault"]] += 1
        if _share(t.id) < f.parallel_order and (moved := clean.reorder_parallel(messages, seed=len(rows))):
            rows.append({"messages": moved, "tools": json.dumps(t.tools), **facets(t), "id": f"{t.id}~order",
                         "source": "augmented", "augmentation": "parallel-order"})
            sizes.append(n)
        if _share(f"{t.id}~renamed") < f.renamed_service and len(t.environment.targets) == 1 \
                and (renamed := rename_service(messages, t.tools, t.environment.targets[0], seed=len(rows))):
            shown, tools, name = renamed
            m = lengths(shown, tools)
            if f.max_tokens is None or m <= f.max_tokens:
                rows.append({"messages": shown, "tools": json.dumps(tools), **facets(t),
                             "id": f"{t.id}~renamed", "target": name, "source": "augmented",
                             "augmentation": "renamed-service"})
                sizes.append(m)
    # Why: investigations of a rare fault type look alike (one target, one tell), so removing
    # near-duplicates starves exactly the types a checkpoint then fails to name on held-out.
    taken_back = 0
    for t, messages, n in spare:
        if per_fault[fault := facets(t)["fault"]] < f.min_per_fault:
            rows.append({"messages": messages, "tools": json.dumps(t.tools), **facets(t)})
            sizes.append(n)
            per_fault[fault] += 1
            dropped["near-duplicate"] -= 1
            taken_back += 1
    return rows, sizes, +dropped, taken_back


def _share(key: str) -> float:
    """A stable number in [0, 1) per trajectory, so an export is the same every time."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def _first_difference(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int:
    i = 0
    while i < min(len(a), len(b)) and json.dumps(a[i], sort_keys=True) == json.dumps(b[i], sort_keys=True):
        i += 1
    return i


def _reason(t: Trajectory) -> str:
    """Why the rejected side of a pair failed, as the run recorded it."""
    for call in t.model_calls:
        if call.get("perturbation"):
            return f"perturbed: {call['perturbation']}"
    g = t.grade
    missed = [k for k in ("detected", "localised", "analysed", "mitigated") if g and getattr(g, k) is False]
    what = g.failure if g and g.failure else (missed or ["harm"])[0]
    return f"{SOURCES.get(t.policy, t.policy)}: {what}"


def dpo_rows(trajectories: Iterable[Trajectory]) -> list[dict[str, Any]]:
    """Preference pairs, each one assistant turn against another after the same conversation: a
    failed run against the success on its world that shares the longest start with it, and a
    refused diagnosis against the one that replaced it."""
    by_world: dict[tuple, list[Trajectory]] = defaultdict(list)
    rows: list[dict[str, Any]] = []
    for t in trajectories:
        if not t.complete or t.grade is None or t.policy in PRIVILEGED:
            continue
        by_world[(t.environment.scenario or t.id, t.environment.variant)].append(t)
        rows += _replan_pairs(t)
    for group in by_world.values():
        good = [(g, clean.canonical(g.messages)) for g in group
                if success(g) and g.policy not in NOT_FOR_SFT and not g.grade.denied]  # type: ignore[union-attr]
        for b in (t for t in group if not success(t)):
            rejected = clean.canonical(b.messages)
            parts = [(g, m, _first_difference(m, rejected)) for g, m in good]
            best = max(parts, key=lambda x: x[2], default=None)
            if best is None:
                continue
            g, chosen, i = best
            if i >= len(chosen) or i >= len(rejected) or chosen[i]["role"] != "assistant" \
                    or rejected[i]["role"] != "assistant":
                continue  # they part at a tool result (the world differed), not at a decision
            # Only the turn where they part: what follows holds tool results, the world's text,
            # which a preference (and its SFT term) would train the model to predict.
            rows.append({"prompt": chosen[:i], "chosen": [chosen[i]], "rejected": [rejected[i]],
                         "tools": json.dumps(g.tools), "kind": "success-vs-failure", "reason": _reason(b),
                         **facets(b), "id": f"{g.id}|{b.id}", "source": SOURCES.get(b.policy, b.policy)})
    return rows


def _replan_pairs(t: Trajectory) -> list[dict[str, Any]]:
    """A diagnosis whose remediation the gate denied or an SRE rejected, against the diagnosis
    that replaced it and succeeded, both answering the same conversation."""
    denied = [d["rule"] for d in t.decisions if d["verdict"] == "deny"]
    rejected = [a.get("reason") or "rejected" for a in t.approvals if a["decision"] == "reject"]
    if not (denied or rejected) or not success(t):
        return []
    messages = clean.canonical(t.messages)
    answers = [i for i, m in enumerate(messages) if m["role"] == "assistant" and not m.get("tool_calls")]
    if len(answers) < 2 or _proposes_refused(messages[answers[-1]], t):
        return []
    first, last = answers[0], answers[-1]
    why = f"gate denied: {denied[0]}" if denied else f"SRE rejected: {rejected[0]}"
    return [{"prompt": messages[:first], "chosen": [messages[last]], "rejected": [messages[first]],
             "tools": json.dumps(t.tools), "kind": "refused-vs-replanned", "reason": why, **facets(t),
             "source": SOURCES.get(t.policy, t.policy)}]


def _proposes_refused(answer: dict[str, Any], t: Trajectory) -> bool:
    """Whether an answer still proposes an action that was denied or rejected (the runbook skips
    it, but a chosen answer must not teach it)."""
    try:
        remedy = json.loads(answer["content"]).get("remediation") or []
    except (json.JSONDecodeError, AttributeError):
        return True
    refused = [d["action"] for d in t.decisions if d["verdict"] == "deny"]
    refused += [a["action"] for a in t.approvals if a["decision"] == "reject"]
    key = lambda c: (c.get("tool"), json.dumps(c.get("args") or {}, sort_keys=True))  # noqa: E731
    return bool({key(c) for c in remedy if isinstance(c, dict)} & {key(r) for r in refused})


def export(trajectories: list[Trajectory], out: Path, f: Filters | None = None,
           tokenizer: Any = None, rewrite: Callable[[Trajectory], Trajectory | None] | None = None,
           profile: str = "full") -> dict[str, Any]:
    """Write `out/sft` and `out/dpo` (Hugging Face datasets on disk), their Parquet files and
    data cards. Returns the counts. `rewrite` shows each run as the prompt profile `profile` would
    (agent.profiles: its system prompt, tools and output budget; None leaves a run out). Raises
    clean.SecretLeak, writing nothing, when a row still holds something secret-shaped."""
    f = f or Filters()
    lengths = Lengths(tokenizer)
    usable = [t for t in trajectories if not held_out(t.environment)]
    held = len(trajectories) - len(usable)
    if rewrite is not None:
        shown = [rewrite(t) for t in usable]
        outside = sum(r is None for r in shown)
        usable = [r for r in shown if r is not None]
    sft, sizes, dropped, taken_back = sft_rows(usable, f, lengths)
    if held:
        dropped["held-out scenario"] = held
    if rewrite is not None and outside:
        dropped[f"a tool outside the {profile} profile"] = outside
    dpo = dpo_rows(usable)
    clean.scan(sft, "SFT")
    clean.scan(dpo, "DPO")
    out.mkdir(parents=True, exist_ok=True)
    pair_sizes = [lengths([*r["prompt"], *r["chosen"]], json.loads(r["tools"])) for r in dpo]
    counts = {"trajectories": len(trajectories), "sft": len(sft), "dpo": len(dpo), "profile": profile,
              "dropped": dict(dropped), "near-duplicates taken back": taken_back}
    for name, rows, n, why in (("sft", sft, sizes, dropped), ("dpo", dpo, pair_sizes, Counter())):
        save(out, name, rows, n, lengths.unit, f.model_dump(), why, len(trajectories))
    (out / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    return counts


def save(out: Path, name: str, rows: list[dict[str, Any]], sizes: list[int], unit: str,
         filters: dict[str, Any], dropped: Counter, trajectories: int) -> None:
    """`out/name` (a Hugging Face dataset on disk, none without rows), `out/name.parquet` and
    its data card."""
    import datasets

    datasets.disable_progress_bars()
    if rows:
        ds = datasets.Dataset.from_list(rows)
        ds.save_to_disk(str(out / name))
        ds.to_parquet(str(out / f"{name}.parquet"))
    write_card(out / name, name, rows, sizes, unit, filters, dropped, trajectories)
