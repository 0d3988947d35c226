"""The monitoring stack (sandbox/prom/stack.py) on ports of its own: a port picked free can be
taken by a parallel sandbox before this one binds it, and another server answering `/-/ready`
there must not pass for this stack's Prometheus (it once did: remote write then got a 404)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx

from opsagent.sandbox.prom.stack import PromStack
from tests import requires


class _Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/-/ready" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@requires.stack
def test_a_port_taken_by_another_server_is_not_mistaken_for_prometheus(tmp_path):
    squatter = HTTPServer(("127.0.0.1", 0), _Ready)
    threading.Thread(target=squatter.serve_forever, daemon=True).start()
    taken = squatter.server_address[1]
    stack = PromStack(tmp_path)
    stack.prom_port = taken  # as if a parallel sandbox had bound it between the pick and the start
    try:
        stack.start()
        assert stack.prom_port != taken
        flags = httpx.get(f"{stack.prometheus_url}/api/v1/status/flags").json()["data"]
        assert flags["config.file"] == str(tmp_path / "prometheus.yml")  # this stack's own
        assert "address already in use" in (tmp_path / "logs" / "prometheus.log").read_text()
    finally:
        stack.stop()
        squatter.shutdown()
        squatter.server_close()
