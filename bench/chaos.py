"""Chaos: the service as deployed (`opsagent serve`, its own process) against a live sandbox with
real Prometheus and Alertmanager, while faults are injected (their alerts come from the real
rules through Alertmanager's webhook), a stream of alerts is posted, pending approvals are
approved and incidents labelled; meanwhile the service is killed with SIGKILL at random moments
and restarted, some of those kills right after a mutation reached the apiserver and before the
answer came back; Prometheus is stopped for a while; the Kubernetes API stalls past the clients'
timeouts. Afterwards the books are audited from the service's own stores against what the
senders were told and what the apiserver saw (the witness proxy):

- every accepted notification is in the inbox and handled; every firing group has an incident
- every incident finished (done or failed), none left open
- actions executed twice: mutations the apiserver received on an object beyond the executions
  the ledger started on it (must be 0)
- approvals lost: approved with a 200 yet not approved, or its incident never resumed (must be 0)
- labels lost: a resolution answered 200 that the trajectory does not hold (must be 0)"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.kube_witness import KubeWitness, target_of
from opsagent.agent.store import Store
from opsagent.sandbox.children import die_with_parent
from opsagent.sandbox.prom.stack import free_port
from opsagent.sandbox.runtime import Sandbox
from opsagent.sandbox.scenario import ScenarioSpec
from opsagent.serve.inbox import Inbox
from opsagent.trajectories.store import TrajectoryStore

AM, ADMIN = "chaos-alertmanager-token", "chaos-admin-token-0000"
# Faults whose fix is one change to one Deployment, on distinct workloads, injected over the run.
FAULTS = [("bad_rollout", "checkout"), ("bad_image_tag", "catalog"), ("readiness_probe", "cart"),
          ("bad_rollout", "payment"), ("bad_image_tag", "frontend"), ("readiness_probe", "recommendation")]


class Service:
    """`opsagent serve` on a fixed port and data directory, killed and restarted at will."""

    def __init__(self, data: Path, sandbox_dir: Path, port: int):
        self.data, self.port, self.url = data, port, f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "OPSAGENT_DATA_DIR": str(data),
            "OPSAGENT_SERVICE__ALERTMANAGER_TOKEN": AM,
            "OPSAGENT_SERVICE__POLICY": "expert",
            "OPSAGENT_SERVICE__TOKENS": json.dumps([{"name": "chaos-sre", "token": ADMIN, "role": "admin"}]),
            "OPSAGENT_AGENT__VERIFY__INTERVAL_S": "5",
            "OPSAGENT_AGENT__VERIFY__TIMEOUT_S": "240",
        }
        self.argv = [sys.executable, "-m", "opsagent.serve.cli", "serve", "--sandbox", str(sandbox_dir),
                     "--port", str(port)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            log = (self.data.parent / "serve.log").open("ab")
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent)  # not outliving a killed bench

    def kill(self) -> None:
        with self._lock:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
                self.kills += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        with self._lock:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.terminate()
                self.proc.wait(timeout=60)


class Books:
    """What the service answered 2xx to, from the clients' side."""

    def __init__(self) -> None:
        self.accepted: list[str] = []  # groupKeys of notifications answered 202
        self.refused = 0  # connection refused or 5xx while down: the sender tries again
        self.approved: set[str] = set()
        self.labels: dict[str, str] = {}  # incident -> note of the last label answered 200
        self.lock = threading.Lock()


def _alert(i: int, workload: str) -> dict[str, Any]:
    firing = i % 5 != 0  # every fifth a heartbeat, as Alertmanager's Watchdog sends
    name = f"ChaosProbe{i}" if firing else "Watchdog"
    labels = {"alertname": name, "severity": "warning" if firing else "none", "namespace": "shop",
              "service": workload}
    return {
        "version": "4", "groupKey": f'{{}}:{{alertname="{name}",i="{i}"}}', "status": "firing",
        "receiver": "opsagent", "groupLabels": {"alertname": name}, "commonLabels": labels,
        "commonAnnotations": {}, "externalURL": "http://alertmanager.chaos",
        "alerts": [{"status": "firing", "labels": labels,
                    "annotations": {"summary": f"{workload}: chaos probe {i}"},
                    "startsAt": "2026-12-02T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus.chaos", "fingerprint": f"{i:016x}"}],
    }


