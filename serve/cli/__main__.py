from opsagent.serve.cli import entry

entry()
