"""A real Prometheus and Alertmanager for one sandbox: generated configs in a run directory,
free local ports, Alertmanager started first, both stopped cleanly."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import yaml

from opsagent.sandbox.children import die_with_parent
from opsagent.sandbox.prom.rules import write_rule_files

INSTALL_HINT = ("install them with `apt-get install -y prometheus prometheus-alertmanager` "
                "(./run.sh does this when run as root)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortTaken(RuntimeError):
    """Another process listened on a port before the server meant for it could bind it."""


def _listens(proc: subprocess.Popen[bytes], port: int) -> bool:
    try:
        return any(c.laddr.port == port and c.status == psutil.CONN_LISTEN
                   for c in psutil.Process(proc.pid).net_connections("tcp"))
    except psutil.Error:
        return False


def binaries() -> tuple[str, str]:
    prometheus = shutil.which("prometheus")
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not prometheus or not alertmanager:
        missing = [n for n, b in (("prometheus", prometheus), ("alertmanager", alertmanager)) if not b]
        raise FileNotFoundError(f"{' and '.join(missing)} not found on PATH: {INSTALL_HINT}")
    return prometheus, alertmanager


class PromStack:
    def __init__(self, run_dir: Path, webhook_url: str | None = None, evaluation_s: int = 15,
                 webhook_token: str | None = None, for_scale: float | None = None):
        self.run_dir = run_dir
        self.for_scale = for_scale
        self.webhook_url = webhook_url
        self.webhook_token = webhook_token
        self.evaluation_s = evaluation_s
        self.prom_port, self.am_port = free_port(), free_port()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._log_of: dict[int, tuple[Path, int]] = {}  # pid -> its log and the log's size at its start
        self._client: httpx.Client | None = None

    @property
    def _http(self) -> httpx.Client:
        """One client for the readiness checks: Prometheus restarts every episode."""
        if self._client is None:
            self._client = httpx.Client(timeout=1.0)
        return self._client

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.am_port}"

    def _alertmanager_config(self) -> dict:
        receiver: dict = {"name": "opsagent"}
        if self.webhook_url:
            hook: dict = {"url": self.webhook_url, "send_resolved": True}
            if self.webhook_token:
                hook["http_config"] = {"authorization": {"type": "Bearer",
                                                         "credentials": self.webhook_token}}
            receiver["webhook_configs"] = [hook]
        return {"route": {"receiver": "opsagent", "group_by": ["alertname", "namespace"],
                          "group_wait": "5s", "group_interval": "30s", "repeat_interval": "4h"},
                "receivers": [receiver]}

    def _prometheus_config(self, rule_files: list[Path]) -> dict:
        return {"global": {"scrape_interval": "15s", "evaluation_interval": f"{self.evaluation_s}s",
                           "external_labels": {"cluster": "opsagent-sandbox"}},
                "storage": {"tsdb": {"out_of_order_time_window": "2h"}},
                "rule_files": [str(p) for p in rule_files],
                "alerting": {"alertmanagers": [{"static_configs": [
                    {"targets": [f"127.0.0.1:{self.am_port}"]}]}]}}

    def start(self, timeout: float = 30.0, attempts: int = 3) -> PromStack:
        """Both up on ports of their own. A port picked free can be taken by a parallel sandbox
        before this one binds it: that start is retried on fresh ports."""
        for _ in range(attempts - 1):
            try:
                return self._start(timeout)
            except PortTaken:
                self.stop()
                self.prom_port, self.am_port = free_port(), free_port()
        return self._start(timeout)

    def _start(self, timeout: float) -> PromStack:
        prometheus, alertmanager = binaries()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        am_yml = self.run_dir / "alertmanager.yml"
        am_yml.write_text(yaml.safe_dump(self._alertmanager_config(), sort_keys=False))
        prom_yml = self.run_dir / "prometheus.yml"
        rules = write_rule_files(self.run_dir / "rules", self.for_scale)
        prom_yml.write_text(yaml.safe_dump(self._prometheus_config(rules), sort_keys=False))
        logs = self.run_dir / "logs"
        logs.mkdir(exist_ok=True)
        # Alertmanager first, so Prometheus' first alerts do not wait for a resend.
        self._spawn([alertmanager, f"--config.file={am_yml}",
                     f"--storage.path={self.run_dir / 'alertmanager-data'}",
                     f"--web.listen-address=127.0.0.1:{self.am_port}",
                     f"--web.external-url={self.alertmanager_url}", "--cluster.listen-address="],
                    logs / "alertmanager.log")
        self._wait(f"{self.alertmanager_url}/-/ready", self.am_port, timeout)
        self._prometheus_argv = [
            prometheus, f"--config.file={prom_yml}",
            f"--storage.tsdb.path={self.run_dir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{self.prom_port}",
            f"--web.external-url={self.prometheus_url}", "--web.enable-remote-write-receiver",
            "--storage.tsdb.retention.time=1d", "--web.enable-lifecycle",
            f"--rules.alert.resend-delay={max(5, self.evaluation_s)}s"]
        self._spawn(self._prometheus_argv, logs / "prometheus.log")
        self._wait(f"{self.prometheus_url}/-/ready", self.prom_port, timeout)
        return self

    def _spawn(self, argv: list[str], log: Path) -> None:
        # A sandbox's Prometheus (restarted every episode) holds little: collecting garbage
        # once the heap has grown by 400% of the live heap rather than 100% (Go's default) cut
        # its CPU per episode by a quarter (0.42 -> 0.32 s for a restart and a pushed history).
        env = {**os.environ, "GOGC": os.environ.get("GOGC", "400")}
        with log.open("ab") as out:
            start = out.tell()
            self._procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                                stdin=subprocess.DEVNULL, preexec_fn=die_with_parent))
        self._log_of[self._procs[-1].pid] = (log, start)

    def _wait(self, url: str, port: int, timeout: float) -> None:
        """Until `url` answers 200 from the process just started (not another server that took
        its port first: it then exits, "address already in use", and PortTaken says so)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if exited := [p for p in self._procs if p.poll() is not None]:
                log, start = self._log_of[exited[0].pid]
                if b"address already in use" in log.read_bytes()[start:]:
                    raise PortTaken(f"port {port} was taken before it was bound; see {log}")
                raise RuntimeError(f"a monitoring process exited early; see {log}")
            try:
                if self._http.get(url).status_code == 200 and _listens(self._procs[-1], port):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.025)  # Prometheus restarts every episode: ready in ~0.2 s
        raise TimeoutError(f"{url} not ready after {timeout:.0f}s; see {self.run_dir / 'logs'}")

    def reset(self, timeout: float = 30.0) -> None:
        """Restart Prometheus on an empty TSDB, so a new scenario starts from no history.
        (Deleting series is not enough: samples written out of order, as a pushed history is,
        survive `delete_series` in Prometheus 2.42.)"""
        self.stop_prometheus()
        shutil.rmtree(self.run_dir / "prometheus-data", ignore_errors=True)
        self.start_prometheus(timeout)

    def stop_prometheus(self) -> None:
        """Prometheus alone goes down (Alertmanager stays), as in an outage of the monitoring."""
        prometheus = self._procs.pop()
        self._log_of.pop(prometheus.pid, None)
        prometheus.terminate()
        prometheus.wait(timeout=10)

    def start_prometheus(self, timeout: float = 30.0) -> None:
        """Back on its TSDB and port after `stop_prometheus`."""
        self._spawn(self._prometheus_argv, self.run_dir / "logs" / "prometheus.log")
        self._wait(f"{self.prometheus_url}/-/ready", self.prom_port, timeout)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._procs.clear()
        self._log_of.clear()
        if self._client is not None:
            self._client.close()
            self._client = None
