"""A test that skips for a missing install step fails the run under CI=true (as CI runs), so a
set-up line missing from ./run.sh cannot pass green; other skips stay skips."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import pytest
from tests.requires import missing

@pytest.mark.skipif(True, reason=missing("some-binary", "apt-get install some-binary"))
def test_needs_a_binary():
    pass

def test_skips_for_another_reason():
    pytest.skip("this input has no negative case")
"""


@pytest.mark.parametrize(("ci", "failed"), [("true", 1), ("", 0)])
def test_a_skip_for_a_missing_install_step_fails_under_ci(pytester: pytest.Pytester, monkeypatch, ci, failed):
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pytester.makepyfile(test_probe=PROBE)
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(errors=failed, skipped=2 - failed)
    if failed:
        result.stdout.fnmatch_lines(["*CI=true: a test may not skip for a missing install step*some-binary*"])
