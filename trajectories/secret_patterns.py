"""What a secret looks like where it leaks: the shapes of known credentials (the detector
rules of gitleaks and detect-secrets, restated as regexes over free text), secrets assigned to
keys whose names say so (env vars, dict reprs, YAML, JSON, CLI flags), and blobs of key
material (PEM bodies, base64 Secret data) even when a log search returns their lines out of
order. Each entry is (name, pattern, replacement)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MASK = "[REDACTED]"
# Names that say they hold a secret (matched against a whole key name).
SECRET_NAME = (
    r"[\w.-]*(?:passw(?:or)?d|passphrase|(?<![a-z])pass(?![a-z])|(?<![a-z])pwd|secret|token(?!s\b)"
    r"|api[_-]?key|apikey|access[_-]?key|private[_-]?key|account[_-]?key|credential|auth[_-]?key"
    r"|sess(?:ion)?[_-]?(?:id|key|token)|sessionid|connect\.sid|jsessionid|phpsessid"
    r"|(?:tls|ca|server|client)\.key|\.dockerconfigjson|\.dockercfg|ssh-privatekey)[\w.-]*"
)
# ... except names of things about a secret, not the secret (a file, a reference, a count).
NOT_A_VALUE = re.compile(r"(?i)(?:ref|name|file|path|_id|count|length|version|type|ttl|seconds|expiry|"
                         r"expires|rotation|store|keys|field|mount|dir)$")
SECRET_KEY = re.compile(rf"^{SECRET_NAME}$", re.I)
_Q = "[\"'\\\\]*"  # quotes (and escaped quotes) around keys and values
_FRESH = r"(?!\[REDACTED)"  # a value already masked is left alone (redaction is idempotent)
_VALUE = _FRESH + r"[^\s\"'\\,;&})\]]{3,}"


def _named(name: str) -> bool:
    return bool(SECRET_KEY.match(name)) and not NOT_A_VALUE.search(name)


@dataclass(frozen=True)
class NamedValue:
    """Mask group `value` of every match whose group 1 names a secret. The value sits in a
    lookahead, so a match never swallows the next assignment (`ERROR: DB_PASSWORD=x`)."""

    value: int

    def apply(self, pattern: re.Pattern[str], text: str) -> str:
        out, last = [], 0
        for m in pattern.finditer(text):
            start, end = m.span(self.value)
            if end > last and _named(m.group(1)):
                out += [text[last:max(start, last)], MASK]
                last = end
        return "".join([*out, text[last:]]) if out else text


# Credentials with a shape of their own, matched as one alternation (one pass over the text).
TOKENS: list[tuple[str, str]] = [
    ("jwt", r"\beyJ[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}"),
    ("aws-access-key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
    ("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})\b"),
    ("gitlab-token", r"\bglpat-[0-9A-Za-z_-]{20,}"),
    ("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    ("google-oauth", r"\bya29\.[0-9A-Za-z_-]{20,}"),
    ("stripe-key", r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}\b"),
    ("openai-key", r"\bsk-(?:proj-|svcacct-|admin-|ant-(?:api\d+-)?)?[A-Za-z0-9_-]{20,}"),
    ("huggingface-token", r"\bhf_[A-Za-z0-9]{30,}\b"),
    ("sendgrid-key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("vault-token", r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}"),
    ("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("pypi-token", r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{40,}"),
    ("telegram-bot", r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b"),
    ("twilio-key", r"\bSK[0-9a-fA-F]{32}\b"),
]


Replacement = str | Callable[[re.Match[str]], str] | NamedValue
PATTERNS: list[tuple[str, re.Pattern[str], Replacement]] = [
    ("private-key", re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----.*?"
                               r"(?:-----END \1PRIVATE KEY\2-----|\Z)", re.S), "[REDACTED:private-key]"),
    # newest-first log search prints the END line before the body and the BEGIN line
    ("private-key-reversed", re.compile(r"-----END ([A-Z0-9 ]*)PRIVATE KEY( BLOCK)?-----.*?"
                                        r"(?:-----BEGIN \1PRIVATE KEY\2-----|\Z)", re.S),
     "[REDACTED:private-key]"),
    ("authorization", re.compile(r"(?i)\b(authorization\s*[:=]\s*\"?)(bearer|basic|token|apikey|digest)"
                                 r"\s+[^\s\"',]+"), rf"\1\2 {MASK}"),
    ("bearer", re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/-]{12,}=*"), rf"\1 {MASK}"),
    ("cookie", re.compile(r"(?im)\b((?:set-)?cookie\s*:\s*)[^\n]+"), rf"\1{MASK}"),
    ("tokens", re.compile("|".join(f"(?:{r})" for _, r in TOKENS)), MASK),
    ("slack-webhook", re.compile(r"(https://hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+"),
     rf"\1{MASK}"),
    ("discord-webhook", re.compile(r"(https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/)\S+"),
     rf"\1{MASK}"),
    ("azure-account-key", re.compile(r"(?i)\b((?:AccountKey|SharedAccessKey|sig)=)(?!\[REDACTED)"
                                     r"[A-Za-z0-9+/%=]{16,}"),
     rf"\1{MASK}"),
    ("url-credentials", re.compile(r"\b([a-z][a-z0-9+.-]*://)([^/\s:@\"']*):(\S+?)@(?=[A-Za-z0-9.-]+(?::\d+)?"
                                   r"(?:[/\s\"'?,;)]|$))"), rf"\1\2:{MASK}@"),
    ("curl-user", re.compile(r"(\bcurl\b[^\n]*?\s(?:-u|--user)\s*['\"]?[^:\s'\"]+:)[^\s'\"]+"), rf"\1{MASK}"),
    ("mysql-password", re.compile(r"(\bmysql(?:dump|admin)?\b[^\n]*?\s-p)(?!\s)[^\s'\"]+"), rf"\1{MASK}"),
    ("cli-flag", re.compile(r"(?i)(--[\w-]*(?:password|passwd|passphrase|token|secret|api-key|apikey)"
                            r"(?:=|\s+)['\"]?)(?!-|\[REDACTED)[^\s'\"]+"), rf"\1{MASK}"),
    # Redis AUTH as typed (`AUTH pass`, `AUTH user pass`, at a prompt) and as MONITOR prints it
    ("redis-auth", re.compile(r"(?<![\w-])(AUTH\s+)"
                              r"(?!OK\b|failed\b|attempt|error|required|succeeded|\[REDACTED)"
                              r"\S+(?:\s+\S+)?"), rf"\1{MASK}"),
    ("redis-monitor-auth", re.compile(r'("AUTH"\s+)(?:"[^"]*"\s+)?"[^"]*"'), rf'\1"{MASK}"'),
    ("redis-cli", re.compile(r"(\bredis-cli\b[^\n]*?\s-a\s+)\S+"), rf"\1{MASK}"),
    # a Kubernetes env entry: the value follows the name ({'name': 'DB_PASSWORD', 'value': ...})
    ("env-entry", re.compile(rf"(?i)(\bname{_Q}\s*[:=]\s*{_Q}{SECRET_NAME}{_Q}\s*[,\n]\s*-?\s*{_Q}value{_Q}"
                             rf"\s*[:=]\s*{_Q})({_VALUE})"), rf"\1{MASK}"),
    # any key = value whose key names a secret (the name is checked after a cheap match); a
    # quoted value is masked to its closing quote, spaces and all
    ("quoted-assignment", re.compile(rf"(?<![\w.-])([\w.-]+)([\"']?\s*[:=]\s*)([\"'])(?={_FRESH}"
                                     rf"([^\"'\n]{{1,300}}?)\3)"), NamedValue(4)),
    ("assignment", re.compile(rf"(?<![\w.-])([\w.-]+)({_Q}\s*[:=]\s*{_Q})(?=({_VALUE}))"), NamedValue(3)),
    # key material without its markers: a PEM body line, base64 Secret data
    ("key-material", re.compile(r"(?<![A-Za-z0-9+/=_-])(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z])"
                                r"(?=[A-Za-z0-9+/]*[0-9])[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=_-])"),
     "[REDACTED:key-material]"),
]
