"""The `opsagent` command line: one module per command group, shared helpers in common.py."""
