"""The HTTP contract through the Flask test client: every client mistake is a 4xx
problem+json naming what is wrong, jobs can be listed, looked up and canceled, the spec is
valid OpenAPI 3.1, and a fuzzer finds no 5xx.

Jobs stay queued here (RUN_JOBS off): solving through worker processes is exercised through
a real server in test_service_http.py.
"""

from __future__ import annotations

import copy
import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import two_warehouse_request
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate as validate_openapi

from api import create_app

PROBLEM = "application/problem+json"


def make_app(tmp_path: Path, **config: Any) -> Flask:
    base = {
        "TESTING": True,
        "JOBS_DB": str(tmp_path / "jobs.sqlite3"),
        "RUN_JOBS": False,
        "MAX_CONTENT_LENGTH": 100_000,
        "SYNC_TIME_CAP": 30.0,
    }
    return create_app({**base, **config})


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = make_app(tmp_path)
    yield app
    app.extensions["planner"].store.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def submit(client: FlaskClient, body: Any = None, **headers: str) -> Any:
    return client.post(
        "/v1/plans?time_limit=5",
        json=two_warehouse_request() if body is None else body,
        headers=headers,
    )


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"]
    return body  # type: ignore[no-any-return]


# -- submit, look up, list -------------------------------------------------------------------


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}


def test_submit_answers_202_with_location_and_the_queued_job(client: FlaskClient) -> None:
    response = submit(client)
    assert response.status_code == 202
    job = response.json
    assert response.headers["Location"] == f"/v1/plans/{job['id']}"
    assert job["status"] == "queued" and job["attempt"] == 0
    assert job["name"] == "two-warehouse"
    assert job["options"] == {
        "time_limit": 5.0,
        "gap": None,
        "solver": "highs",
        "threads": None,
        "seed": None,
    }
    again = client.get(job["links"]["self"])
    assert again.status_code == 200 and again.json == job


def test_time_limits_are_capped_and_defaulted(tmp_path: Path) -> None:
    client = make_app(tmp_path, JOB_TIME_CAP=50.0, JOB_DEFAULT_TIME_LIMIT=20.0).test_client()
    capped = client.post("/v1/plans?time_limit=1000", json=two_warehouse_request()).json
    defaulted = client.post("/v1/plans", json=two_warehouse_request()).json
    assert capped["options"]["time_limit"] == 50.0
    assert defaulted["options"]["time_limit"] == 20.0


def test_list_is_paginated_newest_first_and_filters_by_status(client: FlaskClient) -> None:
    ids = [submit(client).json["id"] for _ in range(5)]
    assert client.post(f"/v1/plans/{ids[0]}/cancel").json["status"] == "canceled"
    first = client.get("/v1/plans?limit=2").json
    assert [j["id"] for j in first["items"]] == ids[:2:-1][:2] == [ids[4], ids[3]]
    second = client.get(f"/v1/plans?limit=2&page_token={first['next_page_token']}").json
    third = client.get(f"/v1/plans?limit=2&page_token={second['next_page_token']}").json
    assert [j["id"] for j in second["items"] + third["items"]] == [ids[2], ids[1], ids[0]]
    assert third["next_page_token"] is None
    canceled = client.get("/v1/plans?status=canceled").json["items"]
    assert [j["id"] for j in canceled] == [ids[0]]
    assert len(client.get("/v1/plans?status=queued&limit=100").json["items"]) == 4


