"""On-policy answer pairs (train.answer_pairs): which teacher runs become questions, how a sampled
answer is judged against the run's ground truth, and the pairs made of the wrong ones. The
sampler here is a list of answers written out: what a served checkpoint samples is tested with
vLLM in tests/train/test_serving.py."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from opsagent.agent.profiles import profile
from opsagent.train.answer_pairs import openai_sampler, pairs, questions, sampled, wrong
from opsagent.trajectories.models import Environment, Grade, Trajectory

CHECKOUT = "shop/Deployment/checkout"
TRUTH = {"fault": "bad_rollout", "is_incident": True, "category": "software", "level": "Application",
         "fault_type": "Code Defect", "components": [CHECKOUT], "target": "checkout", "severity": 1.0,
         "onset": 0.0, "summary": "a defective release", "alerts": [],
         "mitigations": [[{"action": "rollout_undo", "namespace": "shop", "name": "checkout"}]],
         "harmful": [{"action": "scale", "namespace": "shop", "name": "checkout", "replicas": 0}]}


def answer(**change: Any) -> str:
    d = {"is_incident": True, "symptom": "checkout 5xx since revision 7", "hypothesis": "defective release",
         "components": [CHECKOUT], "level": "Application", "fault_type": "Code Defect",
         "summary": "revision 7 of checkout fails its requests", "evidence": [], "confidence": 0.8,
         "remediation": [{"tool": "k8s_rollout_undo", "args": {"namespace": "shop", "name": "checkout"},
                          "why": "back to the last good revision"}]}
    return json.dumps({**d, **change})


def run(id: str = "t1", policy: str = "expert", seed: int = 3, target: str = "checkout",
        observation: str = "checkout: 5xx 40%", succeeded: bool = True) -> Trajectory:
    call = {"id": "c0", "type": "function",
            "function": {"name": "k8s_list_pods", "arguments": json.dumps({"namespace": "shop"})}}
    return Trajectory(
        id=id, incident=f"inc-{id}", created=0.0, complete=True, source="scenario", input={"task": "alert"},
        environment=Environment(kind="sandbox", scenario=f"s{seed}", seed=seed, faults=["bad_rollout"],
                                targets=[target]),
        policy=policy, profile="compact-symptom", ground_truth=[{**TRUTH, "target": target}],
        messages=[{"role": "system", "content": "You are an SRE."},
                  {"role": "user", "content": "KubePodCrashLooping in shop"},
                  {"role": "assistant", "content": "Which pods fail?", "tool_calls": [call]},
                  {"role": "tool", "tool_call_id": "c0", "content": observation},
                  {"role": "assistant", "content": answer()}],
        grade=Grade(source="ground-truth", detected=True, localised=succeeded, analysed=True, mitigated=True))


def test_a_sampled_answer_is_judged_by_the_one_grader_against_the_runs_truth():
    t = run()
    assert wrong(answer(), t) is None
    assert wrong(answer(components=["shop/Deployment/frontend"]), t) == "localisation"
    assert wrong(answer(fault_type="Misconfiguration"), t) == "analysis"
    assert wrong(answer(is_incident=False, components=[]), t) == "detection"
    assert wrong('{"is_incident": true, "hypothesis": "cut off', t) == "malformed"
    scale_down = [{"tool": "k8s_scale", "args": {"namespace": "shop", "name": "checkout", "replicas": 0}}]
    assert wrong(answer(remediation=scale_down), t) == "harmful"
    # another remedy than the teacher's: only the sandbox could say whether it works — no verdict
    assert wrong(answer(remediation=[{"tool": "k8s_rollout_restart",
                                      "args": {"namespace": "shop", "name": "checkout"}}]), t) is None


def test_questions_are_the_teachers_successes_on_training_worlds_once_each():
    runs = [run("a"), run("copy", observation="checkout: 5xx 40%"),
            run("b", observation="other pods, all 503"),
            run("held", seed=1000), run("target", target="payment"), run("mine", policy="llm"),
            run("failed", succeeded=False, observation="a third text entirely, nothing alike")]
    qs = list(questions(runs, profile("compact-symptom").rewrite))
    assert [q.run.id for q in qs] == ["a", "b"]  # a near-copy of a, evaluation worlds, others' runs out
    assert [m["role"] for m in qs[0].prompt] == ["system", "user", "assistant", "tool"]
    assert json.loads(qs[0].answer["content"])["fault_type"] == "Code Defect"


def test_the_teachers_right_hand_over_is_a_question_only_when_asked_for():
    handed = run("handed", observation="coredns: plugin/forward: not an IP address or file")
    handed.messages[-1]["content"] = answer(remediation=[])
    handed = handed.model_copy(update={"outcome": "escalated", "grade": Grade(
        source="ground-truth", detected=True, localised=True, analysed=True, mitigated=False)})
    wrongly = handed.model_copy(update={"id": "wrongly", "grade": handed.grade.model_copy(
        update={"localised": False})})
    rewrite = profile("compact-symptom").rewrite
    assert list(questions([handed, wrongly], rewrite)) == []  # it mitigated nothing
    [q] = questions([handed, wrongly], rewrite, hand_overs=True)  # named rightly, left to a human
    assert q.run.id == "handed" and json.loads(q.answer["content"])["remediation"] == []


def test_each_wrong_answer_is_paired_with_the_teachers_and_right_ones_make_no_pair(tmp_path):
    qs = list(questions([run("a"), run("b", observation="other pods, all 503")],
                        profile("compact-symptom").rewrite))
    sampled_ = {"a": [answer(), answer(fault_type="Misconfiguration"), answer(fault_type="Misconfiguration"),
                      None, answer(summary="the token is ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8")],
                "b": [answer(), answer()]}
    by_prompt = {json.dumps(q.prompt): sampled_[q.run.id] for q in qs}
    answers = sampled(qs, lambda prompt, *_: by_prompt[json.dumps(prompt)], tmp_path / "a.jsonl", 5, 2)
    rows, judged = pairs(qs, answers, per_question=2)
    assert judged == {"right": 3, "analysis": 2, "tool call": 1, "secret-shaped": 1}
    assert len(rows) == 1  # the two wrong answers were the same text: one pair
    row = rows[0]
    assert row["kind"] == "teacher-vs-checkpoint-answer" and row["reason"] == "checkpoint: analysis"
    assert row["chosen"] == [qs[0].answer] and row["prompt"] == qs[0].prompt
    assert row["rejected"] == [{"role": "assistant", "content": answer(fault_type="Misconfiguration")}]
    assert row["fault"] == "bad_rollout" and row["split"] == "train" and "ground_truth" not in json.dumps(row)


def test_answers_are_kept_as_they_come_and_a_rerun_asks_only_the_rest(tmp_path):
    qs = list(questions([run("a"), run("b", observation="other pods, all 503")],
                        profile("compact-symptom").rewrite))
    log = tmp_path / "answers.jsonl"
    log.write_text(json.dumps({"run": "a", "answers": [answer()]}) + "\n" + '{"run": "b", "answ')  # killed
    asked: list[tuple[str, int, int]] = []

    def sample(prompt: list[dict[str, Any]], _tools: Any, have: int, n: int) -> list[str | None]:
        asked.append((prompt[-1]["content"], have, n))
        return [answer(components=[])] * n

    answers = sampled(qs, sample, log, n=1)
    assert asked == [("other pods, all 503", 0, 1)]
    assert answers == {"a": [answer()], "b": [answer(components=[])]}
    assert sampled(qs, sample, log, n=1) == answers and len(asked) == 1  # all there: nothing asked again
    # more answers wanted: each run is asked only for those it lacks, after the ones it has
    more = sampled(qs, sample, log, n=3)
    assert sorted(asked[1:]) == [("checkout: 5xx 40%", 1, 2), ("other pods, all 503", 1, 2)]
    assert more["a"] == [answer(), answer(components=[]), answer(components=[])]


class FakeCompletions:
    """Stands in for the OpenAI client's chat.completions: the temperature each request asked for
    (what vLLM does with it is tested in tests/train/test_serving.py)."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, float]] = []

    def create(self, *, n: int, temperature: float, **_: Any) -> Any:
        self.asked.append((n, temperature))
        message = SimpleNamespace(tool_calls=None, content=answer(summary=f"T={temperature}"))
        return SimpleNamespace(choices=[SimpleNamespace(message=message)] * n)


