"""Fixtures for the service's tests: a live sandbox shared by a test module."""

from tests.live import box, postgres_url, registry  # noqa: F401  (pytest fixtures)
