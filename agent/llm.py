"""The `llm` policy: any OpenAI-compatible chat endpoint with native tool calling (vLLM by
default). It returns the model's message as is, with tool-call arguments normalised to one
form (a canonical JSON string, or the raw text when it is not JSON, so the loop can report
the error back to the model).

Guided decoding (`guided`), vLLM structured outputs:
- `always`: the tools are sent as `strict` and the answer format as a JSON schema (the Diagnosis,
  bounded: agent.models.answer_schema); vLLM compiles one grammar, "tool calls whose arguments
  match their schemas, or a Diagnosis" (its structural tags for the hermes format, tool_choice
  auto + structured outputs). It leaves no room for the thought the models trained here write
  before their calls (vllm-project/vllm#39929): measured on sft3-gemma, 38 of 40 runs answered
  without calling a tool (bench/loop_gemma.md).
- `retry` (the default): free decoding, but when the graph asks for the answer again after one
  that was not a valid Diagnosis (`answer=True`), that answer is decoded to the Diagnosis schema
  (tool_choice none, the tools still in the prompt so it reads as the model was trained on)."""

from __future__ import annotations

import time
from typing import Any

import openai

from opsagent.agent.config import LLMConfig
from opsagent.agent.models import answer_schema
from opsagent.trajectories.actions import canonical_arguments

DIAGNOSIS_FORMAT = {"type": "json_schema", "json_schema": {"name": "Diagnosis", "schema": answer_schema()}}


class ModelUnavailable(Exception):
    """The endpoint could not be reached or answered with an error."""


class LLMPolicy:
    def __init__(self, cfg: LLMConfig):
        self.cfg = cfg
        self.client = openai.OpenAI(base_url=cfg.base_url, api_key=cfg.api_key.get_secret_value(),
                                    timeout=cfg.timeout_s, max_retries=1)
        self.last_call: dict[str, Any] = {}
        self.checkpoint = cfg.model  # recorded with every trajectory

    def next(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
             answer: bool = False) -> dict[str, Any]:
        started = time.perf_counter()
        guided: dict[str, Any] = {}
        if self.cfg.guided == "always" and tools:
            tools = [{**t, "function": {**t["function"], "strict": True}} for t in tools]
            guided = {"tool_choice": "auto", "response_format": DIAGNOSIS_FORMAT}
        elif answer and self.cfg.guided != "off":
            guided = {"response_format": DIAGNOSIS_FORMAT, **({"tool_choice": "none"} if tools else {})}
        try:
            response = self.client.chat.completions.create(
                model=self.cfg.model, messages=messages, tools=tools or openai.NOT_GIVEN,  # type: ignore[arg-type]
                temperature=self.cfg.temperature, max_tokens=self.cfg.max_tokens, **guided)
        except openai.OpenAIError as exc:
            raise ModelUnavailable(f"{self.cfg.base_url}: {type(exc).__name__}: {exc}") from exc
        choice = response.choices[0].message
        usage = response.usage
        self.last_call = {"ms": round((time.perf_counter() - started) * 1000, 1), "model": response.model,
                          "prompt_tokens": usage.prompt_tokens if usage else 0,
                          "completion_tokens": usage.completion_tokens if usage else 0}
        message: dict[str, Any] = {"role": "assistant", "content": choice.content or ""}
        if choice.tool_calls:
            message["tool_calls"] = [
                {"id": c.id or f"call_{i}", "type": "function",
                 "function": {"name": c.function.name,
                              "arguments": canonical_arguments(c.function.arguments)}}
                for i, c in enumerate(choice.tool_calls)]
        return message
