"""The process tree below a command (psutil, as tests/serve/cli/test_main.py reads it): what a
test that stops a command with a signal checks is gone afterwards (workers, Prometheus,
Alertmanager, promtool, vLLM)."""

from __future__ import annotations

import psutil


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below `pid`."""
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            found.append((child.pid, " ".join(child.cmdline())))
        except psutil.Error:  # it ended while we looked
            continue
    return found


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
