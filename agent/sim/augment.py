"""Input variants for data collection (the seed's augmentation step): the same scenario reported
as a chat question from a person instead of the alerts, in English or in Chinese, or as the
alerts with their annotations paraphrased. The world, the ground truth and the grading do not
change; the trajectory's environment records which variant it was (`variant`)."""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel

from opsagent.agent.triage import describe, workload

# alert name -> (English symptom, Chinese symptom), as a person would put it
SYMPTOMS = {
    "KubePodCrashLooping": ("keeps crashing and restarting", "一直在崩溃重启"),
    "KubePodNotReady": ("has pods that never become ready", "有 Pod 一直没有就绪"),
    "KubeDeploymentRolloutStuck": ("is stuck in a rollout", "发布卡住了"),
    "KubeDeploymentReplicasMismatch": ("is missing replicas", "副本数不够"),
    "KubeContainerWaiting": ("has containers stuck waiting to start", "有容器一直在等待启动"),
    "CPUThrottlingHigh": ("is slow, its CPU looks throttled", "很慢，CPU 好像被限流了"),
    "ShopServiceHighErrorRate": ("is throwing 500s", "一直报 500 错误"),
    "ShopErrorBudgetBurn": ("is burning its error budget", "错误预算消耗得很快"),
    "ShopServiceLatencyHigh": ("is really slow", "响应特别慢"),
    "PostgresTooManyConnections": ("can't get database connections", "拿不到数据库连接"),
    "RedisEvictionStorm": ("keeps losing its cache", "缓存一直被清掉"),
    "KubeNodeNotReady": ("is on a node that dropped out", "所在的节点掉线了"),
    "KubeNodeUnreachable": ("is on a node we can't reach", "所在的节点连不上"),
    "NodeFilesystemAlmostOutOfSpace": ("is on a node running out of disk", "所在节点的磁盘快满了"),
    "KubeNodePressure": ("is on a node under pressure", "所在节点资源吃紧"),
    "NodeNetworkReceiveErrs": ("sees network errors on its node", "所在节点网络报错"),
    "KubePersistentVolumeFillingUp": ("has a volume filling up", "存储卷快满了"),
    "KubeHpaMaxedOut": ("is maxed out on replicas", "自动扩容已经到上限了"),
}
CHAT_EN = ("{who} {symptom} since {when} — what's wrong?",
           "Hey, {who} {symptom} for the last {when}. Can you take a look?",
           "Users are complaining: {who} {symptom}. Started about {when} ago. What's going on?")
CHAT_ZH = ("{who}从大约{when}前开始{symptom}，帮忙看看是什么问题？",
           "用户反馈{who}{symptom}，持续了{when}左右，能排查一下吗？",
           "值班求助：{who}{symptom}（大约{when}前开始），原因是什么？")
HEADERS = ("Firing now:", "On-call page — these alerts are firing:", "告警通知（正在触发）：")
KINDS = ("chat-en", "chat-zh", "paraphrase")


class Variant(BaseModel):
    kind: str  # chat-en | chat-zh | paraphrase
    task: str
    alerts: list[dict[str, Any]]  # what the runtime receives (none for a chat question)
    source: str  # chat | scenario


def _who(alert: dict[str, Any]) -> str:
    labels = alert.get("labels", {})
    for key in ("service", "deployment", "pod", "statefulset", "node", "persistentvolumeclaim", "instance"):
        if labels.get(key):
            return workload(labels[key])
    return "the shop"


def variant(alerts: list[dict[str, Any]], kind: str, seed: int) -> Variant:
    """The scenario's alerts turned into the input of kind `kind` (seeded wording)."""
    if kind not in KINDS:
        raise ValueError(f"unknown variant {kind!r}; choose one of {', '.join(KINDS)}")
    rng = random.Random(f"{kind}:{seed}")
    if not alerts:  # nothing fired: the routine question, reworded
        ask = {"chat-zh": "例行检查：集群现在有什么异常吗？",
               "chat-en": "Quick check: is anything wrong in the cluster right now?"}
        return Variant(kind=kind, task=ask.get(kind, describe([])), alerts=[],
                       source="chat" if kind != "paraphrase" else "scenario")
    first = alerts[0]
    name = first.get("labels", {}).get("alertname", "")
    en, zh = SYMPTOMS.get(name, (f"is alerting ({name})", f"在告警（{name}）"))
    minutes = rng.choice((5, 10, 15, 20, 30))
    if kind == "chat-en":
        text = rng.choice(CHAT_EN).format(who=_who(first), symptom=en, when=f"{minutes} minutes")
        return Variant(kind=kind, task=text, alerts=[], source="chat")
    if kind == "chat-zh":
        text = rng.choice(CHAT_ZH).format(who=_who(first), symptom=zh, when=f"{minutes} 分钟")
        return Variant(kind=kind, task=text, alerts=[], source="chat")
    # paraphrase: the same alerts, their descriptions replaced by the summary or reworded
    reworded = []
    for a in alerts:
        notes = dict(a.get("annotations") or {})
        notes["description"] = rng.choice([notes.get("summary") or "", f"{_who(a)} {en}.",
                                           notes.get("description") or ""])
        reworded.append({**a, "annotations": notes})
    text = describe(reworded).replace("Alertmanager reports these alerts:", rng.choice(HEADERS), 1)
    return Variant(kind=kind, task=text, alerts=reworded, source="scenario")
