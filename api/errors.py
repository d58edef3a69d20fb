"""The one error mapper: every failure leaves the service as RFC 9457 problem+json.

Routes raise (ApiError, RequestError, werkzeug's HTTPException, the store's conflicts) and
never build error responses themselves, so every 4xx looks the same to a client. A job
database locked for longer than the busy timeout is a 503 to retry. Anything else is a bug in
the service: it is logged and answered with a bare 500 problem that leaks no internals.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask, Response, current_app, json
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from api.store import IdempotencyConflict, StateConflict
from planner.validation import FieldError, RequestError

PROBLEM_JSON = "application/problem+json"


class ApiError(Exception):
    """A client-facing failure with its HTTP status; extra keyword arguments become problem
    extension members (e.g. ``job_status``)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extensions = extensions


def problem(
    status: int,
    title: str,
    detail: str = "",
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = [e.as_dict() for e in errors]
    body.update({k: v for k, v in extensions.items() if v is not None})
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def not_found(job_id: str) -> ApiError:
    return ApiError(404, "Not Found", f"no plan job with id {job_id!r}")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return problem(exc.status, exc.title, exc.detail, headers=exc.headers, **exc.extensions)

    @app.errorhandler(RequestError)
    def invalid_request(exc: RequestError) -> Response:
        return problem(422, "Unprocessable Content", f"invalid {exc.subject}", exc.errors)

    @app.errorhandler(IdempotencyConflict)
    def idempotency_conflict(exc: IdempotencyConflict) -> Response:
        return problem(
            422,
            "Unprocessable Content",
            f"Idempotency-Key was already used for another request (job {exc.job_id}); "
            "use a new key for a different request",
            [FieldError("header.Idempotency-Key", "already used for a different request")],
        )

    @app.errorhandler(StateConflict)
    def state_conflict(exc: StateConflict) -> Response:
        return problem(409, "Conflict", str(exc), job_status=exc.job.status)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        headers = {}
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            headers["Allow"] = ", ".join(exc.valid_methods)
        return problem(exc.code or 500, exc.name, exc.description or "", headers=headers)

    @app.errorhandler(sqlite3.OperationalError)
    def database_busy(exc: sqlite3.OperationalError) -> Response:
        current_app.logger.warning("job database: %s", exc)
        return problem(
            503,
            "Service Unavailable",
            "the job database is busy; retry shortly",
            headers={"Retry-After": "2"},
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        current_app.logger.exception("unhandled error")
        return problem(500, "Internal Server Error", "the service failed; see its log")
