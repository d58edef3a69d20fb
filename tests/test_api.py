"""The HTTP layer returns the pipeline's plan and maps bad input to problem+json 4xx."""

from __future__ import annotations

import json

import pytest
from conftest import two_warehouse_request
from flask.testing import FlaskClient

from api import create_app


@pytest.fixture
def client() -> FlaskClient:
    return create_app({"TESTING": True, "MAX_CONTENT_LENGTH": 100_000}).test_client()


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}


def test_solve_returns_the_same_plan_as_the_pipeline(client: FlaskClient) -> None:
    response = client.post("/v1/plans:solve?time_limit=30", json=two_warehouse_request())
    assert response.status_code == 200
    plan = response.json
    assert plan["status"] == "optimal"
    assert plan["objective"] == pytest.approx(3 + 6 * 2)  # fixed 3 + 6 units x $2
    assert plan["solver"]["time_limit"] == 30


def test_empty_object_is_422_with_errors(client: FlaskClient) -> None:
    response = client.post("/v1/plans:solve", json={})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    paths = {e["path"] for e in response.json["errors"]}
    assert "$.warehouses" in paths


def test_broken_json_is_422(client: FlaskClient) -> None:
    response = client.post("/v1/plans:solve", data="{", content_type="application/json")
    assert response.status_code == 422
    assert "not valid JSON" in response.json["errors"][0]["reason"]


def test_wrong_content_type_is_415(client: FlaskClient) -> None:
    response = client.post("/v1/plans:solve", data="x", content_type="text/plain")
    assert response.status_code == 415


def test_oversized_body_is_413(client: FlaskClient) -> None:
    body = json.dumps({"notes": "x" * 200_000})
    response = client.post("/v1/plans:solve", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_bad_query_option_names_it(client: FlaskClient) -> None:
    response = client.post(
        "/v1/plans:solve?time_limit=-3&solver=cplex", json=two_warehouse_request()
    )
    assert response.status_code == 422
    assert {e["path"] for e in response.json["errors"]} == {"query.time_limit", "query.solver"}


def test_unknown_route_is_404_problem(client: FlaskClient) -> None:
    response = client.get("/v1/nothing")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
