"""Secrets never reach storage or the model: every string passes the patterns of
`secret_patterns` (tokens, passwords, keys, connection strings, key material, cloud
credentials). Keys whose names say they hold a secret have their values dropped whatever they
look like. IPs can also be pseudonymised, consistently within a store (same IP, same
pseudonym)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from typing import Any

from opsagent.trajectories.secret_patterns import MASK, NOT_A_VALUE, PATTERNS, SECRET_KEY, NamedValue

__all__ = ["MASK", "Redactor", "redact_text"]

_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")


_SHORT = 256  # strings up to this length have their redaction memoised


def redact_text(text: str) -> str:
    # Tool results repeat the same short strings (names, states, reasons) call after call.
    return _redact_short(text) if len(text) <= _SHORT else _redact(text)


def _redact(text: str) -> str:
    for _, pattern, replacement in PATTERNS:
        if isinstance(replacement, NamedValue):
            text = replacement.apply(pattern, text)
        else:
            text = pattern.sub(replacement, text)
    return text


_redact_short = functools.lru_cache(maxsize=1 << 15)(_redact)


class Redactor:
    def __init__(self, pseudonymise_ips: bool = False, salt: bytes = b"opsagent"):
        self.pseudonymise_ips = pseudonymise_ips
        self.salt = salt

    def _ip(self, match: re.Match[str]) -> str:
        digest = hmac.new(self.salt, match.group(0).encode(), hashlib.sha256).digest()
        return f"10.{digest[0]}.{digest[1]}.{digest[2]}"

    def text(self, text: str) -> str:
        text = redact_text(text)
        return _IPV4.sub(self._ip, text) if self.pseudonymise_ips else text

    def __call__(self, value: Any, key: str = "") -> Any:
        if isinstance(value, str):
            secret = key and SECRET_KEY.match(key) and not NOT_A_VALUE.search(key)
            return MASK if secret and value else self.text(value)
        if isinstance(value, dict):
            return {k: self(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, key) for v in value]
        return value
