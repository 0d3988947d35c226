"""Export: graded trajectories become the datasets TRL trains on, unchanged.

SFT rows are `messages` (system, user, assistant turns with `tool_calls` — the thoughts kept as
chain-of-thought —, tool results, the final Diagnosis) + `tools` (a JSON string, as TRL reads
it), from trajectories that passed the quality filters. DPO rows are `prompt` / `chosen` /
`rejected` (+ `tools`) at the same state: a success and a failure of the same scenario where
they part (ETO-style), and an answer the gate denied or an SRE rejected against the answer that
replaced it."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from opsagent.trajectories.grade import succeeded
from opsagent.trajectories.models import Trajectory
from opsagent.trajectories.splits import held_out

PRIVILEGED = {"oracle"}  # policies that read ground truth: no evidence a student could gather


class Filters(BaseModel):
    max_chars: int = 60_000  # length bound (~4 characters a token)
    max_tokens: int | None = None  # exact bound, with the tokenizer given to export()
    allow_denied: bool = False
    allow_malformed: bool = False
    include_privileged: bool = False


def _clean(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stable tool-call ids (call_0, call_1, ... per trajectory) and only the keys a chat
    template reads, so identical behaviour gives identical rows."""
    ids: dict[str, str] = {}
    out = []
    for m in messages:
        row: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
        if m.get("tool_calls"):
            row["tool_calls"] = []
            for c in m["tool_calls"]:
                ids[c["id"]] = f"call_{len(ids)}"
                row["tool_calls"].append({"id": ids[c["id"]], "type": "function",
                                          "function": {"name": c["function"]["name"],
                                                       "arguments": c["function"]["arguments"]}})
        if m["role"] == "tool":
            row["tool_call_id"] = ids.get(m.get("tool_call_id", ""), m.get("tool_call_id", ""))
            row["name"] = m.get("name", "")
        out.append(row)
    return out


def success(t: Trajectory) -> bool:
    return t.complete and succeeded(t.grade)


def why_not(t: Trajectory, f: Filters) -> str | None:
    """The filter a trajectory fails for SFT, or None when it passes."""
    if t.policy in PRIVILEGED and not f.include_privileged:
        return "privileged policy"
    if not success(t):
        return "not a success"
    if t.grade and t.grade.denied and not f.allow_denied:
        return "denied actions"
    if (t.usage or {}).get("malformed", 0) and not f.allow_malformed:
        return "malformed calls"
    if len(json.dumps(t.messages)) > f.max_chars:
        return "too long"
    return None


def sft_rows(trajectories: Iterable[Trajectory], f: Filters,
             tokenizer: Any = None) -> tuple[list[dict[str, Any]], Counter]:
    rows, seen, dropped = [], set(), Counter()
    for t in trajectories:
        reason = why_not(t, f)
        if reason is None and tokenizer is not None and f.max_tokens is not None:
            ids = tokenizer.apply_chat_template(_clean(t.messages), tools=t.tools, tokenize=True,
                                                return_dict=True)["input_ids"]
            reason = "too long" if len(ids) > f.max_tokens else None
        if reason is None:
            messages = _clean(t.messages)
            key = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()
            if key in seen:
                reason = "duplicate"
            else:
                seen.add(key)
                rows.append({"messages": messages, "tools": json.dumps(t.tools), "id": t.id,
                             "fault": ",".join(t.environment.faults), "policy": t.policy})
        if reason is not None:
            dropped[reason] += 1
    return rows, dropped


