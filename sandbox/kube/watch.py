"""Watch (`?watch=true` on a list): the changes the simulation makes, streamed as the apiserver
streams them, one JSON event per line (ADDED, MODIFIED, DELETED, BOOKMARK), for `kubectl get -w`,
`kubectl rollout status` and the Python client's `watch.Watch().stream`. The world keeps no
history, so changes are found by comparing what the list shows now with what it showed at the
last look (twice a second, and at once after a write through the API)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from opsagent.sandbox.kube.resources import Resource
from opsagent.sandbox.kube.tables import table

Json = dict[str, Any]
POLL_S = 0.5
BOOKMARK_S = 10.0
DEFAULT_TIMEOUT_S = 1800.0  # the apiserver's --min-request-timeout is 1800 s


def _key(o: Json) -> str:
    meta = o["metadata"]
    return meta.get("uid") or f"{meta.get('namespace', '')}/{meta['name']}"


def _content(o: Json) -> Json:
    """What changed means: anything but the resourceVersion (the tick, on every object)."""
    meta = {k: v for k, v in o["metadata"].items() if k != "resourceVersion"}
    return {**o, "metadata": meta}


def stream(res: Resource, select: Callable[[], tuple[list[Json], float]], request: Request,
           changed: threading.Condition, closed: threading.Event) -> StreamingResponse:
    """`select()`: the objects the list would return now and the world's time, read under the
    cluster's lock. `changed` is notified after each write; `closed` ends every watch."""
    q = request.query_params
    timeout = float(q.get("timeoutSeconds") or DEFAULT_TIMEOUT_S)
    as_table = "as=Table" in request.headers.get("accept", "")
    bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
    since = q.get("resourceVersion")

    def event(kind: str, o: Json, now: float) -> bytes:
        rv = str(int(now))
        o = {**o, "metadata": {**o["metadata"], "resourceVersion": rv}}
        shown = table(res.columns or res.name, [o], now, rv, q.get("includeObject")) if as_table else o
        return (json.dumps({"type": kind, "object": shown}) + "\n").encode()

    def events() -> Iterator[bytes]:
        objects, now = select()
        seen = {_key(o): o for o in objects}
        if not since or since == "0":  # no version to start from: the current state first
            for o in objects:
                yield event("ADDED", o, now)
        deadline, bookmarked = time.monotonic() + timeout, time.monotonic()
        while time.monotonic() < deadline and not closed.is_set():
            with changed:
                changed.wait(POLL_S)
            objects, now = select()
            current = {_key(o): o for o in objects}
            for key, o in current.items():
                if key not in seen:
                    yield event("ADDED", o, now)
                elif _content(o) != _content(seen[key]):
                    yield event("MODIFIED", o, now)
            for key in seen.keys() - current.keys():
                yield event("DELETED", seen[key], now)
            seen = current
            if bookmarks and time.monotonic() - bookmarked >= BOOKMARK_S:
                bookmarked = time.monotonic()
                mark = {"kind": res.kind, "apiVersion": res.group_version,
                        "metadata": {"resourceVersion": str(int(now))}}
                yield (json.dumps({"type": "BOOKMARK", "object": mark}) + "\n").encode()

    return StreamingResponse(events(), media_type="application/json")
