"""Secrets that the cluster shows the agent (a pod's env, log lines, an event, an alert, the
task, an SRE's note) reach no sink: not the model endpoint (a scripted OpenAI-compatible
server records every request), not the checkpoints, the ledger, the approval queue or the
trajectory store on disk. They are redacted once, where tool results and requests enter, so
every sink holds the same masked text."""

from __future__ import annotations

import json

from opsagent.agent.facts import KubeFacts
from opsagent.agent.gate import Gate, GatePolicy, Verdict, propose
from opsagent.agent.models import ApprovalDecision
from opsagent.agent.redacting import RedactingRegistry
from opsagent.sandbox.logstore import LogRecord
from opsagent.trajectories.recorder import Recorder
from opsagent.trajectories.store import TrajectoryStore
from tests.agent.harness import agent, load
from tests.agent.test_graph import DIAGNOSIS, ScriptedModel, _call
from tests.live import requires_stack
from tests.trajectories.secrets_corpus import SECRETS

pytestmark = requires_stack
IN_LOGS = ["pg-url", "url-slash-password", "bearer-header", "slack-webhook", "openai-proj", "aws-secret",
           "mysql-p", "curl-u", "cookie", "redis-cli-a", "sendgrid", "azure-conn", "huggingface", "vault",
           "k8s-env-json DB_PASSWORD", "repr SMTP_PASS", "pem-body-lines"]
IN_ENV = {"DB_PASSWORD": "hunter2hunter2", "PAYGATE_API_KEY": "pk_9a8b7c6d5e", "jwtSecret": "jW7-s3cr3t-x"}


def plant(box) -> tuple[str, list[dict], list[str]]:
    world = box.scenario.world
    pods = [p for p in world.pods.values() if p.service == "checkout" and p.deleting_at is None]
    for p in pods:
        p.template.containers[0].env.update(IN_ENV)
    for name in IN_LOGS:
        for line in SECRETS[name][0].splitlines():
            world.logs.append(LogRecord(world.now - 60, "ERROR", line, "shop", pods[0].name, "checkout",
                                        "checkout", pods[0].node or ""))
    world.emit("Pod", "shop", pods[0].name, "BackOff", f"pull failed: {SECRETS['github'][0]}", "Warning")
    alert = {"status": "firing", "labels": {"alertname": "ShopServiceHighErrorRate", "severity": "critical",
                                            "service": "checkout", "namespace": "shop"},
             "annotations": {"description": f"errors; {SECRETS['stripe'][0]}"}}
    task = f"checkout errors; the on-call pasted {SECRETS['env DB_PASSWORD'][0]}"
    named = [*IN_LOGS, "github", "stripe", "env DB_PASSWORD"]
    secrets = [SECRETS[n][1] for n in named] + list(IN_ENV.values())
    return task, [alert], [s for s in secrets if len(s) > 6]


def test_secrets_the_cluster_shows_reach_no_sink(box, registry, tmp_path):
    load(box, "bad_rollout", "checkout")
    task, alerts, secrets = plant(box)
    pods = box.scenario.world.pods.values()
    pod = next(p.name for p in pods if p.service == "checkout" and p.deleting_at is None)
    script = [
        {"content": "Looking.", "tool_calls": [
            _call("k8s_describe_pod", json.dumps({"name": pod}), 1),
            _call("logs_search", json.dumps({"service": "checkout", "level": "ERROR", "minutes": 30,
                                             "size": 50}), 2),
            _call("k8s_events", json.dumps({"namespace": "shop"}), 3)]},
        {"content": json.dumps(DIAGNOSIS)},
    ]
    store = TrajectoryStore(tmp_path / "trajectories")
    with ScriptedModel(script) as model, agent(box, registry, tmp_path, model.policy(),
                                               recorder=Recorder(store)) as runner:
        direct = registry.call(runner.deps.ctx, "k8s_describe_pod", {"name": pod}).text
        assert IN_ENV["DB_PASSWORD"] in direct  # planted where the tools read, unredacted there
        runner.start("inc-s", task, alerts, source="alertmanager")
        [pending] = runner.store.approvals()
        note = f"approved; creds were {SECRETS['token-arg'][0]}"
        runner.store.decide(pending["id"], ApprovalDecision(decision="approve", by="amy", reason=note))
        state = runner.drive("inc-s", lambda waiting: None, give_up_s=0)
    assert state["executed"], state.get("report")
    sent = json.dumps(model.requests)
    assert "[REDACTED" in sent  # the secrets were read, and masked
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for secret in [*secrets, SECRETS["token-arg"][1]]:
        assert secret not in sent, (secret, sent[max(0, sent.find(secret) - 300):sent.find(secret) + 80])
        assert secret.encode() not in on_disk, f"{secret!r} reached storage"


def test_a_rollback_holding_a_secret_is_withheld_and_the_mask_never_runs(box, registry, ctx):
    load(box, "bad_rollout", "checkout")
    world = box.scenario.world
    templates = [p.template for p in world.pods.values() if p.service == "cart"]
    for template in [*templates, world.workloads[("shop", "cart")].template]:
        template.containers[0].env["DB_PASSWORD"] = "0ld-Cart-Pw-77"
    args = {"name": "cart", "set": {"DB_PASSWORD": "rotated-elsewhere"}}
    raw = registry.call(ctx, "k8s_patch_env", args)
    assert "0ld-Cart-Pw-77" in json.dumps(raw.rollback)  # what the tool returns, before the boundary
    registry.call(ctx, "k8s_patch_env", {"name": "cart", "set": {"DB_PASSWORD": "0ld-Cart-Pw-77"}})
    seen = RedactingRegistry(registry).call(ctx, "k8s_patch_env", args)
    assert seen.rollback == [] and "withheld" in seen.text and "0ld-Cart-Pw-77" not in seen.model_dump_json()
    masked = propose(registry, "k8s_patch_env", {"name": "cart", "set": {"DB_PASSWORD": "[REDACTED]"}})
    d = Gate(GatePolicy.load(), KubeFacts(ctx)).judge(masked)
    assert d.verdict == Verdict.DENY and d.rule == "deny:no-redacted-values"
