"""The trajectory store at scale and the export rate: 10^5 recorded incidents (written in
batches through `put_many`), then listing and filtering through the index, reading one record,
and SFT/DPO export throughput on a realistic slice."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from opsagent.trajectories.export import export
from opsagent.trajectories.models import Environment, Grade, Trajectory
from opsagent.trajectories.store import TrajectoryStore

FAULTS = ["bad_rollout", "memory_leak", "pvc_full", "dns_failure", "redis_eviction_storm"]
POLICIES = ["expert", "llm", "oracle"]


def _record(i: int, text: str) -> Trajectory:
    fault, policy = FAULTS[i % len(FAULTS)], POLICIES[i % len(POLICIES)]
    mitigated = i % 4 != 0
    messages = [{"role": "system", "content": "You are an SRE."}, {"role": "user", "content": f"alert {i}"},
                {"role": "assistant", "content": "Triage first.", "tool_calls": [
                    {"id": "c0", "type": "function",
                     "function": {"name": "k8s_list_pods", "arguments": '{"namespace": "shop"}'}}]},
                {"role": "tool", "tool_call_id": "c0", "name": "k8s_list_pods", "content": text},
                {"role": "assistant",
                 "content": '{"is_incident": true, "components": ["shop/Deployment/x"]}'}]
    return Trajectory(id=f"t{i:06d}", incident=f"t{i:06d}", created=1.79e9 + i, finished=1.79e9 + i + 5,
                      complete=True, source="scenario", input={"task": f"alert {i}", "alerts": []},
                      environment=Environment(kind="sandbox", scenario=f"{fault}#s{i % 50}", faults=[fault]),
                      policy=policy, messages=messages, usage={"steps": 2, "tool_calls": 1},
                      outcome="mitigated" if mitigated else "escalated",
                      grade=Grade(source="ground-truth", detected=True, localised=mitigated,
                                  analysed=mitigated, mitigated=mitigated))


def _ms(fn: Any, repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def run(records: int = 100_000, export_n: int = 5_000) -> dict[str, Any]:
    line = "shop/checkout-7d9f8b6c5d-x2k4q ready=1/1 status=Running restarts=0 age=3h node=ip-10-0-1-21\n"
    text = line * 20
    with tempfile.TemporaryDirectory() as tmp:
        store = TrajectoryStore(Path(tmp) / "store")
        started = time.perf_counter()
        batch = 5_000
        for first in range(0, records, batch):
            store.put_many([_record(i, text) for i in range(first, min(records, first + batch))])
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(200):
            store.put(_record(records + i, text))  # one fsync each, as the recorder writes
        single_ms = (time.perf_counter() - started) * 1000 / 200
        figures = {
            "records": store.count(), "bulk_write_per_s": round(records / write_s),
            "single_put_ms": round(single_ms, 2),
            "list_newest_50_ms": _ms(lambda: store.list(limit=50)),
            "list_policy_fault_50_ms": _ms(lambda: store.list(limit=50, policy="llm", fault="pvc_full")),
            "count_by_outcome_ms": _ms(lambda: store.count(outcome="escalated")),
            "get_one_ms": _ms(lambda: store.get("t054321")),
        }
        slice_ = list(store.iter(limit=export_n))
        started = time.perf_counter()
        counts = export(slice_, Path(tmp) / "data")
        seconds = time.perf_counter() - started
        figures.update(export_trajectories=len(slice_), export_per_s=round(len(slice_) / seconds),
                       sft_rows=counts["sft"], dpo_pairs=counts["dpo"])
        store.close()
    return figures
