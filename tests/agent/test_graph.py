"""The incident graph end to end on the live sandbox (Kubernetes API, Elasticsearch API, real
Prometheus), with each policy: what the SRE reads at the end, and what actually happened to
the cluster (the sandbox's ground truth, which the agent never sees)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Request
from typer.testing import CliRunner

from opsagent.agent.config import AgentConfig, Budgets, EscalationConfig, GuidedMode, LLMConfig
from opsagent.agent.expert import Expert
from opsagent.agent.llm import LLMPolicy
from opsagent.agent.models import answer_schema
from opsagent.agent.notify import WebhookNotifier
from opsagent.agent.runner import auto_approve
from opsagent.agent.sim.oracle import Oracle
from opsagent.sandbox.httpserver import AppServer
from opsagent.serve.cli.main import app
from tests.agent.harness import Receiver, agent, load
from tests.live import requires_stack

pytestmark = requires_stack
ALERT = [{"status": "firing", "labels": {"alertname": "ShopServiceHighErrorRate", "severity": "critical",
                                         "service": "checkout", "namespace": "shop"},
          "annotations": {"description": "checkout answers 5xx"},
          "startsAt": datetime.fromtimestamp(time.time() - 1200, UTC).isoformat()}]  # 20 minutes ago


def test_expert_diagnoses_acts_through_the_gate_and_verifies(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    with Receiver() as pager, agent(box, registry, tmp_path, Expert(),
                                    notifier=WebhookNotifier(pager.url)) as runner:
        runner.start("inc-1", "checkout errors", ALERT, source="alertmanager")
        state = runner.drive("inc-1", auto_approve)
        incidents = runner.store.incidents()
    assert state["outcome"] == "mitigated" and box.scenario.mitigated()
    messages = state["messages"]
    assert [m["role"] for m in messages[:3]] == ["system", "user", "assistant"]
    assert all(json.loads(c["function"]["arguments"]) is not None
               for m in messages if m.get("tool_calls") for c in m["tool_calls"])
    assert state["diagnosis"]["components"] == ["shop/Deployment/checkout"]
    decision, recheck = state["decisions"]  # judged when proposed, and again before it ran
    assert decision["verdict"] == "approve" and decision["rule"] == "risk:prod:mutate-high"
    assert recheck["recheck"] and recheck["verdict"] == "approve" and not decision.get("recheck")
    assert state["approvals"][0]["by"] == "auto"
    [done] = state["executed"]
    assert done["tool"] == "k8s_rollout_undo" and done["status"] == "success" and done["rollback"]
    assert state["verification"]["cleared"] and state["verification"]["checks"]
    assert "Incident inc-1: mitigated" in state["report"]
    # checkout is a core service hit for longer than 15 minutes: the on-call was paged over HTTP
    assert pager.received and pager.received[0]["body"]["incident"] == "inc-1"
    assert incidents[0]["status"] == "done" and incidents[0]["outcome"] == "mitigated"


def test_oracle_takes_the_shortest_path(box, registry, tmp_path):
    load(box, "scaled_to_zero", "cart")
    with agent(box, registry, tmp_path, Oracle(box.scenario)) as runner:
        runner.start("inc-o", "cart is down", [], source="chat")
        state = runner.drive("inc-o", auto_approve)
    assert state["usage"]["tool_calls"] == 0 and state["usage"]["steps"] == 1
    assert state["outcome"] == "mitigated" and box.scenario.mitigated()


def test_a_red_herring_ends_without_action(box, registry, tmp_path):
    load(box, "benign_restart")
    with agent(box, registry, tmp_path, Expert()) as runner:
        state = runner.start("inc-n", "a pod restarted once; anything wrong?", [], source="chat")
    assert state["outcome"] == "no_incident" and not state["executed"] and not state["decisions"]


def test_budget_exhaustion_reports_what_is_known_and_escalates(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    cfg = AgentConfig(budgets=Budgets(max_steps=1), escalation=EscalationConfig(page_after_minutes=60))
    with Receiver() as pager, agent(box, registry, tmp_path, Expert(), cfg=cfg,
                                    notifier=WebhookNotifier(pager.url)) as runner:
        state = runner.start("inc-b", "checkout errors", ALERT, source="alertmanager")
    assert state["outcome"] == "escalated" and not state["executed"]
    assert "budget exhausted (1 steps" in state["stuck"]
    [page] = pager.received
    assert page["body"]["reason"].startswith("budget exhausted")
    assert "No diagnosis: budget exhausted" in state["report"]


# ---- the llm policy against an OpenAI-compatible HTTP endpoint ---------------------------------
# A scripted server stands in for vLLM here, so that each malformed call is exactly the one we
# mean to send; the real vLLM CPU server is tested with the training stack.

def _call(name: str, arguments: str, i: int) -> dict[str, Any]:
    return {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": arguments}}


class ScriptedModel:
    def __init__(self, script: list[dict[str, Any]]):
        self.script = script
        self.requests: list[dict[str, Any]] = []
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def complete(request: Request) -> dict[str, Any]:
            body = json.loads(await request.body())
            self.requests.append(body)
            message = self.script[min(len(self.requests), len(self.script)) - 1]
            finish = "tool_calls" if message.get("tool_calls") else "stop"
            choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
            return {"id": f"cmpl-{len(self.requests)}", "object": "chat.completion",
                    "created": int(time.time()), "model": body["model"], "choices": [choice],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}

        self.server = AppServer(app, "model")

    def __enter__(self) -> ScriptedModel:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def policy(self, guided: GuidedMode = "retry") -> LLMPolicy:
        return LLMPolicy(LLMConfig(base_url=f"{self.server.url}/v1", model="tiny", guided=guided))


DIAGNOSIS = {"is_incident": True, "hypothesis": "defective release",
             "components": ["shop/Deployment/checkout"],
             "level": "Application", "fault_type": "Code Defect", "summary": "NPE after the release",
             "confidence": 0.7, "evidence": [{"tool": "logs_patterns", "finding": "NullPointerException"}],
             "remediation": [{"tool": "k8s_rollout_undo", "args": {"name": "checkout"}, "why": "roll back"}]}


def test_llm_policy_malformed_calls_are_fed_back_and_counted(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    script = [
        {"content": "Let me look.", "tool_calls": [_call("k8s_list_pods", '{"namespace": "shop"', 1)]},
        {"content": "", "tool_calls": [_call("k8s_list_pods", '{"namespace": "shop"}', 2)]},
        {"content": "", "tool_calls": [_call("kubectl_exec", '{"cmd": "ls"}', 3)]},
        {"content": "", "tool_calls": [_call("logs_patterns", '{"level": "ERROR", "minutes": 15}', 4)]},
        {"content": json.dumps(DIAGNOSIS)},
    ]
    with ScriptedModel(script) as model, agent(box, registry, tmp_path, model.policy()) as runner:
        runner.start("inc-l", "checkout errors", ALERT, source="alertmanager")
        state = runner.drive("inc-l", auto_approve)
    tool_messages = [m["content"] for m in state["messages"] if m["role"] == "tool"]
    assert tool_messages[0].startswith("error: arguments are not valid JSON")
    assert "checkout" in tool_messages[1]
    assert "'kubectl_exec' is not available" in tool_messages[2]
    assert "NullPointerException" in tool_messages[3]
    assert state["usage"]["malformed"] == 2 and state["usage"]["tokens"] == 5 * 120
    # the model saw every tool (OpenAI schema) and every earlier result, in the one message format
    last = model.requests[-1]
    assert {t["function"]["name"] for t in last["tools"]} >= {"k8s_list_pods", "logs_patterns"}
    assert [m["role"] for m in last["messages"]][-2:] == ["assistant", "tool"]
    pinned = {"name": "checkout", "namespace": "shop", "to_revision": 2}  # the revision fixed when proposed
    assert state["runbook"]["actions"][0]["args"] == pinned
    assert state["outcome"] == "mitigated" and box.scenario.mitigated()
    assert [c["prompt_tokens"] for c in state["model_calls"]] == [100] * 5


def test_llm_policy_malformed_calls_twice_in_a_row_end_the_step(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    script = [{"content": "", "tool_calls": [_call("k8s_list_pods", "namespace=shop", 1)]},
              {"content": "", "tool_calls": [_call("k8s_list_pods", '{"namespace": 7}', 2)]}]
    with ScriptedModel(script) as model, agent(box, registry, tmp_path, model.policy()) as runner:
        state = runner.start("inc-m", "checkout errors", ALERT, source="alertmanager")
    assert len(model.requests) == 2 and state["stuck"] == "repeated malformed tool calls"
    assert state["outcome"] == "escalated" and state["usage"]["malformed"] == 2


@pytest.mark.parametrize("guided", ["retry", "off"])
def test_llm_policy_repeated_failure_ends_the_step_cleanly(box, registry, tmp_path, guided):
    """(A scripted endpoint stands in for vLLM here; tests/train/test_serving.py runs the real one.)"""
    load(box, "bad_rollout", "checkout")
    script = [{"content": "I think it is checkout"}, {"content": "{\"is_incident\": true}"}]
    with ScriptedModel(script) as model, agent(box, registry, tmp_path, model.policy(guided)) as runner:
        state = runner.start("inc-x", "checkout errors", ALERT, source="alertmanager")
    first, retry = model.requests
    assert "not a valid Diagnosis" in retry["messages"][-1]["content"]
    assert state["outcome"] == "escalated" and state["usage"]["malformed"] == 2 and not state["executed"]
    # The first answer is free; by default the retry is decoded to the Diagnosis schema, with the
    # same tools in the prompt but none callable.
    assert "response_format" not in first and first["tools"] == retry["tools"]
    if guided == "retry":
        assert retry["response_format"]["json_schema"]["schema"] == answer_schema()
        assert retry["tool_choice"] == "none"
    else:
        assert "response_format" not in retry and "tool_choice" not in retry



def test_llm_endpoint_down_escalates(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    policy = LLMPolicy(LLMConfig(base_url="http://127.0.0.1:9/v1", timeout_s=2))
    with agent(box, registry, tmp_path, policy) as runner:
        state = runner.start("inc-d", "checkout errors", ALERT, source="alertmanager")
    assert state["outcome"] == "escalated" and state["stuck"].startswith("the model failed")


def test_opsagent_run_prints_the_investigation(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    out = CliRunner().invoke(app, ["run", "--scenario", "bad_rollout@checkout", "--approve", "auto"])
    assert out.exit_code == 0, out.output
    for text in ("diagnosis defective release", "gate approve k8s_rollout_undo", "execute k8s_rollout_undo",
                 "verify cleared", "Incident bad_rollout@checkout#s0", "ground truth: mitigated"):
        assert text in out.output, text


def test_opsagent_run_names_the_bad_option():
    out = CliRunner().invoke(app, ["run", "--scenario", "bad_rollout", "--policy", "gpt"])
    assert out.exit_code == 2 and "Invalid value for '--policy'" in out.output
    assert "'gpt' is not one of" in out.output
    out = CliRunner().invoke(app, ["run", "--scenario", "no_such_fault"])
    assert out.exit_code == 2 and "unknown fault type 'no_such_fault'" in out.output
