"""Secrets never reach disk: every string in a trajectory passes these patterns before it is
written (tokens, passwords, keys, connection strings, private keys, cloud credentials). Keys
whose names say they hold a secret have their values dropped whatever they look like. IPs can
also be pseudonymised, consistently within a store (same IP, same pseudonym)."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

MASK = "[REDACTED]"
_SECRET_NAME = (r"[\w.-]*(?:passw(?:or)?d|pwd|secret|token(?!s\b)|api[_-]?key|apikey|access[_-]?key"
                r"|private[_-]?key|credential|auth[_-]?key|session[_-]?key)[\w.-]*")
SECRET_KEY = re.compile(rf"^{_SECRET_NAME}$", re.I)
PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    ("private-key", re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?"
                               r"(?:-----END \1PRIVATE KEY-----|\Z)", re.S), "[REDACTED:private-key]"),
    ("authorization", re.compile(r"(?i)\b(authorization\s*[:=]\s*\"?)(bearer|basic|token|apikey)"
                                 r"\s+[^\s\"',]+"), rf"\1\2 {MASK}"),
    ("bearer", re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/-]{12,}=*"), rf"\1 {MASK}"),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}"), MASK),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"), MASK),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})\b"), MASK),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), MASK),
    ("stripe-key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}\b"), MASK),
    ("url-credentials", re.compile(r"\b([a-z][a-z0-9+.-]*://)([^/\s:@\"']*):([^/\s@\"']+)@"),
     rf"\1\2:{MASK}@"),
    ("assignment", re.compile(rf"(?i)\b({_SECRET_NAME})(\\?\"?\s*[:=]\s*\\?\"?)([^\s\"'\\,;&}}]{{3,}})"),
     rf"\1\2{MASK}"),
]
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")


def redact_text(text: str) -> str:
    for _, pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


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
            return MASK if key and SECRET_KEY.match(key) and value else self.text(value)
        if isinstance(value, dict):
            return {k: self(v, str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v, key) for v in value]
        return value
