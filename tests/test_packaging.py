"""What a user who `pip install`s opsagent gets: one `opsagent.*` namespace holding every package
folder and every data file, working from a fresh virtual environment; and a service whose
import pulls in no simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("agent", "tools", "sandbox", "trajectories", "train", "serve")


def test_every_package_folder_is_declared():
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        "opsagent." + str(p.parent.relative_to(ROOT)).replace("/", ".")
        for folder in FOLDERS
        for p in (ROOT / folder).rglob("__init__.py")
    }
    assert declared == on_disk


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from this tree, installed alone into a fresh venv. Its dependencies come
    from the test's own environment (a .pth line: no network, and its editable install of
    opsagent is not activated that way)."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    deps = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    (site / "zz-deps.pth").write_text(deps + "\n")
    wheel = next((tmp / "dist").glob("opsagent-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env_dir / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return env_dir


def _run(env_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSAGENT_", "PYTHONPATH"))}
    return subprocess.run(
        list(args), cwd=cwd, env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_the_installed_wheel_works_from_a_fresh_venv(installed: Path, tmp_path: Path):
    python = installed / "bin" / "python"
    help_ = _run(installed, str(installed / "bin" / "opsagent"), "--help", cwd=tmp_path)
    assert help_.returncode == 0 and "trajectory trainer" in help_.stdout, help_.stderr
    tools = _run(installed, str(installed / "bin" / "opsagent"), "tools", "list", cwd=tmp_path)
    assert tools.returncode == 0 and "k8s_rollout_undo" in tools.stdout, tools.stderr
    probe = """
import json
from importlib import resources
import opsagent.agent
from opsagent.agent.gate import GatePolicy
from opsagent.sandbox.prom.rules import write_rule_files
from opsagent.serve.pages import SHELL
from opsagent.tools.knowledge import SHIPPED
from opsagent.train.config import load_stage
configs = resources.files("opsagent.train") / "configs"
policy = GatePolicy.load()
stages = [load_stage(configs / name).stage for name in ("sft.yaml", "dpo.yaml")]
accelerate = sorted(p.name for p in (resources.files("opsagent.train") / "accelerate").iterdir())
import tempfile, pathlib
rules = write_rule_files(pathlib.Path(tempfile.mkdtemp()))
print(json.dumps({"from": opsagent.agent.__file__, "environments": sorted(policy.environments),
                  "stages": stages, "accelerate": accelerate, "rules": len(rules),
                  "pages": SHELL.is_file(), "runbooks": len(list(SHIPPED.glob("*.md")))}))
"""
    out = _run(installed, str(python), "-c", probe, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    facts = json.loads(out.stdout)
    assert facts["from"].startswith(str(installed)), facts["from"]  # the wheel, not this checkout
    assert facts["environments"] and facts["stages"] == ["sft", "dpo"]
    assert facts["accelerate"] == ["deepspeed_zero2.yaml", "fsdp.yaml"]
    assert facts["rules"] >= 4 and facts["pages"] and facts["runbooks"] >= 3


def test_a_bare_package_name_in_the_working_directory_shadows_nothing(tmp_path: Path):
    for name in FOLDERS:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the user’s own package')\n")
    out = subprocess.run(
        [sys.executable, "-c", "import opsagent.serve.cli.main, opsagent.train.loop"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr


def test_the_service_loads_no_simulator():
    probe = (
        "import sys, opsagent.serve.app; "
        "print('\\n'.join(m for m in sys.modules "
        "if m.startswith(('opsagent.sandbox', 'opsagent.agent.sim'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # The settings name the sandbox's own settings model, and vLLM's launcher its PR_SET_PDEATHSIG
    # helper (sandbox/children.py); nothing else of the simulator loads.
    allowed = {"opsagent.sandbox", "opsagent.sandbox.config", "opsagent.sandbox.children"}
    assert set(out.stdout.split()) <= allowed, out.stdout
