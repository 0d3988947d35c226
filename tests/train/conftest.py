"""Fixtures for the training tests: the shared live sandbox (for the served model's agent run)."""

from tests.live import box, registry  # noqa: F401  (pytest fixtures)
