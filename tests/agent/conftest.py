"""Fixtures for the agent's tests: the shared live sandbox."""

from tests.live import box, ctx, postgres_url, registry  # noqa: F401  (pytest fixtures)
