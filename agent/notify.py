"""Paging the on-call: a Notifier interface with a webhook implementation (JSON POST with an
optional bearer token), and a log-only one for when no pager is configured."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, SecretStr

from opsagent.agent.config import EscalationConfig

log = logging.getLogger(__name__)


class Page(BaseModel):
    incident: str
    severity: str
    reason: str
    summary: str
    services: list[str] = []


class Notifier(Protocol):
    def page(self, page: Page) -> dict[str, Any]:
        """Send the page; returns a record of what happened (never raises)."""
        ...


class LogNotifier:
    def page(self, page: Page) -> dict[str, Any]:
        log.warning("PAGE %s [%s]: %s", page.incident, page.severity, page.reason)
        return {"channel": "log", "delivered": True}


class WebhookNotifier:
    def __init__(self, url: str, token: SecretStr | None = None, timeout_s: float = 5.0):
        self.url = url
        self.headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        self.timeout_s = timeout_s

    def page(self, page: Page) -> dict[str, Any]:
        try:
            r = httpx.post(self.url, json=page.model_dump(), headers=self.headers, timeout=self.timeout_s)
            r.raise_for_status()
        except httpx.HTTPError as exc:
            log.error("paging %s failed: %s", self.url, exc)
            return {"channel": "webhook", "delivered": False, "error": str(exc)}
        return {"channel": "webhook", "delivered": True, "status": r.status_code}


def notifier_for(cfg: EscalationConfig) -> Notifier:
    """The configured pager webhook, else the log."""
    return WebhookNotifier(cfg.webhook_url, cfg.webhook_token) if cfg.webhook_url else LogNotifier()
