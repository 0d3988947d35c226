"""Settings: defaults < YAML file < environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from opsagent.serve.settings import load_settings


def test_defaults(monkeypatch):
    monkeypatch.delenv("OPSAGENT_CONFIG", raising=False)
    settings = load_settings()
    assert settings.sandbox.fault == "memory_leak" and settings.sandbox.history_s == 1800


def test_file_then_environment(tmp_path, monkeypatch):
    path = tmp_path / "opsagent.yaml"
    path.write_text("sandbox:\n  seed: 42\n  fault: dns_failure\n")
    assert load_settings(path).sandbox.seed == 42
    monkeypatch.setenv("OPSAGENT_CONFIG", str(path))
    monkeypatch.setenv("OPSAGENT_SANDBOX__SEED", "43")
    settings = load_settings()
    assert settings.sandbox.seed == 43 and settings.sandbox.fault == "dns_failure"


def test_unknown_and_invalid_fields_are_named(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("sandbox:\n  sede: 1\n")
    with pytest.raises(ValidationError, match="sede"):
        load_settings(path)
    path.write_text("sandbox:\n  dt_s: 0\n")
    with pytest.raises(ValidationError, match="dt_s"):
        load_settings(path)


def test_guided_decoding_is_named_and_the_earlier_boolean_still_reads(tmp_path, monkeypatch):
    monkeypatch.delenv("OPSAGENT_CONFIG", raising=False)
    assert load_settings().agent.llm.guided == "retry"  # free, but a malformed answer's retry is guided
    path = tmp_path / "opsagent.yaml"
    path.write_text("agent:\n  llm:\n    guided: true\n")
    assert load_settings(path).agent.llm.guided == "always"
    monkeypatch.setenv("OPSAGENT_AGENT__LLM__GUIDED", "off")
    assert load_settings(path).agent.llm.guided == "off"
    monkeypatch.setenv("OPSAGENT_AGENT__LLM__GUIDED", "sometimes")
    with pytest.raises(ValidationError, match="guided"):
        load_settings(path)
