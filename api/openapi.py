"""OpenAPI 3.1 for the service, generated from the pydantic models that validate requests.

The request schema is :class:`planner.schema.PlanRequest` itself and the query parameters
are the fields of :class:`api.wire.SolveParams` / :class:`api.wire.ListParams`, so the spec
says exactly what the code accepts (schemathesis checks it against the running server).
The spec depends on the server's configuration (bearer auth on or off, size and time caps),
hence it is built from the app config. The docs page renders the same spec as plain HTML,
with no script or CDN asset, so it works on a machine without internet.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.wire import (
    IDEMPOTENCY_KEY_PATTERN,
    Health,
    Job,
    JobList,
    ListParams,
    Plan,
    Problem,
    SolveParams,
)
from planner.replan import LiveState
from planner.schema import PlanRequest

JOB_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


def openapi_spec(config: Mapping[str, Any]) -> dict[str, Any]:
    return _spec(
        secured=bool(config.get("API_TOKEN")),
        max_body=int(config.get("MAX_CONTENT_LENGTH") or 0),
        sync_cap=float(config.get("SYNC_TIME_CAP") or 0),
        job_cap=float(config.get("JOB_TIME_CAP") or 0),
    )


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


@lru_cache(maxsize=8)
def _components() -> dict[str, Any]:
    _, top = models_json_schema(
        [
            (PlanRequest, "validation"),
            (LiveState, "validation"),
            (Job, "serialization"),
            (JobList, "serialization"),
            (Problem, "serialization"),
            (Health, "serialization"),
            (Plan, "serialization"),
        ],
        ref_template="#/components/schemas/{model}",
    )
    return dict(top["$defs"])


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    out = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", "")
        prop.pop("title", None)
        if prop.get("default", 0) is None:
            prop.pop("default")
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        if len(branches) == 1:
            prop.update(branches[0])
        out.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": description,
                "schema": prop,
            }
        )
    return out


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


def _json(description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    content = {"application/json": {"schema": schema}}
    return {"description": description, "content": content, **extra}


@lru_cache(maxsize=8)
def _spec(secured: bool, max_body: int, sync_cap: float, job_cap: float) -> dict[str, Any]:
    job_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "description": "The job id returned by POST /v1/plans.",
        "schema": {"type": "string", "pattern": JOB_ID_PATTERN},
    }
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Same key and same request: the same job (even while it runs); same "
        "key and another request: 422.",
        "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
    }
    body = {
        "required": True,
        "description": f"A plan request (at most {max_body} bytes).",
        "content": {"application/json": {"schema": _ref("PlanRequest")}},
    }
    unauthorized = {"401": _problem("Missing or wrong bearer token.")} if secured else {}
    body_errors = {
        "413": _problem("The body is larger than the server's limit."),
        "415": _problem("The body is not application/json."),
        "422": _problem("The request is invalid: `errors` lists each field and why."),
    }
    job_view = _json("The job.", _ref("Job"))
    location = {
        "Location": {
            "description": "Where to poll the job.",
            "required": True,
            "schema": {"type": "string"},
        }
    }
    paths: dict[str, Any] = {
        "/v1/plans": {
            "post": {
                "operationId": "submitPlan",
                "summary": "Queue a plan job",
                "description": "Validates the request, queues it and answers at once; a worker "
                f"process solves it (time limit capped at {job_cap:g} s).",
                "parameters": [*_query_parameters(SolveParams), idempotency],
                "requestBody": body,
                "responses": {
                    "202": _json("Queued (or the same job again).", _ref("Job"), headers=location),
                    **unauthorized,
                    **body_errors,
                },
            },
            "get": {
                "operationId": "listPlans",
                "summary": "List plan jobs, newest first",
                "parameters": _query_parameters(ListParams),
                "responses": {
                    "200": _json("A page of jobs.", _ref("JobList")),
                    **unauthorized,
                    "422": _problem("A query parameter is invalid."),
                },
            },
        },
        "/v1/plans/{id}": {
            "get": {
                "operationId": "getPlan",
                "summary": "A job's status, timestamps and solver progress",
                "parameters": [job_id],
                "responses": {
                    "200": job_view,
                    **unauthorized,
                    "404": _problem("No job with this id."),
                },
            }
        },
        "/v1/plans/{id}/result": {
            "get": {
                "operationId": "getPlanResult",
                "summary": "The plan (the same JSON `planner solve` writes)",
                "parameters": [job_id],
                "responses": {
                    "200": _json("The plan.", _ref("Plan")),
                    **unauthorized,
                    "404": _problem("No job with this id."),
                    "409": _problem("The job has no plan (yet): `job_status` says why."),
                },
            }
        },
        "/v1/plans/{id}/cancel": {
            "post": {
                "operationId": "cancelPlan",
                "summary": "Cancel a job (idempotent)",
                "description": "A queued job is canceled at once; a running one stops and keeps "
                "the best plan found so far.",
                "parameters": [job_id],
                "responses": {
                    "200": _json("Canceled.", _ref("Job")),
                    "202": _json("Running; its worker has been asked to stop.", _ref("Job")),
                    **unauthorized,
                    "404": _problem("No job with this id."),
                    "409": _problem("The job has already finished."),
                },
            }
        },
        "/v1/plans:solve": {
            "post": {
                "operationId": "solvePlan",
                "summary": "Solve synchronously (small requests)",
                "description": f"The time limit is capped at {sync_cap:g} s.",
                "parameters": _query_parameters(SolveParams),
                "requestBody": body,
                "responses": {
                    "200": _json("The plan.", _ref("Plan")),
                    **unauthorized,
                    **body_errors,
                    "503": _problem("Another synchronous solve holds the solver; retry."),
                },
            }
        },
        "/v1/plans/{id}/replan": {
            "post": {
                "operationId": "replanPlan",
                "summary": "Replan a job's plan from a live state (synchronous)",
                "description": "Applies the live state (units sold so far, stock now, live "
                "sales rate) to the job's request and plan, solves the rest of the horizon "
                "warm-started from the plan (time limit capped at "
                f"{sync_cap:g} s) and stores the new plan as a new succeeded job, which can be "
                "replanned in turn. The plan's `changes` say what changed in the decisions, its "
                "`replan` section what changed in the inputs; its days count from as_of_day.",
                "parameters": [job_id, *_query_parameters(SolveParams)],
                "requestBody": {
                    "required": True,
                    "description": "The live state; its days count in the job's plan.",
                    "content": {"application/json": {"schema": _ref("LiveState")}},
                },
                "responses": {
                    "201": _json(
                        "The new plan; Location is its job.",
                        _ref("Plan"),
                        headers={
                            "Location": {
                                "description": "The job that holds the new plan.",
                                "required": True,
                                "schema": {"type": "string"},
                            }
                        },
                    ),
                    **unauthorized,
                    "404": _problem("No job with this id."),
                    "409": _problem("The job has no plan (yet): `job_status` says why."),
                    **body_errors,
                    "503": _problem("Another synchronous solve holds the solver; retry."),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness",
                "security": [],
                "responses": {"200": _json("Up.", _ref("Health"))},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": _json("OpenAPI 3.1.", {"type": "object"})},
            }
        },
        "/docs": {
            "get": {
                "operationId": "docs",
                "summary": "This document as a web page",
                "security": [],
                "responses": {
                    "200": {
                        "description": "HTML.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "supply-planner",
            "version": "1",
            "description": "Optimization-based supply-chain plans: submit a plan request, poll "
            "the job, fetch the plan. Errors are RFC 9457 application/problem+json.",
        },
        "paths": paths,
        "components": {"schemas": _components()},
    }
    if secured:
        spec["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        spec["security"] = [{"bearer": []}]
    return spec


def docs_page(spec: dict[str, Any]) -> str:
    """Every operation with its parameters, responses and the schemas, as one HTML page."""
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(spec['info']['title'])} API</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "code,pre{background:#f4f4f4}pre{padding:.5em;overflow:auto}"
        "h3 code{font-size:1.1em}td{padding:0 .6em;vertical-align:top}</style></head><body>",
        f"<h1>{esc(spec['info']['title'])} API</h1><p>{esc(spec['info']['description'])}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>",
    ]
    if spec.get("security"):
        parts.append("<p>Send <code>Authorization: Bearer &lt;token&gt;</code>.</p>")
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            parts.append(f"<h3><code>{method.upper()} {esc(path)}</code></h3>")
            summary, description = esc(op.get("summary", "")), esc(op.get("description", ""))
            parts.append(f"<p><b>{summary}</b> {description}</p>")
            params = op.get("parameters", [])
            if params:
                parts.append("<table>")
                for p in params:
                    parts.append(
                        f"<tr><td><code>{esc(p['name'])}</code></td><td>{esc(p['in'])}</td>"
                        f"<td><code>{esc(json.dumps(p['schema']))}</code></td>"
                        f"<td>{esc(p.get('description', ''))}</td></tr>"
                    )
                parts.append("</table>")
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                name = esc(ref.rsplit("/", 1)[-1])
                parts.append(f"<p>Body: <a href='#{name}'>{name}</a> (JSON)</p>")
            parts.append("<ul>")
            for code, response in op["responses"].items():
                parts.append(f"<li><code>{code}</code> {esc(response['description'])}</li>")
            parts.append("</ul>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in spec["components"]["schemas"].items():
        parts.append(
            f"<details id='{esc(name)}'><summary><code>{esc(name)}</code></summary>"
            f"<pre>{esc(json.dumps(schema, indent=2))}</pre></details>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
