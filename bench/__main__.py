"""Run the benchmarks and print their figures (and write them to bench/results.json)."""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import (
    agent_quality,
    chaos,
    collect,
    log_grouping,
    sandbox_episodes,
    sandbox_servers,
    service,
    tool_calls,
)
from bench import trajectories as trajectory_store


def _latency(title: str, rows: dict[str, dict[str, float]]) -> Table:
    table = Table(title=title)
    table.add_column("call")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    for name, lat in rows.items():
        table.add_row(name, f"{lat['p50_ms']:.1f}", f"{lat['p99_ms']:.1f}")
    return table


PARTS = ("sandbox", "servers", "tools", "logs", "collect", "agent", "trajectories", "service", "chaos")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scenarios", type=int, default=None,
                        help="at most this many scenarios of each split for the policies' quality")
    parser.add_argument("--only", choices=[*PARTS],
                        action="append",
                        help="run only these parts (repeatable); default: all")
    args = parser.parse_args()
    parts = set(args.only or PARTS)
    console = Console()
    out = Path(__file__).with_name("results.json")
    figures = json.loads(out.read_text()) if out.is_file() else {}
    figures.update(machine=platform.machine(), python=platform.python_version())
    if "sandbox" in parts:
        figures["sandbox_episodes"] = _sandbox(console, args)
    if "servers" in parts:
        figures["sandbox_servers"] = _servers(console)
    if "tools" in parts:
        figures["tool_calls"] = _tools(console)
    if "logs" in parts:
        figures["log_grouping"] = found = log_grouping.run()
        console.print(_log_grouping(found))
    if "collect" in parts:
        with console.status("data engine: graded incidents per minute, an episode's phases"):
            figures["collect"] = collect.run()
        found = figures["collect"]
        console.print(_figures("an expert episode, seconds by phase (one process)", found["phases"]))
        console.print(_figures("graded incidents per minute (expert, whole graph)", found["throughput"]))
    if "agent" in parts:
        figures["agent_quality"] = _agent(console, args.scenarios)
    if "trajectories" in parts:
        with console.status("trajectory store: 10^5 records, listing, export"):
            figures["trajectories"] = trajectory_store.run()
        console.print(_figures("trajectory store and export", figures["trajectories"]))
    if "service" in parts:
        figures["service"] = _service(console)
    if "chaos" in parts:
        with console.status("chaos: kill -9, Prometheus down, the apiserver stalling, under alerts"):
            figures["chaos"] = chaos.run()
        shown = {k: v for k, v in figures["chaos"].items() if not isinstance(v, (dict, list))}
        console.print(_figures("chaos run (must be 0: twice, lost, unhandled, unfinished)", shown))
    out.write_text(json.dumps(figures, indent=2) + "\n")


def _log_grouping(found: dict) -> Table:
    base = found["drain3_defaults"]
    table = Table(title="log grouping accuracy (LogPAI GA) per Loghub-2k system, one configuration")
    table.add_column("system")
    table.add_column("logs_patterns", justify="right")
    table.add_column("drain3 defaults", justify="right")
    for name, ga in found["ga"].items():
        table.add_row(name, f"{ga:.3f}", f"{base['ga'][name]:.3f}")
    table.add_row("mean", f"{found['mean_ga']:.3f}", f"{base['mean_ga']:.3f}")
    table.add_row("lines per second", f"{found['lines_per_s']:,.0f}", f"{base['lines_per_s']:,.0f}")
    return table


def _figures(title: str, figures: dict) -> Table:
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,.2f}" if isinstance(value, float) else str(value))
    return table


def _sandbox(console: Console, args: argparse.Namespace) -> dict:
    with console.status("sandbox: episodes per minute"):
        result = sandbox_episodes.run(args.episodes, args.workers)
    console.print(_figures("sandbox core: generate + 30 min history + 20 agent steps", result))
    ratio = result["all_cores_per_min"] / result["target_per_min"]
    console.print(f"all cores: {ratio:.2f}x the 1,000/min target; single process: "
                  f"{result['single_process_per_min'] / result['target_per_min']:.2f}x")
    return result


def _servers(console: Console) -> dict:
    with console.status("sandbox servers: latency under the clients, full episodes"):
        servers = sandbox_servers.run()
    console.print(_latency("sandbox servers under the official clients", servers["latency"]))
    console.print(f"full sandbox episodes (load + history push + 15 client calls): "
                  f"{servers['episodes_per_min']:.0f}/min (prometheus: {servers['prometheus']})")
    return servers


def _tools(console: Console) -> dict:
    with console.status("tools: call latency and summary compression"):
        tools = tool_calls.run()
    console.print(_latency("tool calls against the sandbox (real clients)", tools["latency"]))
    console.print(f"logs_patterns: {tools['logs_patterns']['lines']} lines, "
                  f"{tools['logs_patterns']['compression']:.0f}x smaller; range summary: "
                  f"{tools['range_summary']['series']} series, "
                  f"{tools['range_summary']['compression']:.0f}x smaller than the raw JSON")
    return tools


def _service(console: Console) -> dict:
    with console.status("service: webhook throughput and latency, approval round trip"):
        figures = service.run()
    table = Table(title="Alertmanager webhook on loopback (uvicorn, durable inbox)")
    for col in ("senders", "alerts/s accepted", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right")
    for senders, f in figures["webhook"].items():
        table.add_row(senders, f"{f['alerts_per_s']:,.0f}", f"{f['p50_ms']:.1f}", f"{f['p99_ms']:.1f}")
    console.print(table)
    console.print(_figures("approval round trip (median)", figures["approval"]))
    return figures


def _agent(console: Console, limit: int | None) -> dict:
    with console.status("policies through the whole graph on the evaluation splits"):
        quality = agent_quality.run(limit)
    keys = ("episodes", "incidents", "detection", "localisation", "localisation@3", "analysis",
            "mitigation", "failed", "harmful_executed", "steps", "tool_calls", "seconds")
    table = Table(title="policies through the graph, by the one grader")
    for col in ("policy", "split", *keys):
        table.add_column(col, justify="left" if col in ("policy", "split") else "right")
    for policy, rows in quality.items():
        for split, figures in rows.items():
            table.add_row(policy, split, *(str(figures.get(k)) for k in keys))
    console.print(table)
    for policy, rows in quality.items():
        for split, figures in rows.items():
            if figures.get("not_solved"):
                console.print(f"{policy} on {split}: not solved: {', '.join(figures['not_solved'])}")
    return quality


if __name__ == "__main__":
    main()
