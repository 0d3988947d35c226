"""Fixtures for the tools' tests: the shared live sandbox."""

from tests.live import box, ctx, registry  # noqa: F401  (pytest fixtures)
