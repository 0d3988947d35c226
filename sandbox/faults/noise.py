"""Red herrings: things that look alarming on a dashboard but are not incidents. They train
the agent (and test it) to say "no action needed" when that is the truth."""

from __future__ import annotations

from opsagent.sandbox.actions import Action
from opsagent.sandbox.faults.base import Fault, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import live_pods
from opsagent.sandbox.kubelet import restart_container
from opsagent.sandbox.logs import scanner_burst
from opsagent.sandbox.world import World


class _Noise(Fault):
    category = "noise"
    level = None
    fault_type = None
    is_incident = False

    def mitigated(self, world: World) -> bool:
        return True

    def mitigations(self, world: World) -> list[list[Action]]:
        return [[]]


@register
class BenignCPUSpike(_Noise):
    id = "benign_cpu_spike"
    summary = "the nightly report job runs hot for a while; it is throttled within its limit"

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["report-generator"]

    def inject(self, world: World) -> None:
        world.cpu_extra[self.target] = 0.6 * self.severity
        self.state["until"] = world.now + 900

    def tick(self, world: World) -> None:
        if world.now >= float(self.state["until"]):  # type: ignore[arg-type]
            world.cpu_extra.pop(self.target, None)

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            logs=[r"processed batch"],
            metrics=[MetricCheck(name="container_cpu_cfs_throttled_periods_total",
                                 labels={"namespace": "batch"}, over="increase", op=">", value=10,
                                 window_s=1800)],
            no_events_because="a throttled but healthy job raises no event",
        )


@register
class BenignRestart(_Noise):
    id = "benign_restart"
    summary = "one pod restarted once after a transient error and has been healthy since"

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["recommendation", "cart", "auth"]

    def inject(self, world: World) -> None:
        pod = live_pods(world, self.target)[0]
        restart_container(world, pod, "Error", 2, "panic: send on closed channel (recovered)")

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            events=["BackOff"],
            logs=[r"send on closed channel"],
            metrics=[MetricCheck(name="kube_pod_container_status_restarts_total",
                                 labels={"container": self.target}, op=">=", value=1)],
        )


@register
class BenignLogNoise(_Noise):
    id = "benign_log_noise"
    summary = "a vulnerability scanner probes the ingress; a burst of 404s and warnings"

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return ["ingress-nginx-controller"]

    def inject(self, world: World) -> None:
        self.state["until"] = world.now + 600

    def tick(self, world: World) -> None:
        if world.now < float(self.state["until"]):  # type: ignore[arg-type]
            scanner_burst(world, self.target)

    def symptoms(self, world: World) -> Symptoms:
        return Symptoms(
            logs=[r"/\.env|wp-login|/\.git/config"],
            metrics=[MetricCheck(name="http_requests_total",
                                 labels={"service": self.target, "code": "404"},
                                 over="increase", op=">", value=3000, window_s=600)],
            no_events_because="scanner traffic is answered 404 and raises no event",
        )
