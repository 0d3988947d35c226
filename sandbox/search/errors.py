"""Errors in Elasticsearch's shape: `{"error": {"type", "reason", "root_cause"}, "status"}`."""

from __future__ import annotations

from typing import Any


class SearchError(Exception):
    status = 400
    type = "parsing_exception"

    def __init__(self, reason: str, type_: str | None = None, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        if type_:
            self.type = type_
        if status:
            self.status = status

    def body(self) -> dict[str, Any]:
        cause = {"type": self.type, "reason": self.reason}
        return {"error": {"root_cause": [cause], **cause}, "status": self.status}


class ParsingError(SearchError):
    pass


class IndexNotFound(SearchError):
    def __init__(self, index: str):
        super().__init__(f"no such index [{index}]", "index_not_found_exception", 404)
