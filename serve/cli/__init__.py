"""The `opsagent` command line: one module per command group, shared helpers in common.py."""

from __future__ import annotations

import os
import signal


def entry() -> None:
    """The console script. A signal while the command line loads ends it at once: nothing has
    started yet, and a KeyboardInterrupt raised inside an import can leave a module lock held,
    so the interpreter hangs instead of exiting (seen with Ctrl-C two seconds after launch)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _: os._exit(128 + signum))
    from opsagent.serve.cli.main import app

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    app()
