"""Schemathesis over the OpenAPI document: generated requests (valid and not) to every
operation, as an admin, must never get a server error. The engine is not started, so accepted
alerts wait in the inbox rather than run incidents; chat (which runs one per request) and
/readyz (503 by design while the engine is stopped) are covered by their own tests."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from serve.app import create_app
from serve.engine import Engine
from serve.settings import Settings
from tests.serve.service import auth, service_config

_ENGINE = Engine(Settings(data_dir=Path(tempfile.mkdtemp(prefix="opsagent-fuzz-")), service=service_config()))
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_ENGINE, manage_engine=False))
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture(scope="module", autouse=True)
def _stop_engine():
    yield
    _ENGINE.stop()


@pytest.mark.slow
@schema.exclude(path="/v1/chat").exclude(path="/readyz").parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case):
    case.call_and_validate(headers=auth("admin"), checks=[not_a_server_error])