def test_greedy_first_makes_a_runs_first_answer_the_one_the_served_model_gives():
    completions = FakeCompletions()
    client = SimpleNamespace(chat=SimpleNamespace(completions=completions))
    sample = openai_sampler(client, "m", temperature=0.5, max_tokens=100, greedy_first=True)
    got = sample([{"role": "user", "content": "?"}], [], 0, 3)
    assert completions.asked == [(1, 0.0), (2, 0.5)]
    assert [json.loads(a)["summary"] for a in got if a] == ["T=0.0", "T=0.5", "T=0.5"]
    sample([{"role": "user", "content": "?"}], [], 1, 2)  # the greedy one is there: only samples
    assert completions.asked[2:] == [(2, 0.5)]


def compact(text: str) -> str:
    return json.dumps(json.loads(text), separators=(",", ":"))


def test_a_minimal_edit_differs_from_the_teachers_answer_only_where_the_checkpoint_was_wrong():
    teacher = compact(answer())
    t = run()
    t.messages[-1]["content"] = teacher  # the store's answers are compact JSON
    [q] = questions([t], profile("compact-symptom").rewrite)
    undo_frontend = [{"tool": "k8s_rollout_undo", "args": {"namespace": "shop", "name": "frontend"}}]
    frontend = answer(components=["shop/Deployment/frontend"], hypothesis="frontend broke", summary="mine",
                      remediation=undo_frontend)
    rows, _ = pairs([q], {t.id: [frontend]}, minimal=True)
    [row] = rows
    edited = row["rejected"][0]["content"]
    assert row["kind"] == "teacher-vs-checkpoint-edit" and wrong(edited, t) == "localisation"
    assert edited == teacher.replace(CHECKOUT, "shop/Deployment/frontend", 1).replace(
        '"hypothesis":"defective release"', '"hypothesis":"frontend broke"')  # summary, remedy: the teacher's
    scale_down = [{"tool": "k8s_scale", "args": {"namespace": "shop", "name": "checkout", "replicas": 0}}]
    harmful = json.loads(pairs([q], {t.id: [answer(remediation=scale_down, summary="mine")]}, minimal=True)
                         [0][0]["rejected"][0]["content"])
    assert harmful == {**json.loads(teacher), "remediation": scale_down}
    cut = '{"is_incident": true, "hypothesis": "cut off'
    assert pairs([q], {t.id: [cut]}, minimal=True)[0][0]["rejected"][0]["content"] == cut  # nothing to edit


