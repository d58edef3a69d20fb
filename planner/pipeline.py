"""The one pipeline every entry point calls: validate -> build -> solve -> extract -> report.

No Pyomo object leaves this module: callers get the plan as a JSON-ready dict.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from models.data import NetworkData
from models.network_plan import build_network_plan
from planner.diagnosis import quick_diagnosis
from planner.plan import extract_plan, model_section, plan_status, relative_gap, solver_section
from planner.prepare import network_data
from planner.schema import PlanRequest
from planner.validation import validate_request
from solvers import SolveOptions, get_solver
from solvers.matrix import compile_pyomo, load_solution

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
    raw: Any, options: SolveOptions | None = None, solver: str = "highs"
) -> dict[str, Any]:
    """Validate untrusted JSON (raises RequestError) and plan it."""
    start = time.perf_counter()
    request = validate_request(raw)
    return run(request, options, solver, validate_seconds=time.perf_counter() - start)


def run(
    request: PlanRequest,
    options: SolveOptions | None = None,
    solver: str = "highs",
    validate_seconds: float = 0.0,
) -> dict[str, Any]:
    """Plan a validated request."""
    options = options or SolveOptions()
    backend = get_solver(solver)

    start = time.perf_counter()
    data = network_data(request)
    model = build_network_plan(data)
    matrix = compile_pyomo(model)
    build_seconds = time.perf_counter() - start

    result = backend.solve(matrix, options)

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
            "sha256": request_fingerprint(request),
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
        plan["message"] = _failure_message(status, result.message, data)
        if status == "infeasible":
            plan["diagnosis"] = quick_diagnosis(data)
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


def _failure_message(status: str, solver_message: str, data: NetworkData) -> str:
    if status == "infeasible":
        return "no plan meets every hard rule; see diagnosis"
    if status == "time_limit_no_solution":
        return "time limit reached before any plan was found; allow more time"
    return f"solver failed: {solver_message}"
