from opsagent.serve.cli.main import app

app()
