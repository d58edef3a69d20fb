"""Flask app factory: configuration, the job store and runner, auth and size guards, routes.

Configuration comes, in increasing priority, from the defaults below, ``PLANNER_*``
environment variables (e.g. ``PLANNER_API_TOKEN``, ``PLANNER_JOBS_DB``) and the mapping given
to :func:`create_app`. The runner (worker processes) starts with the app unless ``RUN_JOBS``
is false, which tests of the HTTP contract use to keep jobs queued.
"""

from __future__ import annotations

import atexit
import hmac
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, request

from api.errors import ApiError, register_error_handlers
from api.routes import bp
from api.runner import DEFAULT_WORKER_COMMAND, JobRunner, RunnerConfig
from api.service import Limits, PlanService
from api.store import JobStore

DEFAULTS: dict[str, Any] = {
    "JOBS_DB": "planner-jobs.sqlite3",
    "JOB_WORKERS": 2,
    "API_TOKEN": None,
    "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,  # bytes; larger bodies are 413 before parsing
    "SYNC_TIME_CAP": 60.0,  # seconds, POST /v1/plans:solve
    "JOB_DEFAULT_TIME_LIMIT": 300.0,  # seconds, a job submitted without time_limit
    "JOB_TIME_CAP": 3600.0,
    "JOB_GRACE_SECONDS": 120.0,  # a worker still alive at time limit + grace is killed
    "CANCEL_GRACE_SECONDS": 30.0,
    "JOB_MAX_ATTEMPTS": 3,  # runs of one job interrupted by server deaths before it fails
    "JOB_WORKER_COMMAND": DEFAULT_WORKER_COMMAND,
    "RUN_JOBS": True,
}
PUBLIC_ENDPOINTS = frozenset({"plans.healthz", "plans.openapi", "plans.docs"})


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("PLANNER")
    app.config.update(config or {})

    store = JobStore(os.path.abspath(app.config["JOBS_DB"]))
    store.create_schema()
    runner = JobRunner(store, _runner_config(app.config))
    limits = Limits(
        sync_time_cap=float(app.config["SYNC_TIME_CAP"]),
        job_default_time_limit=float(app.config["JOB_DEFAULT_TIME_LIMIT"]),
        job_time_cap=float(app.config["JOB_TIME_CAP"]),
    )
    app.extensions["planner"] = PlanService(store, runner, limits)
    if app.config["RUN_JOBS"]:
        runner.start()
        atexit.register(runner.stop)

    register_error_handlers(app)
    app.before_request(_guard)
    app.register_blueprint(bp)
    return app


def _runner_config(config: Mapping[str, Any]) -> RunnerConfig:
    return RunnerConfig(
        workers=int(config["JOB_WORKERS"]),
        grace_seconds=float(config["JOB_GRACE_SECONDS"]),
        cancel_grace_seconds=float(config["CANCEL_GRACE_SECONDS"]),
        max_attempts=int(config["JOB_MAX_ATTEMPTS"]),
        command=tuple(config["JOB_WORKER_COMMAND"]),
    )


def _guard() -> None:
    """Before any route: the bearer token, then the declared body size (nothing read yet)."""
    token = current_app.config.get("API_TOKEN")
    if token and request.endpoint not in PUBLIC_ENDPOINTS:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), str(token).encode()
        ):
            raise ApiError(
                401,
                "Unauthorized",
                "send Authorization: Bearer <token>",
                headers={"WWW-Authenticate": 'Bearer realm="planner"'},
            )
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and request.content_length is not None and request.content_length > limit:
        raise ApiError(
            413,
            "Content Too Large",
            f"the body has {request.content_length} bytes; the limit is {limit}",
        )
