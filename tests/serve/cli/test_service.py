"""`opsagent serve` and `opsagent demo` from a terminal: the service starts, makes an admin
token when none is configured (kept 0600), and bad options are named."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from typer.testing import CliRunner

from opsagent.sandbox.prom.stack import free_port
from opsagent.serve.cli.main import app
from tests.serve.service import until


def test_serve_makes_an_admin_token_when_none_is_configured(tmp_path):
    port = free_port()
    env = {**os.environ, "OPSAGENT_DATA_DIR": str(tmp_path), "OPSAGENT_SERVICE__POLICY": "expert"}
    proc = subprocess.Popen([sys.executable, "-m", "opsagent.serve.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        until(ready, 60, every=0.2)
        token_file = tmp_path / "service-admin-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
        assert httpx.get(f"{url}/v1/incidents", headers=headers).json() == []
        assert httpx.get(f"{url}/v1/incidents").status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "the admin token is in" in out and str(token_file) in out.replace("\n", "")
    assert "Application shutdown complete" in out  # SIGTERM: the engine stopped cleanly


def test_demo_names_a_bad_option(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSAGENT_DATA_DIR", str(tmp_path))
    out = CliRunner().invoke(app, ["demo", "--scenario", "meteor_strike"])
    assert out.exit_code == 2 and "unknown fault type 'meteor_strike'" in out.output
    out = CliRunner().invoke(app, ["demo", "--approve", "maybe"])
    assert out.exit_code == 2 and "Invalid value for '--approve'" in out.output and "'maybe'" in out.output
    out = CliRunner().invoke(app, ["demo", "--policy", "llm"])
    assert out.exit_code == 2 and "no current checkpoint" in out.output
