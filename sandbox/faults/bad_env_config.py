"""A config change points a service at a host that does not exist: the new pods exit at start
with a clear log line and crash-loop while the rollout stalls."""

from __future__ import annotations

from opsagent.sandbox.actions import Action, PatchEnv, RolloutUndo
from opsagent.sandbox.faults.base import Fault, FaultType, Level, MetricCheck, Symptoms, register
from opsagent.sandbox.faults.common import SHOP_DEPLOYMENTS, settled
from opsagent.sandbox.startup import host_of, resolvable
from opsagent.sandbox.world import World

HOST_KEYS = ("DB_HOST", "REDIS_ADDR", "SPRING_DATASOURCE_URL", "PAYMENT_URL", "CATALOG_URL",
             "PAYGATE_URL")


@register
class BadEnvConfig(Fault):
    id = "bad_env_config"
    category = "configuration"
    level = Level.APPLICATION
    fault_type = FaultType.MISCONFIGURATION
    summary = "an environment variable names a host that does not resolve; pods crash at start"
    alerts = {"KubePodCrashLooping": "{target}", "KubeDeploymentRolloutStuck": "{target}"}

    @classmethod
    def candidates(cls, world: World) -> list[str]:
        return [s for s in SHOP_DEPLOYMENTS
                if any(k in world.profiles[s].env for k in HOST_KEYS)]

    def _key(self, world: World) -> str:
        env = world.profiles[self.target].env
        return next(k for k in HOST_KEYS if k in env)

    def inject(self, world: World) -> None:
        p = world.profiles[self.target]
        key = self._key(world)
        good = p.env[key]
        host = host_of(good)
        bad = good.replace(host, f"{host}-primary", 1)
        self.state.update(key=key, good=good, bad=bad)
        PatchEnv(namespace=p.namespace, name=p.name, set={key: bad}).apply(world)

    def mitigated(self, world: World) -> bool:
        p = world.profiles[self.target]
        env = world.workloads[(p.namespace, p.name)].template.containers[0].env
        value = env.get(str(self.state["key"]), "")
        host = host_of(value)
        return bool(host) and resolvable(world, p.namespace, host) and settled(world, self.target)

    def mitigations(self, world: World) -> list[list[Action]]:
        p = world.profiles[self.target]
        return [[RolloutUndo(namespace=p.namespace, name=p.name)],
                [PatchEnv(namespace=p.namespace, name=p.name,
                          set={str(self.state["key"]): str(self.state["good"])})]]

    def symptoms(self, world: World) -> Symptoms:
        ns = world.profiles[self.target].namespace
        return Symptoms(
            events=["BackOff"],
            logs=[r"no such host"],
            metrics=[MetricCheck(name="kube_pod_container_status_waiting_reason",
                                 labels={"namespace": ns, "container": self.target,
                                         "reason": "CrashLoopBackOff"}, op=">=", value=1)],
        )
