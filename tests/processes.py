"""The process tree below a command, read from /proc: what a test that stops a command with a
signal checks is gone afterwards (workers, Prometheus, Alertmanager, promtool, vLLM)."""

from __future__ import annotations

from pathlib import Path


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below `pid`."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent:
                todo.append(child)
                try:
                    cmd = (Path("/proc") / str(child) / "cmdline").read_bytes()
                except OSError:  # it ended while we looked
                    continue
                found.append((child, cmd.replace(b"\0", b" ").decode()))
    return found


def alive(pid: int) -> bool:
    try:
        return "zombie" not in (Path(f"/proc/{pid}") / "status").read_text().lower()
    except OSError:
        return False
