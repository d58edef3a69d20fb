"""What goes over the wire besides the plan request: solve options, job views, problems.

These pydantic models validate what clients send in query strings and shape every JSON the
service answers; /openapi.json is generated from them and from :class:`PlanRequest`, so the
published contract and the code that enforces it cannot drift apart.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.validation import FieldError, RequestError, json_path
from solvers import BACKENDS

JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
PlanStatus = Literal["optimal", "feasible", "infeasible", "time_limit_no_solution", "error"]
SolverName = Literal[tuple(sorted(BACKENDS))]  # type: ignore[valid-type]

# Idempotency keys: visible ASCII, as a header value can carry it unchanged.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,255}$"
PAGE_TOKEN_PATTERN = r"^[1-9][0-9]{0,17}$"


class _Query(BaseModel):
    """Query parameters: unknown ones are refused, as a misspelt option must not be ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SolveParams(_Query):
    """How to solve: given in the query string of POST /v1/plans and POST /v1/plans:solve."""

    time_limit: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Seconds the solver may run. Capped by the server; a default applies "
        "when omitted.",
    )
    gap: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="Relative MIP gap at which the solver may stop, e.g. 0.001.",
    )
    solver: SolverName = Field(default="highs", description="Solver backend.")
    threads: int | None = Field(default=None, ge=1, le=256, description="Solver threads.")
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="Solver seed.")


class ListParams(_Query):
    status: JobStatus | None = Field(default=None, description="Only jobs in this status.")
    limit: int = Field(default=20, ge=1, le=100, description="Jobs per page.")
    page_token: str | None = Field(
        default=None,
        pattern=PAGE_TOKEN_PATTERN,
        description="`next_page_token` of the previous page (opaque).",
    )


def parse_query(model: type[_Query], args: dict[str, list[str]]) -> Any:
    """Validate a query string against ``model``; every problem is a FieldError at
    ``query.<name>``. A parameter given twice is an error, not a silent pick."""
    errors = [
        FieldError(f"query.{name}", "given more than once")
        for name, values in args.items()
        if len(values) > 1
    ]
    if errors:
        raise RequestError(errors)
    try:
        return model.model_validate({name: values[0] for name, values in args.items()})
    except ValidationError as exc:
        raise RequestError(
            [
                FieldError(
                    "query" + json_path(err["loc"])[1:],
                    "unknown query parameter"
                    if err["type"] == "extra_forbidden"
                    else str(err["msg"]),
                )
                for err in exc.errors()
            ]
        ) from None


class Progress(BaseModel):
    """What the solver last reported for a running job (minimisation)."""

    elapsed_seconds: float = Field(description="Seconds the solver has been running.")
    incumbent: float | None = Field(description="Cost of the best plan found so far.")
    bound: float | None = Field(description="Proven lower bound on the cost.")
    gap: float | None = Field(description="Relative gap between incumbent and bound.")
    reported_at: datetime


class JobLinks(BaseModel):
    self: str
    result: str
    cancel: str


class Job(BaseModel):
    """A plan job: where it stands, the solver's progress while it runs, and its outcome."""

    id: str
    status: JobStatus
    name: str = Field(description="The request's name.")
    created_at: datetime
    started_at: datetime | None = Field(description="When the current attempt started.")
    finished_at: datetime | None
    options: SolveParams = Field(description="The options in force (server caps applied).")
    attempt: int = Field(
        ge=0, description="Runs started so far (more than 1 after a server restart)."
    )
    cancel_requested: bool
    progress: Progress | None = Field(description="Latest solver report; null before any.")
    plan_status: PlanStatus | None = Field(description="The plan's status once there is one.")
    objective: float | None = Field(description="The plan's expected cost, when it has one.")
    error: str | None = Field(description="Why the job failed, or how it was stopped.")
    result_available: bool = Field(description="GET .../result returns the plan.")
    links: JobLinks


class JobList(BaseModel):
    items: list[Job]
    next_page_token: str | None = Field(description="Pass as page_token for the next page.")


class FieldProblem(BaseModel):
    path: str = Field(description="JSON path of the field (`query.<name>` for the query).")
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    errors: list[FieldProblem] | None = Field(
        default=None, description="Every field that is wrong, for an invalid request."
    )
    job_status: JobStatus | None = Field(
        default=None, description="The job's status, when a state change is impossible."
    )


class Health(BaseModel):
    status: Literal["ok"]


class Plan(BaseModel):
    """The plan, as `planner solve` writes it; docs/plan-format.md describes every key."""

    model_config = ConfigDict(extra="allow")

    status: PlanStatus
    message: str
    objective: float | None
    best_bound: float | None
    gap: float | None
    solver: dict[str, Any]
    model: dict[str, Any]
    timings: dict[str, Any]
    request: dict[str, Any]
    transfers: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    allocations: list[dict[str, Any]]
    lost_sales: list[dict[str, Any]]
    costs: dict[str, Any] | None
    kpis: dict[str, Any] | None


def timestamp(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def finite(value: Any) -> Any:
    """JSON has no Infinity or NaN: such numbers become null (a bound of -inf is no bound)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def dump_plan(plan: dict[str, Any]) -> str:
    try:
        return json.dumps(plan, allow_nan=False)
    except ValueError:
        return json.dumps(finite(plan), allow_nan=False)
