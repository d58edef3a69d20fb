"""Schemathesis against a real server and the spec it serves: for every operation, valid and
invalid requests generated from /openapi.json (a bounded number of each) never get a 5xx,
invalid ones are refused, and every response conforms to the spec (status codes, content
types, headers, bodies)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from service_server import Server

TOKEN = "fuzz-token"
EXAMPLES = 25  # per operation and mode: the whole run stays well under a minute
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("schemathesis")
    with Server(
        folder / "jobs.sqlite3",
        *("--workers", "1", "--sync-time-cap", "2", "--job-time-cap", "2"),
        *("--max-body", "200000"),
        token=TOKEN,
    ) as s:
        yield s


def test_the_served_spec_holds_for_generated_requests(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", timeout=30)
    ran: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and not _has_inputs(operation.definition.raw):
                continue
            _exercise(server, operation, mode)
            ran.append(f"{operation.label} {mode.value}")
    assert len(ran) >= 12, ran


def _exercise(server: Server, operation: Any, mode: GenerationMode) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    checks = CHECKS + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        case.call_and_validate(base_url=server.url, headers=headers, checks=checks, timeout=30)

    call()


def _has_inputs(definition: dict[str, Any]) -> bool:
    return bool(definition.get("parameters") or definition.get("requestBody"))
