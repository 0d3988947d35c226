"""Documents as `_source`: the ECS fields a log shipper sends, and `_source` filtering."""

from __future__ import annotations

import fnmatch
import sqlite3
from typing import Any

from opsagent.sandbox.logtext import iso


def source(row: sqlite3.Row | tuple) -> dict[str, Any]:
    _, _, ts, level, message, ns, pod, container, service, host = row[:10]
    doc: dict[str, Any] = {"@timestamp": iso(ts), "message": message, "log.level": level,
                           "service.name": service, "host.name": host}
    if ns:
        doc.update({"kubernetes.namespace": ns, "kubernetes.pod.name": pod,
                    "kubernetes.container.name": container})
    return doc


def filter_source(doc: dict[str, Any], spec: Any) -> dict[str, Any] | None:
    if spec is None or spec is True:
        return doc
    if spec is False:
        return None
    includes = spec if isinstance(spec, list) else [spec] if isinstance(spec, str) else \
        spec.get("includes", spec.get("include", []))
    excludes = spec.get("excludes", spec.get("exclude", [])) if isinstance(spec, dict) else []
    return {k: v for k, v in doc.items()
            if (not includes or any(fnmatch.fnmatch(k, p) for p in includes))
            and not any(fnmatch.fnmatch(k, p) for p in excludes)}
