"""Children that do not outlive their parent. Stopping them on SIGTERM and SIGINT is the
commands' job (they unwind and stop what they started); this covers the parent killed with -9,
which runs no code: the kernel sends the child SIGTERM when the parent goes (Linux
PR_SET_PDEATHSIG). The signal follows the thread that spawned the child, so spawn from a thread
that lives as long as the child (the main thread, as every command here does)."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A `preexec_fn`: in the child, before exec, ask for SIGTERM when the parent dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