def _sender(service: Service, books: Books, stop: threading.Event, every_s: float,
            rng: random.Random) -> None:
    """Posts notifications; one not answered 202 is posted again, as Alertmanager retries."""
    workloads = ["frontend", "checkout", "catalog", "cart", "payment", "shipping", "recommendation"]
    headers = {"Authorization": f"Bearer {AM}"}
    i = 0
    with httpx.Client(base_url=service.url, timeout=10) as client:
        while not stop.is_set():
            body = _alert(i, rng.choice(workloads))
            while not stop.is_set():
                try:
                    if client.post("/v1/alerts/alertmanager", json=body, headers=headers).status_code == 202:
                        with books.lock:
                            books.accepted.append(body["groupKey"])
                        break
                except httpx.HTTPError:
                    pass
                books.refused += 1
                stop.wait(1)
            i += 1
            stop.wait(every_s)


def _operator(service: Service, books: Books, stop: threading.Event) -> None:
    """The on-call SRE: approves what waits, labels incidents (while they run and after)."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    labelled: Counter[str] = Counter()
    with httpx.Client(base_url=service.url, timeout=10, headers=headers) as client:
        while not stop.wait(2):
            try:
                for a in client.get("/v1/approvals", params={"status": "pending"}).json():
                    r = client.post(f"/v1/approvals/{a['id']}", json={"decision": "approve"})
                    if r.status_code == 200:
                        with books.lock:
                            books.approved.add(a["id"])
                for row in client.get("/v1/incidents", params={"limit": 1000}).json():
                    if labelled[row["id"]] >= (2 if row["status"] == "done" else 1):
                        continue
                    note = f"label {labelled[row['id']] + 1} of {row['id']} ({row['status']})"
                    r = client.post(f"/v1/incidents/{row['id']}/resolution",
                                    json={"mitigated": True, "correct_diagnosis": True, "note": note})
                    if r.status_code == 200:
                        labelled[row["id"]] += 1
                        with books.lock:
                            books.labels[row["id"]] = note
            except (httpx.HTTPError, ValueError):
                continue  # down: try again later


def _ready(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _unfinished(url: str) -> bool:
    try:
        rows = httpx.get(f"{url}/v1/incidents", params={"limit": 1000}, timeout=10,
                         headers={"Authorization": f"Bearer {ADMIN}"}).json()
    except (httpx.HTTPError, ValueError):
        return True
    return any(r["status"] not in ("done", "failed") for r in rows)


def run(minutes: float = 6.0, seed: int = 5, drain_minutes: float = 8.0,
        keep: Path | None = None) -> dict[str, Any]:
    """`keep`: run in this directory and leave it (the stores, serve.log) for a look afterwards."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = keep or Path(tmp)
        port = free_port()
        box = Sandbox(ScenarioSpec(faults=[], seed=seed, now=time.time()), root / "sandbox",
                      webhook_url=f"http://127.0.0.1:{port}/v1/alerts/alertmanager", webhook_token=AM,
                      evaluation_s=5, for_scale=0.1).start()
        witness = KubeWitness(box.kube.url)
        # The service reaches the apiserver only through the witness.
        served = root / "served"
        served.mkdir()
        info = json.loads((box.run_dir / "sandbox.json").read_text())
        info["kubeconfig"] = str(witness.kubeconfig(Path(info["kubeconfig"]), served / "kubeconfig"))
        (served / "sandbox.json").write_text(json.dumps(info))
        (root / "data").mkdir()
        service = Service(root / "data", served, port)
        books, stop = Books(), threading.Event()
        witness.on_kill = service.kill
        events: list[str] = []
        restarts: list[float] = []
        started = time.monotonic()

        def at(what: str) -> None:
            events.append(f"{time.monotonic() - started:6.1f}s {what}")

        try:
            service.start()
            if not _ready(service.url, 120):
                raise RuntimeError(f"the service did not start; see {root / 'serve.log'}")
            threads = [threading.Thread(target=_sender, args=(service, books, stop, 2.0, rng), daemon=True),
                       threading.Thread(target=_operator, args=(service, books, stop), daemon=True)]
            for t in threads:
                t.start()
            end = started + minutes * 60
            faults = iter(FAULTS)
            next_fault, next_kill = started + 5, started + rng.uniform(10, 40)
            prom_down_at, stall_at = started + minutes * 60 * 0.35, started + minutes * 60 * 0.6
            witness.kill_after_mutations = 3  # the first three mutations: killed before the answer
            prom_stopped = prom_back = stalled = False
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_fault and (fault := next(faults, None)):
                    box.inject(*fault)
                    at(f"injected {fault[0]} into {fault[1]}")
                    next_fault = now + minutes * 60 / (len(FAULTS) + 1)
                if now >= next_kill:
                    service.kill()
                    at("service killed (SIGKILL)")
                    time.sleep(rng.uniform(0, 3))
                if not service.alive():  # killed, here or by the witness
                    service.start()
                    back = time.monotonic()
                    _ready(service.url, 120)  # what is killed next is a service that works
                    restarts.append(time.monotonic() - back)
                    at(f"service restarted, ready in {restarts[-1]:.1f} s")
                    next_kill = time.monotonic() + rng.uniform(10, 40)
                if now >= prom_down_at and not prom_stopped:
                    box.prom.stop_prometheus()
                    at("prometheus stopped for 40 s")
                    prom_stopped = True
                if prom_stopped and not prom_back and now >= prom_down_at + 40:
                    box.prom.start_prometheus()
                    at("prometheus back")
                    prom_back = True
                if now >= stall_at and not stalled:
                    witness.stall(for_s=30, hold_s=15)
                    at("kubernetes API stalls: 30 s of requests held 15 s each")
                    stalled = True
                time.sleep(0.2)
            # Calm: no more kills or alerts; the service finishes what it accepted.
            witness.kill_after_mutations = 0
            stop.set()
            for t in threads:
                t.join(timeout=30)
            if not service.alive():
                service.start()
            _ready(service.url, 120)
            calm = threading.Event()
            operator = threading.Thread(target=_operator, args=(service, books, calm), daemon=True)
            operator.start()
            at("calm: finishing what was accepted")
            deadline = time.monotonic() + drain_minutes * 60
            while time.monotonic() < deadline and _unfinished(service.url):
                if not service.alive():
                    raise RuntimeError(f"the service died in the calm; see {root / 'serve.log'}")
                time.sleep(5)
            time.sleep(6)  # the operator's last round of labels on incidents just done
            calm.set()
            operator.join(timeout=30)
            service.stop()
            at("service stopped (SIGTERM)")
            return {**_audit(root / "data", books, witness), "kills": service.kills,
                    "kills_after_a_mutation": witness.kills,
                    "restart_to_ready_s": round(sum(restarts) / max(1, len(restarts)), 1),
                    "notifications_refused_while_down": books.refused,
                    "minutes": minutes, "seed": seed, "events": events}
        finally:
            stop.set()
            service.kill()
            witness.stop()
            box.stop()