def test_own_chosen_pairs_the_checkpoints_right_answer_with_the_teachers_remedy_against_its_wrong_one():
    qs = list(questions([run("a"), run("b", observation="other pods, all 503")],
                        profile("compact-symptom").rewrite))
    restart = [{"tool": "k8s_rollout_restart", "args": {"namespace": "shop", "name": "checkout"}}]
    undo_and_scale = [*json.loads(answer())["remediation"],
                      {"tool": "k8s_scale", "args": {"namespace": "shop", "name": "checkout", "replicas": 3}}]
    mine = answer(summary="mine, right")
    answers = {"a": [answer(fault_type="Misconfiguration"), answer(remediation=restart, summary="restart"),
                     answer(remediation=undo_and_scale, summary="more"), mine, answer(components=[])],
               # right answers only with another remedy than the teacher's: no chosen, no pair
               "b": [answer(fault_type="Misconfiguration"), answer(remediation=restart)]}
    rows, judged = pairs(qs, answers, per_question=2, chosen="own")
    assert [r["rejected"][0]["content"] for r in rows] == [answer(fault_type="Misconfiguration"),
                                                           answer(components=[])]
    assert all(r["chosen"] == [{"role": "assistant", "content": mine}] for r in rows)
    assert {r["kind"] for r in rows} == {"checkpoint-right-vs-wrong-answer"}
    assert rows[0]["prompt"] == qs[0].prompt
    assert judged["questions without a right answer of its own"] == 1 and judged["right"] == 4
    # the teacher's answer stays the chosen one by default
    assert pairs(qs, answers, per_question=2)[0][0]["chosen"] == [qs[0].answer]
