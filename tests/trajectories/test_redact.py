"""Secrets never reach a trajectory: the planted corpus in every position a trajectory holds
text (message content, tool-call arguments, tool results, alert labels, nested values)."""

import json

import pytest

from opsagent.trajectories.redact import MASK, Redactor, redact_text
from tests.trajectories.secrets_corpus import KEEP, SECRETS


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_each_planted_secret_is_removed(name):
    text, secret = SECRETS[name]
    out = redact_text(f"before {text} after")
    assert secret not in out and "REDACTED" in out
    assert out.startswith("before ")


@pytest.mark.parametrize("text", KEEP)
def test_look_alikes_survive(text):
    assert redact_text(text) == text


def test_secret_named_keys_lose_their_values_whatever_they_look_like():
    r = Redactor()
    out = r({"env": {"PAYGATE_API_KEY": "x", "LOG_LEVEL": "debug"}, "list": [{"sessionKey": "abc"}]})
    assert out == {"env": {"PAYGATE_API_KEY": MASK, "LOG_LEVEL": "debug"}, "list": [{"sessionKey": MASK}]}


def test_tool_call_arguments_in_json_text_are_redacted():
    args = json.dumps({"name": "payment", "set": {"PAYGATE_TOKEN": "tk_live_abcdef123456"}})
    out = Redactor()({"tool_calls": [{"function": {"name": "k8s_patch_env", "arguments": args}}]})
    assert "tk_live_abcdef123456" not in json.dumps(out)


def test_ips_are_pseudonymised_consistently():
    r = Redactor(pseudonymise_ips=True)
    a, b = r.text("from 10.244.0.9 to 10.244.1.7"), r.text("again 10.244.0.9")
    assert "10.244.0.9" not in a and a.split()[1] == b.split()[1] and a.split()[1] != a.split()[3]


def test_the_corpus_is_large_enough_to_mean_something():
    assert len(SECRETS) >= 100 and len(KEEP) >= 50


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_redaction_is_idempotent(name):
    """Every sink redacts what it is handed; text already redacted must not change again (nor
    grow brackets), or the export's final scan would flag every row."""
    once = redact_text(f"before {SECRETS[name][0]} after")
    assert redact_text(once) == once
