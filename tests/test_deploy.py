"""The deployment files are well-formed. (No Docker engine runs here, so nothing is started;
this checks what `docker compose` would read.)"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_services_build_from_the_dockerfile():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    demo = compose["services"]["sandbox-demo"]
    assert demo["build"] == "." and (ROOT / "Dockerfile").is_file()
    assert demo["command"][:2] == ["opsagent", "sandbox"]


def test_dockerfile_copies_every_package():
    text = (ROOT / "Dockerfile").read_text()
    for package in ("agent", "tools", "sandbox", "trajectories", "train", "serve"):
        assert f"COPY {package} {package}" in text
        assert (ROOT / package / "__init__.py").is_file()