def _first_difference(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> int:
    i = 0
    while i < min(len(a), len(b)) and json.dumps(a[i], sort_keys=True) == json.dumps(b[i], sort_keys=True):
        i += 1
    return i


def dpo_rows(trajectories: Iterable[Trajectory]) -> list[dict[str, Any]]:
    by_scenario: dict[str, list[Trajectory]] = defaultdict(list)
    rows: list[dict[str, Any]] = []
    for t in trajectories:
        if not t.complete or t.grade is None:
            continue
        by_scenario[t.environment.scenario or t.id].append(t)
        rows += _replan_pairs(t)
    for group in by_scenario.values():
        good = [t for t in group if success(t) and not (t.grade and t.grade.denied)]
        bad = [t for t in group if not success(t)]
        for g, b in zip(good, bad, strict=False):
            chosen, rejected = _clean(g.messages), _clean(b.messages)
            i = _first_difference(chosen, rejected)
            if i >= len(chosen) or i >= len(rejected) or chosen[i]["role"] != "assistant" \
                    or rejected[i]["role"] != "assistant":
                continue  # they part at a tool result (the world differed), not at a decision
            rows.append({"prompt": chosen[:i], "chosen": chosen[i:], "rejected": rejected[i:],
                         "tools": json.dumps(g.tools), "kind": "success-vs-failure", "id": f"{g.id}|{b.id}"})
    return rows


def _replan_pairs(t: Trajectory) -> list[dict[str, Any]]:
    """A diagnosis whose remediation the gate denied or an SRE rejected, against the diagnosis
    that replaced it and succeeded, both answering the same conversation."""
    refused = any(d["verdict"] == "deny" for d in t.decisions) or \
        any(a["decision"] == "reject" for a in t.approvals)
    if not refused or not success(t):
        return []
    messages = _clean(t.messages)
    answers = [i for i, m in enumerate(messages) if m["role"] == "assistant" and not m.get("tool_calls")]
    if len(answers) < 2:
        return []
    first, last = answers[0], answers[-1]
    return [{"prompt": messages[:first], "chosen": [messages[last]], "rejected": [messages[first]],
             "tools": json.dumps(t.tools), "kind": "refused-vs-replanned", "id": t.id}]


def _card(name: str, rows: list[dict[str, Any]], trajectories: list[Trajectory], f: Filters | None,
          dropped: Counter | None) -> str:
    lengths = [len(json.dumps(r)) // 4 for r in rows]
    buckets = Counter(min(n // 1000, 16) for n in lengths)
    digest = hashlib.sha256("\n".join(json.dumps(r, sort_keys=True) for r in rows).encode()).hexdigest()
    faults = Counter(",".join(t.environment.faults) or "-" for t in trajectories)
    lines = [f"# opsagent {name} dataset", "", f"- rows: {len(rows)}",
             f"- source trajectories: {len(trajectories)}",
             f"- source policies: {dict(Counter(t.policy for t in trajectories))}",
             f"- content hash (sha256 of the rows): `{digest}`"]
    if f is not None:
        lines.append(f"- filters: {f.model_dump()}; dropped: {dict(dropped or {})}")
    kinds = Counter(r.get("kind", name) for r in rows)
    lines += [f"- kinds: {dict(kinds)}", "", "## Trajectories by fault type", "",
              "| fault | trajectories |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in sorted(faults.items())]
    lines += ["", "## Length (≈ tokens, 4 characters each)", "", "| tokens | rows |", "| --- | --- |"]
    lines += [f"| {b * 1000}–{b * 1000 + 999}{'+' if b == 16 else ''} | {n} |"
              for b, n in sorted(buckets.items())]
    return "\n".join(lines) + "\n"


def export(trajectories: list[Trajectory], out: Path, f: Filters | None = None,
           tokenizer: Any = None) -> dict[str, Any]:
    """Write `out/sft` and `out/dpo` (Hugging Face datasets on disk), their Parquet files and
    data cards. Returns the counts."""
    import datasets

    datasets.disable_progress_bars()
    f = f or Filters()
    out.mkdir(parents=True, exist_ok=True)
    # Evaluation's worlds, targets and fault types never reach a training set.
    usable = [t for t in trajectories if not held_out(t.environment)]
    sft, dropped = sft_rows(usable, f, tokenizer)
    if len(usable) < len(trajectories):
        dropped["held-out scenario"] = len(trajectories) - len(usable)
    dpo = dpo_rows(usable)
    counts = {"trajectories": len(trajectories), "sft": len(sft), "dpo": len(dpo), "dropped": dict(dropped)}
    for name, rows, filters, why in (("sft", sft, f, dropped), ("dpo", dpo, None, None)):
        target = out / name
        if rows:
            ds = datasets.Dataset.from_list(rows)
            ds.save_to_disk(str(target))
            ds.to_parquet(str(out / f"{name}.parquet"))
        else:
            target.mkdir(parents=True, exist_ok=True)
        (target / "README.md").write_text(_card(name, rows, trajectories, filters, why))
    (out / "counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    return counts
