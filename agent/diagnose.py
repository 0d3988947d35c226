"""Diagnose: one policy step per node (ReAct over the read-only tools); its tool calls run in
the `tools` node. Malformed answers and calls are fed back once and counted; twice in a row
ends the investigation (the retry after a malformed answer may be decoded to the schema). So
is "no incident" without evidence while a critical alert fires."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from opsagent.agent.deps import Deps
from opsagent.agent.models import Diagnosis
from opsagent.agent.state import IncidentState, usage_of

# The feedback after an answer that is not a Diagnosis; the policy's next answer is asked for
# with `answer=True` (the llm policy may then decode it to the schema: agent.llm).
MALFORMED = "error: that answer is not a valid Diagnosis JSON"


def diagnose(d: Deps, s: IncidentState) -> dict[str, Any]:
    usage = usage_of(s)
    messages = list(s.get("messages") or [])
    if not messages:
        messages = [{"role": "system", "content": d.config.profile.system(d.registry)},
                    {"role": "user", "content": s["task"]}]
    b = d.config.budgets
    if usage["steps"] >= b.max_steps or usage["tool_calls"] >= b.max_tool_calls \
            or usage["tokens"] >= b.max_tokens:
        spent = f"{usage['steps']} steps, {usage['tool_calls']} tool calls, {usage['tokens']} tokens"
        return {"stuck": f"budget exhausted ({spent})", "messages": messages, "route": "coordinator"}
    try:
        message = d.policy.next(messages, d.config.profile.schemas(d.registry),
                                answer=str(messages[-1].get("content") or "").startswith(MALFORMED))
    except Exception as exc:  # the model endpoint is down: escalate with what is known
        return {"stuck": f"the model failed: {exc}", "messages": messages, "route": "coordinator"}
    call = dict(getattr(d.policy, "last_call", {}) or {})
    usage["steps"] += 1
    usage["tokens"] += call.get("prompt_tokens", 0) + call.get("completion_tokens", 0)
    messages.append(message)
    calls = [*(s.get("model_calls") or []), {"step": usage["steps"], **call}]
    update: dict[str, Any] = {"messages": messages, "usage": usage, "model_calls": calls}
    if message.get("tool_calls"):
        return {**update, "route": "tools"}
    try:
        diagnosis = Diagnosis.model_validate_json(message.get("content") or "")
    except ValidationError as exc:
        usage["malformed"] += 1
        usage["malformed_streak"] += 1
        if usage["malformed_streak"] >= 2:
            return {**update, "stuck": "the model's answers were not a valid Diagnosis twice",
                    "route": "coordinator"}
        messages.append({"role": "user", "content": f"{MALFORMED} ({exc.errors()[0]['msg']} at "
                         f"{exc.errors()[0]['loc']}); call tools or answer with the Diagnosis JSON only."})
        return {**update, "route": "diagnose"}
    if not diagnosis.is_incident and not diagnosis.evidence \
            and (s.get("triage") or {}).get("severity") == "critical":
        usage["malformed_streak"] += 1  # a valid answer, but not an acceptable one
        if usage["malformed_streak"] >= 2:
            return {**update, "stuck": "unsupported 'no incident' while a critical alert fires, twice",
                    "route": "coordinator"}
        messages.append({"role": "user", "content": "error: a critical alert is firing; 'no incident' needs "
                         "evidence (the tool results that show it is benign, in `evidence`). Investigate "
                         "further, or report the incident."})
        return {**update, "route": "diagnose"}
    usage["malformed_streak"] = 0
    answer = diagnosis.model_dump()
    earlier = list(s.get("diagnoses") or [])[:s.get("round", 0)]  # a re-plan replaces this round's
    return {**update, "diagnosis": answer, "diagnoses": [*earlier, answer], "route": "coordinator"}


def tools(d: Deps, s: IncidentState) -> dict[str, Any]:
    usage = usage_of(s)
    messages = list(s["messages"])
    allowed = set(d.config.profile.tool_names(d.registry))
    bad = 0
    calls = messages[-1].get("tool_calls") or []
    for call in calls:
        name = call["function"]["name"]
        usage["tool_calls"] += 1
        if name not in allowed:
            bad += 1
            content = (f"error: tool {name!r} is not available while diagnosing; available: "
                       f"{', '.join(sorted(allowed))}")
        else:
            result = d.registry.call(d.ctx, name, call["function"]["arguments"])
            if result.status == "error" and result.error and result.error.startswith(
                    ("invalid arguments", "arguments are not valid JSON", "arguments must be")):
                bad += 1
            content = d.config.profile.fit_output(result.text)
        messages.append({"role": "tool", "tool_call_id": call["id"], "name": name, "content": content})
    usage["malformed"] += bad
    usage["malformed_streak"] = usage["malformed_streak"] + 1 if calls and bad == len(calls) else 0
    update = {"messages": messages, "usage": usage, "route": "diagnose"}
    if usage["malformed_streak"] >= 2:
        return {**update, "stuck": "repeated malformed tool calls", "route": "coordinator"}
    return update
