"""The incident report an SRE reads at the end: what fired, what was found, what was done
(with the gate's and the approvers' decisions), whether it worked, and who was paged."""

from __future__ import annotations

import json
from typing import Any


def render(s: dict[str, Any]) -> str:
    t = s.get("triage") or {}
    lines = [f"# Incident {s.get('incident_id')}: {s.get('outcome') or 'in progress'}",
             f"Triage: {t.get('reason', '-')}; severity {t.get('severity', '-')}; "
             f"alerts {', '.join(t.get('alerts') or []) or '-'}"]
    rounds = s.get("diagnoses") or ([s["diagnosis"]] if s.get("diagnosis") else [])
    for i, d in enumerate(rounds):
        label = f"Diagnosis {i + 1}" if len(rounds) > 1 else "Diagnosis"
        lines += [f"{label}: {d['hypothesis']} — {d['summary']} (confidence {d['confidence']:.2f})",
                  f"Components: {', '.join(d['components']) or '-'}; level {d.get('level') or '-'}; "
                  f"type {d.get('fault_type') or '-'}"]
        lines += [f"  evidence [{e['tool']}]: {e['finding']}" for e in d.get("evidence", [])]
    if not rounds and s.get("stuck"):
        lines.append(f"No diagnosis: {s['stuck']}")
    book = s.get("runbook")
    if book:
        lines.append("Runbook: " + (book["analysis"] or ""))
        lines += [f"  action: {a['tool']} {json.dumps(a['args'])} ({a['risk']}) — {a['why']}"
                  for a in book["actions"]]
        lines += [f"  rollback: {r}" for r in book["rollback"]]
    for dec in s.get("decisions") or []:
        a = dec["action"]
        lines.append(f"Gate: {dec['verdict']} {a['tool']} {json.dumps(a['args'])} "
                     f"[{dec['rule']}] {dec['reason']}")
    for ap in s.get("approvals") or []:
        lines.append(f"Approval: {ap['decision']} by {ap['by']} ({ap['role']})"
                     + (f": {ap['reason']}" if ap.get("reason") else ""))
    for ex in s.get("executed") or []:
        lines.append(f"Executed: {ex['tool']} {json.dumps(ex['args'])} -> {ex['status']}: "
                     f"{ex['text'].splitlines()[0] if ex['text'] else ''}")
    checked = [*(s.get("verifications") or []), *([s["verification"]] if s.get("verification") else [])]
    for i, v in enumerate(checked):
        label = f"Verification {i + 1}" if len(checked) > 1 else "Verification"
        lines.append(f"{label}: {'cleared' if v.get('cleared') else 'NOT cleared'} after "
                     f"{v.get('after_s', 0):.0f}s over {len(v.get('checks', []))} check(s)")
        if i == len(checked) - 1:  # what is still wrong at the end
            lines += [f"  still wrong: {q}" for q in sorted(v.get("still_failing") or {})]
    for e in s.get("escalations") or []:
        lines.append(f"{e['kind'].capitalize()}: {e['reason']} (delivered: {e.get('delivered')})")
    u = s.get("usage") or {}
    lines.append(f"Cost: {u.get('steps', 0)} model steps, {u.get('tool_calls', 0)} tool calls, "
                 f"{u.get('tokens', 0)} tokens, {u.get('malformed', 0)} malformed")
    return "\n".join(lines)
