"""Fixtures for the trajectories' tests: the shared live sandbox."""

from tests.live import box, registry  # noqa: F401  (pytest fixtures)
