"""Label and field selectors, as the API server parses them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from opsagent.sandbox.errors import SandboxError


class SelectorError(SandboxError):
    reason = "BadRequest"
    code = 400


_SET = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(r"^\s*([A-Za-z0-9./_-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)([A-Za-z0-9./_-]+)\s*$")


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside an `in (...)` set."""
    parts, depth, current = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


Match = Callable[[dict[str, str]], bool]


def label_selector(selector: str | None) -> Match:
    if not selector:
        return lambda labels: True
    tests: list[Match] = []
    for part in _split(selector):
        if m := _SET.match(part):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in":
                tests.append(lambda lb, k=key, vs=values: lb.get(k) in vs)
            else:
                tests.append(lambda lb, k=key, vs=values: lb.get(k) not in vs)
        elif m := _EQ.match(part):
            key, op, value = m.groups()
            if op == "!=":
                tests.append(lambda lb, k=key, v=value: lb.get(k) != v)
            else:
                tests.append(lambda lb, k=key, v=value: lb.get(k) == v)
        elif m := _EXISTS.match(part):
            neg, key = m.groups()
            tests.append((lambda lb, k=key: k not in lb) if neg else (lambda lb, k=key: k in lb))
        else:
            raise SelectorError(f"unable to parse requirement: {part.strip()!r}")
    return lambda labels: all(t(labels) for t in tests)


def _path(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_selector(selector: str | None, allowed: tuple[str, ...]) -> Callable[[dict[str, Any]], bool]:
    """Field selectors apply to the rendered object; only the fields the real API indexes for
    that resource are allowed (others are a 400, as on a real cluster)."""
    if not selector:
        return lambda obj: True
    tests = []
    for part in _split(selector):
        m = _EQ.match(part)
        if not m:
            raise SelectorError(f"invalid selector: {selector!r}; can't understand {part.strip()!r}")
        key, op, value = m.groups()
        if key not in allowed and key not in ("metadata.name", "metadata.namespace"):
            raise SelectorError(f'field label not supported: {key}')
        if op == "!=":
            tests.append(lambda o, k=key, v=value: _path(o, k) != v)
        else:
            tests.append(lambda o, k=key, v=value: _path(o, k) == v)
    return lambda obj: all(t(obj) for t in tests)
