"""Bearer tokens and roles. Reading needs `viewer`, deciding an approval `approver` (or
`security-approver` for security-sensitive actions; the store checks that), labelling and
admin work `admin`. Alertmanager has its own token, good for the alert endpoints only."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import HTTPException, Request
from pydantic import BaseModel

from opsagent.serve.config import ServiceConfig

RANK = {"viewer": 0, "approver": 1, "security-approver": 2, "admin": 3}


class Principal(BaseModel):
    name: str
    role: str  # an AccessRole, or "alertmanager"


class Tokens:
    def __init__(self, cfg: ServiceConfig):
        self._known = [(t.token.get_secret_value(), Principal(name=t.name, role=t.role)) for t in cfg.tokens]
        if cfg.alertmanager_token is not None:
            self._known.append(
                (
                    cfg.alertmanager_token.get_secret_value(),
                    Principal(name="alertmanager", role="alertmanager"),
                )
            )

    def who(self, token: str) -> Principal | None:
        found = None
        for known, principal in self._known:  # compare with every token: no timing hint
            if secrets.compare_digest(known.encode(), token.encode()):
                found = principal
        return found


def _unauthorised(reason: str) -> HTTPException:
    return HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})


def require(role: str) -> Callable[[Request], Principal]:
    """A dependency: the caller's principal, when its role is at least `role` (or, for
    role "alertmanager", the Alertmanager token or an admin)."""

    def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorised("missing bearer token (Authorization: Bearer <token>)")
        principal = request.app.state.tokens.who(token.strip())
        if principal is None:
            raise _unauthorised("unknown bearer token")
        if role == "alertmanager":
            if principal.role not in ("alertmanager", "admin"):
                raise HTTPException(403, "this endpoint takes the Alertmanager token (or an admin's)")
        elif principal.role == "alertmanager" or RANK[principal.role] < RANK[role]:
            raise HTTPException(403, f"needs the {role} role; {principal.name} has {principal.role}")
        return principal

    return dependency
