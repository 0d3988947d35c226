"""Run the benchmarks and print their figures (and write them to bench/results.json)."""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import expert_quality, sandbox_episodes, sandbox_servers, tool_calls


def _latency(title: str, rows: dict[str, dict[str, float]]) -> Table:
    table = Table(title=title)
    table.add_column("call")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    for name, lat in rows.items():
        table.add_row(name, f"{lat['p50_ms']:.1f}", f"{lat['p99_ms']:.1f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scenarios", type=int, default=200, help="for the expert's quality")
    args = parser.parse_args()
    console = Console()
    with console.status("sandbox: episodes per minute"):
        result = sandbox_episodes.run(args.episodes, args.workers)
    table = Table(title="sandbox core: generate + 30 min history + 20 agent steps")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, f"{value:,.1f}" if isinstance(value, float) else str(value))
    console.print(table)
    ratio = result["all_cores_per_min"] / result["target_per_min"]
    console.print(f"all cores: {ratio:.2f}x the 1,000/min target; single process: "
                  f"{result['single_process_per_min'] / result['target_per_min']:.2f}x")
    with console.status("sandbox servers: latency under the clients, full episodes"):
        servers = sandbox_servers.run()
    console.print(_latency("sandbox servers under the official clients", servers["latency"]))
    console.print(f"full sandbox episodes (load + history push + 15 client calls): "
                  f"{servers['episodes_per_min']:.0f}/min (prometheus: {servers['prometheus']})")
    with console.status("tools: call latency and summary compression"):
        tools = tool_calls.run()
    console.print(_latency("tool calls against the sandbox (real clients)", tools["latency"]))
    console.print(f"logs_patterns: {tools['logs_patterns']['lines']} lines, "
                  f"{tools['logs_patterns']['compression']:.0f}x smaller; range summary: "
                  f"{tools['range_summary']['series']} series, "
                  f"{tools['range_summary']['compression']:.0f}x smaller than the raw JSON")
    with console.status("expert policy: quality over 200 scenarios"):
        quality = expert_quality.run(args.scenarios)
    table = Table(title=f"expert policy over {quality['scenarios']} scenarios")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in quality.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps({"machine": platform.machine(), "python": platform.python_version(),
                               "sandbox_episodes": result, "sandbox_servers": servers,
                               "tool_calls": tools, "expert_quality": quality},
                              indent=2) + "\n")


if __name__ == "__main__":
    main()