def _audit(data: Path, books: Books, witness: KubeWitness) -> dict[str, Any]:
    store, inbox = Store(data / "agent.db"), Inbox(data / "service.db")
    trajectories = TrajectoryStore(data / "trajectories")
    try:
        incidents = store.incidents()
        ids = {r["id"] for r in incidents}
        statuses = Counter(r["status"] for r in incidents)
        pending_items = inbox.pending()
        firing = [k for k in books.accepted if "Watchdog" not in k]
        no_incident = [k for k in firing if (g := inbox.group(k)) is None or g["incident"] not in ids]
        executions = [e for i in ids for e in store.executions(i)]
        started: Counter[str] = Counter()
        for e in executions:
            started[target_of(e["tool"], json.loads(e["args"]))] += 1
        drained = any(e["tool"] == "k8s_drain" for e in executions)
        twice = {obj: n - started[obj] for obj, n in witness.mutations.items()
                 if n > started[obj] and not (drained and obj.startswith("pods/"))}
        approvals = {a["id"]: a for a in store.approvals(None)}
        lost_approvals = [a for a in books.approved if a not in approvals
                          or approvals[a]["status"] != "approved"
                          or store.incident(approvals[a]["incident"])["status"] == "waiting"]
        lost_labels = []
        for incident, note in books.labels.items():
            t = trajectories.get(incident)
            if t is None or (t.resolution or {}).get("note") != note:
                lost_labels.append(incident)
        return {
            "notifications_accepted": len(books.accepted),
            "firing_groups_accepted": len(firing),
            "inbox_left_unhandled": len(pending_items),
            "firing_groups_without_incident": len(no_incident),
            "incidents": len(incidents),
            "incidents_by_status": dict(statuses),
            "incidents_unfinished": sum(n for s, n in statuses.items() if s not in ("done", "failed")),
            "outcomes": dict(Counter(r["outcome"] for r in incidents if r["status"] == "done")),
            "executions_started": len(executions),
            "mutations_at_apiserver": sum(witness.mutations.values()),
            "actions_executed_twice": sum(twice.values()),
            "executed_twice_on": twice,
            "approvals_approved": len(books.approved),
            "approvals_lost": len(lost_approvals),
            "labels_accepted": len(books.labels),
            "labels_lost": len(lost_labels),
            "lost_labels_on": lost_labels,
        }
    finally:
        store.close()
        inbox.close()
        trajectories.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="chaos run against the service (see the module doc)")
    parser.add_argument("--minutes", type=float, default=6.0, help="of chaos, before the calm")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="run in this directory and leave it")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds: the service and sandbox stop
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    print(json.dumps(run(args.minutes, args.seed, keep=args.keep), indent=2))


if __name__ == "__main__":
    main()
