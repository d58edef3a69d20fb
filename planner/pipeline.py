"""The one pipeline every entry point calls: validate -> build -> solve -> extract -> report.

No Pyomo object leaves this module: callers get the plan as a JSON-ready dict.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from models.network_plan import build_network_plan
from planner.diagnosis import diagnose
from planner.diff import plan_changes, plan_hash
from planner.plan import extract_plan, model_section, plan_status, relative_gap, solver_section
from planner.prepare import network_data
from planner.schema import PlanRequest
from planner.uncertainty import expand_scenarios
from planner.validation import validate_request
from planner.warm_start import mip_start
from solvers import Progress, SolveControl, SolveOptions, SolveResult, get_solver
from solvers.guard import solve_guarded
from solvers.matrix import MatrixModel, compile_pyomo, load_solution

EMPTY_DECISIONS: dict[str, Any] = {
    "transfers": [],
    "lane_uses": [],
    "orders": [],
    "order_days": [],
    "stock_levels": [],
    "allocations": [],
    "lost_sales": [],
    "scenarios": [],
    "costs": None,
    "kpis": None,
}


def request_fingerprint(request: PlanRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def plan_from_json(
    raw: Any,
    options: SolveOptions | None = None,
    solver: str = "highs",
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Validate untrusted JSON (raises RequestError) and plan it."""
    start = time.perf_counter()
    request = validate_request(raw)
    return run(
        request,
        options,
        solver,
        progress=progress,
        should_stop=should_stop,
        validate_seconds=time.perf_counter() - start,
    )


def solve_matrix(
    solver: str,
    matrix: MatrixModel,
    options: SolveOptions,
    control: SolveControl,
) -> SolveResult:
    """With a time limit the solve runs in a guarded worker process (killed at the limit plus
    a grace period if it overruns); without one, in this process."""
    if options.time_limit is None:
        return get_solver(solver).solve(matrix, options, control)
    return solve_guarded(solver, matrix, options, control)


def run(
    request: PlanRequest,
    options: SolveOptions | None = None,
    solver: str = "highs",
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    validate_seconds: float = 0.0,
) -> dict[str, Any]:
    """Plan a validated request: build -> solve -> extract -> report.

    progress receives the solver's incumbent, bound and gap while it runs; should_stop, when
    it returns True, stops the solve and the plan keeps the best solution found so far.
    """
    options = options or SolveOptions()
    get_solver(solver)  # an unknown name fails here, before any work

    start = time.perf_counter()
    fingerprint = request_fingerprint(request)  # of the request as sent
    request, generated = expand_scenarios(request)
    data = network_data(request)
    model = build_network_plan(data)
    matrix = compile_pyomo(model)
    control = SolveControl(progress=progress, should_stop=should_stop)
    if request.previous_plan is not None:
        control.start = mip_start(model, matrix, request.previous_plan)
    build_seconds = time.perf_counter() - start

    result = solve_matrix(solver, matrix, options, control)

    start = time.perf_counter()
    status = plan_status(result)
    plan: dict[str, Any] = {
        "status": status,
        "message": "",
        "objective": None,
        "best_bound": result.best_bound,
        "gap": None,
        "solver": solver_section(result, options),
        "model": model_section(result),
        "timings": {},
        "request": {
            "name": request.name,
            "horizon_days": request.horizon_days,
            "currency": request.currency,
            "sha256": fingerprint,
        },
    }
    if result.has_solution:
        load_solution(model, matrix, result.x)
        plan.update(extract_plan(data, model))
        plan["objective"] = plan["costs"]["total"]
        plan["gap"] = relative_gap(plan["objective"], result.best_bound)
        plan["message"] = _success_message(status, plan["gap"], result.termination.value)
    else:
        plan.update(EMPTY_DECISIONS)
        plan["message"] = _failure_message(status, result.message)
        if status == "infeasible":
            plan["diagnosis"] = diagnose(data, solver, options)
    plan["uncertainty"] = generated
    plan["plan_hash"] = plan_hash(plan)
    if request.previous_plan is not None:
        plan["changes"] = plan_changes(request.previous_plan, plan)
    plan["timings"] = {
        "validate_seconds": round(validate_seconds, 6),
        "build_seconds": round(build_seconds, 6),
        "solve_seconds": round(result.seconds, 6),
        "extract_seconds": round(time.perf_counter() - start, 6),
    }
    return plan


def _success_message(status: str, gap: float | None, termination: str) -> str:
    if status == "optimal":
        return (
            f"proven optimal within relative gap {gap:.2e}"
            if gap and gap > 1e-9
            else "proven optimal"
        )
    gap_text = f"relative gap {gap:.2%}" if gap is not None else "no bound"
    return f"best plan found, not proven optimal: solver stopped on {termination}, {gap_text}"


def _failure_message(status: str, solver_message: str) -> str:
    if status == "infeasible":
        return "no plan meets every hard rule; see diagnosis"
    if status == "time_limit_no_solution":
        return "time limit reached before any plan was found; allow more time"
    return f"solver failed: {solver_message}"
