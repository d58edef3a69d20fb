"""The routes: parse what the client sent, call the service, render its answer.

Each route is a few lines; the rules live in :mod:`api.service`, failures are raised and
turned into problem+json by :mod:`api.errors`, the shapes are the models in :mod:`api.wire`.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel

from api.errors import ApiError
from api.openapi import docs_page, openapi_spec
from api.service import PlanService, render
from api.wire import (
    IDEMPOTENCY_KEY_PATTERN,
    Health,
    ListParams,
    SolveParams,
    dump_plan,
    parse_query,
)
from planner.validation import FieldError, RequestError, parse_json

bp = Blueprint("plans", __name__)


@bp.post("/v1/plans")
def submit_plan() -> Response:
    """Queue a plan job; 202 with its Location. Honours Idempotency-Key."""
    params = parse_query(SolveParams, request.args.to_dict(flat=False))
    job, created = service().submit(json_body(), params, idempotency_key())
    headers = {"Location": f"/v1/plans/{job.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return as_json(render(job), 202, headers)


@bp.get("/v1/plans")
def list_plans() -> Response:
    """Jobs, newest first, a page at a time; filter by status."""
    params = parse_query(ListParams, request.args.to_dict(flat=False))
    return as_json(service().list_jobs(params))


@bp.get("/v1/plans/<job_id>")
def get_plan(job_id: str) -> Response:
    """Status, timestamps, and the solver's progress while it runs."""
    return as_json(render(service().job(job_id)))


@bp.get("/v1/plans/<job_id>/result")
def get_result(job_id: str) -> Response:
    """The plan, as `planner solve` writes it."""
    return Response(service().result(job_id), mimetype="application/json")


@bp.post("/v1/plans/<job_id>/cancel")
def cancel_plan(job_id: str) -> Response:
    """Idempotent; 202 while the worker stops (keeping its best plan), 200 once canceled."""
    job = service().cancel(job_id)
    return as_json(render(job), 200 if job.status == "canceled" else 202)


@bp.post("/v1/plans:solve")
def solve_now() -> Response:
    """Synchronous solve for small requests, bounded by the server's time cap."""
    params = parse_query(SolveParams, request.args.to_dict(flat=False))
    plan = service().solve_now(json_body(), params)
    return Response(dump_plan(plan), mimetype="application/json")


@bp.post("/v1/plans/<job_id>/replan")
def replan_plan(job_id: str) -> Response:
    """Replan a finished job's plan from a live state, synchronously; 201 with the new plan and
    the Location of the job that holds it."""
    params = parse_query(SolveParams, request.args.to_dict(flat=False))
    base = service().replan_base(job_id)
    job, plan = service().replan(base, json_body("live state"), params)
    headers = {"Location": f"/v1/plans/{job.id}"}
    return Response(plan, status=201, headers=headers, mimetype="application/json")


@bp.get("/healthz")
def healthz() -> Response:
    return as_json(Health(status="ok"))


@bp.get("/openapi.json")
def openapi() -> Response:
    return as_json(openapi_spec(current_app.config))


@bp.get("/docs")
def docs() -> Response:
    return Response(docs_page(openapi_spec(current_app.config)), mimetype="text/html")


# -- request parsing helpers ----------------------------------------------------------------


def service() -> PlanService:
    return current_app.extensions["planner"]  # type: ignore[no-any-return]


def as_json(
    body: BaseModel | dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    text = body.model_dump_json() if isinstance(body, BaseModel) else current_app.json.dumps(body)
    return Response(text, status=status, headers=headers, mimetype="application/json")


def json_body(subject: str = "plan request") -> Any:
    """The body as JSON: 415 unless sent as JSON, 422 naming the problem when it is not."""
    if not request.is_json:
        raise ApiError(415, "Unsupported Media Type", f"send the {subject} as application/json")
    try:
        text = request.get_data(cache=False).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError([FieldError("$", f"not valid UTF-8: {exc.reason}")], subject) from None
    try:
        return parse_json(text)
    except RequestError as exc:
        raise RequestError(exc.errors, subject) from None
    except RecursionError:
        raise RequestError(
            [FieldError("$", "not valid JSON: nested too deeply")], subject
        ) from None


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        raise RequestError(
            [FieldError("header.Idempotency-Key", "must be 1-255 visible ASCII characters")]
        )
    return key
