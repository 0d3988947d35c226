"""What the graph's nodes act through (none of it is in the state, which stays JSON), built in
one place from the agent's settings, for the service and for sandbox episodes alike."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opsagent.agent.config import AgentConfig
from opsagent.agent.facts import KubeFacts
from opsagent.agent.gate import Gate, GatePolicy, History
from opsagent.agent.notify import Notifier, notifier_for
from opsagent.agent.policies import make_policy
from opsagent.agent.react import Policy
from opsagent.agent.redacting import RedactingRegistry
from opsagent.agent.store import Store
from opsagent.agent.verify import alert_rules
from opsagent.tools.catalog import default_registry
from opsagent.tools.context import ToolContext
from opsagent.tools.registry import ToolRegistry


@dataclass
class Deps:
    policy: Policy
    registry: ToolRegistry
    ctx: ToolContext
    gate: Gate
    store: Store
    notifier: Notifier
    config: AgentConfig
    wait: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    policy_name: str = "unknown"
    alert_rules: Callable[[list[str]], dict[str, str]] = field(default=lambda names: {})

    @classmethod
    def from_config(
        cls,
        cfg: AgentConfig,
        ctx: ToolContext,
        store: Store,
        policy: str,
        *,
        implementation: Policy | None = None,
        registry: ToolRegistry | None = None,
        gate: Gate | None = None,
        gate_policy: GatePolicy | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
        wait: Callable[[float], None] = time.sleep,
        history: History | None = None,
    ) -> Deps:
        """`policy` names the policy (`implementation`: one not built from its name, such as the
        sandbox's oracle); `gate`: one shared across incidents, else a new one from `gate_policy`
        or the configured policy file; `clock` and `wait`: the environment's time; `history`: the
        executions the gate's rate limit counts (default: the store's, shared by every process)."""
        registry = RedactingRegistry(registry or default_registry())  # the boundary: results enter redacted
        if gate is None:
            gate = Gate(gate_policy or GatePolicy.load(cfg.gate_policy), KubeFacts(ctx), clock=clock,
                        history=history or store)
        return cls(
            policy=implementation or make_policy(policy, cfg.llm),
            registry=registry,
            ctx=ctx,
            gate=gate,
            store=store,
            notifier=notifier or notifier_for(cfg.escalation),
            config=cfg,
            wait=wait,
            clock=clock,
            policy_name=policy,
            alert_rules=alert_rules(registry, ctx),
        )
