"""The incident graph (LangGraph): coordinator, monitor, diagnose (+ its tool step), repair,
gate, approval, execute, verify, escalate, report. Every node returns a partial update of a
JSON-only state, so each transition is a checkpoint an SRE (or a test) can read back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

from opsagent.agent import act, coordinator, diagnose
from opsagent.agent.deps import Deps
from opsagent.agent.stamps import stamp
from opsagent.agent.state import IncidentState

Node = Callable[[Deps, IncidentState], dict[str, Any]]
NODES: dict[str, Node] = {
    "coordinator": coordinator.coordinator,
    "monitor": coordinator.monitor,
    "diagnose": diagnose.diagnose,
    "tools": diagnose.tools,
    "repair": act.repair,
    "gate": act.gate,
    "approval": act.approval,
    "execute": act.execute,
    "verify": act.verify,
    "escalate": coordinator.escalate,
    "report": coordinator.report,
}
ROUTES = list(NODES)


def build_graph(deps: Deps) -> StateGraph:
    graph = StateGraph(IncidentState)
    for name, node in NODES.items():
        graph.add_node(name, _bind(node, deps))
    graph.add_edge(START, "coordinator")
    for name in ROUTES:
        graph.add_conditional_edges(name, _next, [*ROUTES, END])
    return graph


def _bind(node: Node, deps: Deps) -> Callable[[IncidentState], dict[str, Any]]:
    def run(s: IncidentState) -> dict[str, Any]:
        return stamp(s, node(deps, s), deps.clock())

    return run


def _next(s: IncidentState) -> str:
    return s["route"]
