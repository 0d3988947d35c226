"""Schemathesis over the OpenAPI document: generated requests (valid and not) to every
operation, as an admin, must never get a server error. The engine is not started, so accepted
alerts wait in the inbox rather than run incidents; chat (which runs one per request) and
/readyz (503 by design while the engine is stopped) are covered by their own tests. One pytest
case per operation and mode (schemathesis' own parametrize runs a single operation under
xdist)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from opsagent.serve.app import create_app
from opsagent.serve.engine import Engine
from opsagent.serve.settings import Settings
from tests.serve.service import auth, service_config

_ENGINE = Engine(Settings(data_dir=Path(tempfile.mkdtemp(prefix="opsagent-fuzz-")), service=service_config()))
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_ENGINE, manage_engine=False))
OPERATIONS = sorted(
    (op.method.upper(), op.path)
    for result in schema.get_all_operations()
    if (op := result.ok()).path not in ("/v1/chat", "/readyz")
)


@pytest.fixture(scope="module", autouse=True)
def _stop_engine():
    yield
    _ENGINE.stop()


def test_every_operation_is_covered():
    assert len(OPERATIONS) == 15 and ("POST", "/v1/approvals/{approval_id}") in OPERATIONS
    assert ("GET", "/v1/incidents/{incident_id}/charts") in OPERATIONS
    assert ("POST", "/v1/models/{checkpoint_id}/promote") in OPERATIONS


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_request_gets_a_server_error(method, path, mode):
    @given(case=schema[path][method].as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        case.call_and_validate(headers=auth("admin"), checks=[not_a_server_error])

    try:
        check()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE
        pytest.skip(f"{method} {path} has no input that breaks its schema")
