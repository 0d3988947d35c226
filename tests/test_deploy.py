"""The deployment files are well-formed and wired to each other. No Docker engine runs here,
so nothing is started: this checks what `docker compose` would read, that the opsagent
service's environment is a valid configuration, and the Prometheus and Alertmanager configs
with the real promtool and amtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import yaml

from opsagent.serve.settings import Settings
from tests import requires

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PORTS = {
    "opsagent": 8080,
    "vllm": 8000,
    "prometheus": 9090,
    "alertmanager": 9093,
    "elasticsearch": 9200,
    "postgres": 5432,
}


def _interpolate(value: str) -> str:
    """Compose's ${VAR:?msg} / ${VAR:-default} with test values, as `docker compose config` would."""
    return re.sub(
        r"\$\{(\w+)(:[?-][^}]*)?\}",
        lambda m: f"test-{m.group(1).lower().replace('_', '-')}-0123456789",
        value,
    )


def test_every_part_a_team_runs_is_there():
    for name in ("opsagent", "vllm", "prometheus", "alertmanager", "elasticsearch", "postgres", "rules"):
        assert name in SERVICES, name
    assert SERVICES["opsagent"]["build"] == "." and (ROOT / "Dockerfile").is_file()
    vllm = " ".join(SERVICES["vllm"]["command"])
    assert (
        "--tool-call-parser=hermes" in vllm
        and "--enable-auto-tool-choice" in vllm
        and "--enable-lora" in vllm
    )
    assert SERVICES["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_only_opsagent_is_reachable_from_outside_and_vllm_wants_the_key_opsagent_sends():
    published = {name for name, svc in SERVICES.items() if svc.get("ports")}
    assert published == {"opsagent"}  # Alertmanager, Prometheus, vLLM, ES, Postgres: compose network only
    assert "--web.enable-lifecycle" not in SERVICES["prometheus"]["command"]  # no remote shutdown/reload
    [key] = [a for a in SERVICES["vllm"]["command"] if a.startswith("--api-key=")]
    assert key.removeprefix("--api-key=").split(":?")[0] == "${OPSAGENT_VLLM_API_KEY"
    sent = SERVICES["opsagent"]["environment"]["OPSAGENT_AGENT__LLM__API_KEY"]
    assert sent.startswith("${OPSAGENT_VLLM_API_KEY")
    assert "OPSAGENT_VLLM_API_KEY=" in (ROOT / "deploy" / "env.example").read_text()


def test_the_opsagent_environment_is_a_valid_configuration_pointing_at_the_other_services(monkeypatch):
    env = {k: _interpolate(str(v)) for k, v in SERVICES["opsagent"]["environment"].items()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.service.policy == "llm" and {t.role for t in settings.service.tokens} == {
        "admin",
        "approver",
        "viewer",
    }
    assert settings.service.alertmanager_token is not None
    for url in (
        settings.agent.llm.base_url,
        settings.tools.prometheus_url,
        settings.tools.elasticsearch_url,
        settings.agent.checkpoint_url,
    ):
        parsed = urlparse(url)
        assert parsed.hostname in SERVICES and parsed.port == PORTS[parsed.hostname], url
    assert SERVICES["opsagent"]["command"][-1] == str(PORTS["opsagent"])
    assert any(v.endswith(":/data") for v in SERVICES["opsagent"]["volumes"])


@requires.amtool
def test_alertmanager_config_is_valid_and_calls_the_webhook_with_its_token(tmp_path):
    config = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
    secret = "/run/secrets/alertmanager_token"
    local = tmp_path / "alertmanager.yml"
    token = tmp_path / "token"
    token.write_text("x" * 20)
    local.write_text(config.read_text().replace(secret, str(token)))
    subprocess.run(["amtool", "check-config", str(local)], check=True, capture_output=True)
    hook = yaml.safe_load(config.read_text())["receivers"][0]["webhook_configs"][0]
    url = urlparse(hook["url"])
    assert (url.hostname, url.port, url.path) == ("opsagent", PORTS["opsagent"], "/v1/alerts/alertmanager")
    assert hook["send_resolved"] and hook["http_config"]["authorization"]["credentials_file"] == secret
    assert "alertmanager_token" in SERVICES["alertmanager"]["secrets"]
    assert COMPOSE["secrets"]["alertmanager_token"]["environment"] == "OPSAGENT_ALERTMANAGER_TOKEN"


@requires.promtool
def test_prometheus_config_and_the_rules_it_loads_are_valid(tmp_path):
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    rules = tmp_path / "rules"
    subprocess.run(
        [
            str(Path(shutil.which("opsagent") or ROOT / ".venv/bin/opsagent")),
            "sandbox",
            "rules",
            "--out",
            str(rules),
        ],
        check=True,
        capture_output=True,
    )
    files = sorted(rules.glob("*.yaml"))
    count = sum(len(g["rules"]) for f in files for g in yaml.safe_load(f.read_text())["groups"])
    assert count > 150 and config["rule_files"] == ["/etc/prometheus/rules/*.yaml"]
    subprocess.run(["promtool", "check", "rules", *map(str, files)], check=True, capture_output=True)
    local = dict(config, rule_files=[str(rules / "*.yaml")])
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(local))
    subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")], check=True, capture_output=True
    )
    prometheus = SERVICES["prometheus"]
    assert "prometheus-rules:/etc/prometheus/rules:ro" in prometheus["volumes"]
    assert prometheus["depends_on"]["alertmanager"] and prometheus["depends_on"]["rules"]["condition"] == (
        "service_completed_successfully"
    )
    for name in ("prometheus", "alertmanager"):  # the external URL is what alert links point at
        assert any(a.startswith("--web.external-url=") for a in SERVICES[name]["command"])


def test_dockerfile_copies_every_package():
    text = (ROOT / "Dockerfile").read_text()
    for package in ("agent", "tools", "sandbox", "trajectories", "train", "serve"):
        assert f"COPY {package} {package}" in text
        assert (ROOT / package / "__init__.py").is_file()


def test_the_kind_path_is_well_formed():
    kind = ROOT / "deploy" / "kind"
    for manifest in kind.glob("*.yaml"):
        assert list(yaml.safe_load_all(manifest.read_text())), manifest
    for script in ("up.sh", "faults.sh"):
        subprocess.run(["bash", "-n", str(kind / script)], check=True)
    values = yaml.safe_load((kind / "values-kube-prometheus-stack.yaml").read_text())
    hook = values["alertmanager"]["config"]["receivers"][1]["webhook_configs"][0]
    assert urlparse(hook["url"]).path == "/v1/alerts/alertmanager" and hook["http_config"]["authorization"]
    settings = yaml.safe_load((kind / "opsagent.yaml").read_text())
    Settings.model_validate(settings)  # the guide's config file is a valid configuration
    assert (ROOT / "docs" / "kind.md").is_file()