def test_idempotency_key_same_body_same_job_other_body_422(client: FlaskClient) -> None:
    first = submit(client, **{"Idempotency-Key": "order-42"})
    replay = submit(client, **{"Idempotency-Key": "order-42"})
    assert first.status_code == replay.status_code == 202
    assert replay.json["id"] == first.json["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    # The same JSON with other whitespace and key order is the same body.
    text = json.dumps(dict(reversed(list(two_warehouse_request().items()))), indent=3)
    same = client.post(
        "/v1/plans?time_limit=5",
        data=text,
        content_type="application/json",
        headers={"Idempotency-Key": "order-42"},
    )
    assert same.json["id"] == first.json["id"]
    other = submit(client, two_warehouse_request(name="other"), **{"Idempotency-Key": "order-42"})
    body = assert_problem(other, 422)
    assert body["errors"][0]["path"] == "header.Idempotency-Key"
    options = client.post(
        "/v1/plans?time_limit=6",
        json=two_warehouse_request(),
        headers={"Idempotency-Key": "order-42"},
    )
    assert_problem(options, 422)  # other options: another request
    assert len(client.get("/v1/plans").json["items"]) == 1


def test_bad_idempotency_key_is_422(client: FlaskClient) -> None:
    body = assert_problem(submit(client, **{"Idempotency-Key": "x" * 256}), 422)
    assert body["errors"][0]["path"] == "header.Idempotency-Key"


# -- cancel and result -----------------------------------------------------------------------


def test_cancel_a_queued_job_is_immediate_and_idempotent(client: FlaskClient) -> None:
    job = submit(client).json
    first = client.post(job["links"]["cancel"])
    again = client.post(job["links"]["cancel"])
    assert first.status_code == again.status_code == 200
    assert first.json["status"] == again.json["status"] == "canceled"
    assert first.json["cancel_requested"] and first.json["finished_at"] is not None
    body = assert_problem(client.get(job["links"]["result"]), 409)
    assert body["job_status"] == "canceled" and "before any plan" in body["detail"]


def test_result_of_a_job_without_a_plan_yet_is_409_saying_its_status(
    client: FlaskClient,
) -> None:
    job = submit(client).json
    body = assert_problem(client.get(job["links"]["result"]), 409)
    assert body["job_status"] == "queued" and "poll" in body["detail"]


def test_cancel_of_a_finished_job_is_409(app: Flask, client: FlaskClient) -> None:
    job = submit(client).json
    store = app.extensions["planner"].store
    claim = store.claim(app.extensions["planner"].runner.owner, 30)
    assert claim is not None and claim.id == job["id"]
    assert store.complete(claim.id, claim.attempt, "failed", error="solver crashed")
    body = assert_problem(client.post(job["links"]["cancel"]), 409)
    assert body["job_status"] == "failed"
    body = assert_problem(client.get(job["links"]["result"]), 409)
    assert "solver crashed" in body["detail"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/plans/{id}"),
        ("get", "/v1/plans/{id}/result"),
        ("post", "/v1/plans/{id}/cancel"),
    ],
)
def test_unknown_id_is_404_problem(client: FlaskClient, method: str, path: str) -> None:
    body = assert_problem(getattr(client, method)(path.format(id="no-such-job")), 404)
    assert "no-such-job" in body["detail"]


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/plans", "/v1/plans:solve"])
def test_empty_object_is_422_with_errors(client: FlaskClient, path: str) -> None:
    body = assert_problem(client.post(path, json={}), 422)
    assert "$.warehouses" in {e["path"] for e in body["errors"]}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("{", "not valid JSON"),
        ('{"horizon_days": NaN}', "not a number JSON allows"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        ("[" * 100_00 + "]" * 100_00, "nested too deeply"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_body_that_is_not_a_json_object_is_422(
    client: FlaskClient, data: str | bytes, reason: str
) -> None:
    response = client.post("/v1/plans", data=data, content_type="application/json")
    body = assert_problem(response, 422)
    assert reason in body["errors"][0]["reason"]


def test_wrong_content_type_is_415(client: FlaskClient) -> None:
    assert_problem(client.post("/v1/plans", data="x", content_type="text/plain"), 415)
    assert_problem(client.post("/v1/plans:solve", data="{}"), 415)


def test_oversized_body_is_413_before_parsing(client: FlaskClient) -> None:
    body = "{" + " " * 200_000  # not JSON either: the size is checked first
    response = client.post("/v1/plans", data=body, content_type="application/json")
    assert "100000" in assert_problem(response, 413)["detail"]


def test_bad_query_options_name_each_parameter(client: FlaskClient) -> None:
    response = client.post(
        "/v1/plans?time_limit=-3&solver=cplex&gap=1&threads=x&timelimit=3",
        json=two_warehouse_request(),
    )
    paths = {e["path"] for e in assert_problem(response, 422)["errors"]}
    assert paths == {
        "query.time_limit",
        "query.solver",
        "query.gap",
        "query.threads",
        "query.timelimit",
    }
    twice = client.post("/v1/plans?time_limit=3&time_limit=4", json=two_warehouse_request())
    assert assert_problem(twice, 422)["errors"][0]["reason"] == "given more than once"
    for query in ("status=done", "limit=0", "limit=101", "page_token=abc"):
        assert_problem(client.get(f"/v1/plans?{query}"), 422)


def test_unknown_route_is_404_and_wrong_method_405_problem(client: FlaskClient) -> None:
    assert_problem(client.get("/v1/nothing"), 404)
    response = client.delete("/v1/plans")
    assert_problem(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


# -- auth ------------------------------------------------------------------------------------


def test_bearer_token_guards_everything_but_health_and_docs(tmp_path: Path) -> None:
    client = make_app(tmp_path, API_TOKEN="s3cret").test_client()
    missing = client.get("/v1/plans")
    assert_problem(missing, 401)
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(client.get("/v1/plans", headers={"Authorization": "Bearer wrong"}), 401)
    assert_problem(client.get("/v1/plans", headers={"Authorization": "Basic s3cret"}), 401)
    assert client.get("/v1/plans", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    for open_path in ("/healthz", "/openapi.json", "/docs"):
        assert client.get(open_path).status_code == 200
    # Unauthenticated clients learn nothing, not even that their body is too large.
    assert_problem(client.post("/v1/plans", data="x" * 200_000), 401)
    spec = client.get("/openapi.json").json
    assert spec["security"] == [{"bearer": []}]


# -- the synchronous route -------------------------------------------------------------------


def test_solve_returns_the_same_plan_as_the_pipeline(client: FlaskClient) -> None:
    response = client.post("/v1/plans:solve?time_limit=30", json=two_warehouse_request())
    assert response.status_code == 200
    plan = response.json
    assert plan["status"] == "optimal"
    assert plan["objective"] == pytest.approx(3 + 6 * 2)  # fixed 3 + 6 units x $2
    assert plan["solver"]["time_limit"] == 30


# -- the spec --------------------------------------------------------------------------------


def test_openapi_is_valid_3_1_built_from_the_request_model(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").json
    validate_openapi(spec)
    assert spec["openapi"].startswith("3.1")
    assert "security" not in spec  # no token configured
    schemas = spec["components"]["schemas"]
    assert {"PlanRequest", "Job", "JobList", "Problem", "Plan", "Warehouse"} <= set(schemas)
    assert "horizon_days" in schemas["PlanRequest"]["required"]
    assert set(spec["paths"]) >= {
        "/v1/plans",
        "/v1/plans/{id}",
        "/v1/plans/{id}/result",
        "/v1/plans/{id}/cancel",
        "/v1/plans:solve",
        "/healthz",
    }
    submit_op = spec["paths"]["/v1/plans"]["post"]
    assert {p["name"] for p in submit_op["parameters"]} == {
        "time_limit",
        "gap",
        "solver",
        "threads",
        "seed",
        "Idempotency-Key",
    }


def test_docs_page_lists_every_route_without_external_assets(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for route in ("POST /v1/plans", "GET /v1/plans/{id}/result", "POST /v1/plans:solve"):
        assert route in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


# -- fuzzing: nothing a client sends is a 5xx --------------------------------------------------

_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_json_value = st.recursive(
    _json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [prefix] + [p for k, v in value.items() for p in _leaf_paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [prefix] + [p for i, v in enumerate(value) for p in _leaf_paths(v, (*prefix, i))]
    return [prefix]


_BASE = two_warehouse_request()
_PATHS = [p for p in _leaf_paths(_BASE) if p]


def _replace(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(_BASE)
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return out


_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@_SETTINGS
@given(path=st.sampled_from(_PATHS), value=_json_value, key=st.sampled_from(["k1", "k2", None]))
def test_fuzz_mutated_requests_are_never_a_server_error(
    tmp_path: Path, path: tuple[Any, ...], value: Any, key: str | None
) -> None:
    client = _fuzz_client(tmp_path)
    headers = {"Idempotency-Key": key} if key else {}
    response = client.post("/v1/plans", json=_replace(path, value), headers=headers)
    assert response.status_code in (202, 422), response.data[:300]
    if response.status_code == 422:
        assert response.mimetype == PROBLEM and response.json["errors"]


@_SETTINGS
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=st.sampled_from(
        [
            "/v1/plans",
            "/v1/plans/{id}",
            "/v1/plans/{id}/result",
            "/v1/plans/{id}/cancel",
            "/v1/plans/{id}/replan",
            "/v1/plans:solve",
            "/healthz",
            "/{id}",
        ]
    ),
    job_id=st.text(string.ascii_letters + string.digits + "-_.%:~", min_size=1, max_size=40),
    query=st.dictionaries(
        st.sampled_from(["time_limit", "gap", "solver", "threads", "status", "limit", "x"]),
        st.text(max_size=10),
        max_size=3,
    ),
    body=st.binary(max_size=200) | _json_value.map(lambda v: json.dumps(v).encode()),
    content_type=st.sampled_from(
        ["application/json", "text/plain", "application/problem+json", "", "application/json; x"]
    ),
    headers=st.dictionaries(
        st.sampled_from(["Idempotency-Key", "Authorization", "Content-Length"]),
        st.text(string.printable.strip(), max_size=30),
        max_size=2,
    ),
)
def test_fuzz_any_request_is_answered_without_a_server_error(
    tmp_path: Path,
    method: str,
    path: str,
    job_id: str,
    query: dict[str, str],
    body: bytes,
    content_type: str,
    headers: dict[str, str],
) -> None:
    client = _fuzz_client(tmp_path)
    headers = {k: v for k, v in headers.items() if k != "Content-Length" or v.isdigit()}
    response = client.open(
        path.format(id=job_id),
        method=method,
        query_string=query,
        data=body,
        content_type=content_type or None,
        headers=headers,
    )
    assert response.status_code < 500, response.data[:300]
    if response.status_code >= 400:
        assert response.mimetype == PROBLEM
        assert response.get_json(force=True)["status"] == response.status_code


_fuzz_apps: dict[Path, FlaskClient] = {}


def _fuzz_client(tmp_path: Path) -> FlaskClient:
    """One app per test (hypothesis calls the test body many times with the same tmp_path)."""
    if tmp_path not in _fuzz_apps:
        _fuzz_apps[tmp_path] = make_app(tmp_path, SYNC_TIME_CAP=2.0).test_client()
    return _fuzz_apps[tmp_path]
