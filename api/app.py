"""Flask app factory: routes validate, call the one pipeline, and return its plan.

Errors follow RFC 9457 (application/problem+json); a request body that is wrong in any way is
a 4xx naming the fields, never a 500.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from planner.pipeline import run
from planner.validation import FieldError, RequestError, parse_json, validate_request
from solvers import BACKENDS, SolveOptions

DEFAULT_MAX_BODY = 20 * 1024 * 1024
DEFAULT_SYNC_TIME_CAP = 60.0


def problem(
    status: int, title: str, detail: str = "", errors: list[FieldError] | None = None
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = [e.as_dict() for e in errors]
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _solve_options(query: dict[str, str], cap: float) -> tuple[SolveOptions, str]:
    errors: list[FieldError] = []

    def number(name: str) -> float | None:
        if name not in query:
            return None
        try:
            value = float(query[name])
        except ValueError:
            errors.append(FieldError(f"query.{name}", "must be a number"))
            return None
        if not (value > 0 and value != float("inf")):
            errors.append(FieldError(f"query.{name}", "must be a positive finite number"))
            return None
        return value

    time_limit = number("time_limit")
    gap = number("gap")
    if gap is not None and gap >= 1:
        errors.append(FieldError("query.gap", "must be below 1"))
    solver = query.get("solver", "highs")
    if solver not in BACKENDS:
        errors.append(
            FieldError("query.solver", f"unknown solver; available: {', '.join(sorted(BACKENDS))}")
        )
    if errors:
        raise RequestError(errors)
    limit = cap if time_limit is None else min(time_limit, cap)
    return SolveOptions(time_limit=limit, mip_gap=gap), solver


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=DEFAULT_MAX_BODY, SYNC_TIME_CAP=DEFAULT_SYNC_TIME_CAP)
    app.config.update(config or {})

    @app.errorhandler(RequestError)
    def bad_request(exc: RequestError) -> Response:
        return problem(422, "invalid plan request", str(exc), exc.errors)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return problem(exc.code or 500, exc.name, exc.description or "")

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.post("/v1/plans:solve")
    def solve_now() -> Response:
        """Synchronous solve for small requests, bounded by the server's time cap."""
        if not request.is_json:
            return problem(
                415, "Unsupported Media Type", "send the plan request as application/json"
            )
        options, solver = _solve_options(request.args.to_dict(), app.config["SYNC_TIME_CAP"])
        raw = parse_json(request.get_data(as_text=True))
        plan = run(validate_request(raw), options, solver=solver)
        return jsonify(plan)

    return app
