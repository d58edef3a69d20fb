"""The one pipeline every entry point calls: validate -> build -> solve -> extract -> report.

No Pyomo object leaves this module: callers get the plan as a JSON-ready dict.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
from pyomo.common.errors import InfeasibleConstraintException

from models.data import NetworkData
from planner.build import BuiltModel, Fixed, build_model, index_keys
from planner.diagnosis import diagnose
from planner.diff import plan_changes, plan_hash
from planner.plan import extract_plan, model_section, plan_status, relative_gap, solver_section
from planner.prepare import network_data
from planner.promotion import promotion_sections
from planner.schema import PlanRequest, PreviousPlan
from planner.uncertainty import expand_scenarios
from planner.validation import validate_request
from planner.warm_start import first_stage_of, mip_start, previous_fixings
from solvers import (
    Progress,
    SolutionKind,
    SolveControl,
    SolveOptions,
    SolveResult,
    Termination,
    get_solver,
)
from solvers.guard import solve_guarded
from solvers.matrix import MatrixModel

EMPTY_DECISIONS: dict[str, Any] = {
    "transfers": [],
    "lane_uses": [],
    "orders": [],
    "order_days": [],
    "stock_levels": [],
    "allocations": [],
    "lost_sales": [],
    "order_shipments": [],
    "substitutions": [],
    "presales": [],
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
    a grace period if it overruns); without one, or for a small model, in this process.

    A small model's LPs take milliseconds, so the solver's own time limit holds and the
    worker's start (0.3-0.4 s, most of a live replan's latency) buys nothing."""
    if options.time_limit is None or matrix.nonzeros <= IN_PROCESS_NONZEROS:
        return get_solver(solver).solve(matrix, options, control)
    return solve_guarded(solver, matrix, options, control)


IN_PROCESS_NONZEROS = 20_000  # the live show has ~10,000; synthetic 100x5x4x3 ~460,000


WHOLE_UNIT_TOLERANCE = 1e-6
DEFAULT_MIP_GAP = 1e-4  # what HiGHS (and our SCIP setup) stop at when no gap is asked for
FIRST_PHASE_SHARE = 0.8  # of the time limit, when the whole-unit phase may have to follow


def solve_in_whole_units(
    data: NetworkData,
    solver: str,
    options: SolveOptions,
    control: SolveControl,
    previous: PreviousPlan | None,
    build: str | None = None,
) -> tuple[BuiltModel, SolveResult, list[dict[str, Any]]]:
    """Solve with transfer and order quantities continuous first; keep that answer when every
    quantity is whole (it is then optimal for the whole-unit model too, and the relaxation's
    bound is valid for it), else solve the whole-unit model from the rounded answer.

    Lane-use and order-placement binaries make the model hard; integer quantities on top
    made HiGHS 3-15x slower on the seed instances, whose optimal quantities come out whole
    anyway (integral stock and demand on network-like flows).
    """
    phases: list[dict[str, Any]] = []
    started = time.perf_counter()
    relaxed_options = options
    if options.time_limit is not None:
        relaxed_options = dataclasses.replace(
            options, time_limit=options.time_limit * FIRST_PHASE_SHARE
        )
    built, result = _solve_phase(
        data, solver, relaxed_options, control, previous, False, phases, build=build
    )
    quantities = built.family_columns(("ship", "order"))
    whole = result.has_solution and bool(
        np.all(
            np.abs(result.x[quantities] - np.round(result.x[quantities])) <= WHOLE_UNIT_TOLERANCE
        )
    )
    phases[-1]["whole_units_found"] = whole
    stop_asked = control.should_stop is not None and control.should_stop()
    if whole or not result.has_solution:
        return built, result, phases

    remaining = None
    if options.time_limit is not None:
        remaining = max(
            options.time_limit - (time.perf_counter() - started),
            options.time_limit * (1 - FIRST_PHASE_SHARE),
        )
    # A MIP start: the relaxed answer's binaries and its quantities rounded down; the solver
    # repairs or completes it.
    values = np.where(built.matrix.integer, result.x, np.nan)
    values[quantities] = np.floor(result.x[quantities] + WHOLE_UNIT_TOLERANCE)
    keys = built.column_keys()
    start_values = dict(zip(keys, values.tolist(), strict=True))
    decisions: dict[str, dict[Any, float]] = {"use": {}, "place": {}}
    for (name, index), x in zip(keys, result.x.tolist(), strict=True):
        if name in decisions:
            decisions[name][index] = round(x)
    if stop_asked:  # no time for a whole-unit search: settle the relaxed answer's decisions
        settle_options = dataclasses.replace(
            options, time_limit=SETTLE_SECONDS if options.time_limit is None else remaining
        )
        settled = _settle(
            data, solver, decisions, result, Termination.interrupted, settle_options, build
        )
        return (*settled, phases)
    # First the quick repair: the relaxed answer's lane-use and order-day decisions fixed and
    # its quantities made whole. Its cost is within the requested gap of the relaxed bound
    # (itself a bound of the whole-unit model) more often than not: then it is optimal within
    # that gap and the whole-unit search is skipped; else it is that search's MIP start.
    started_settle = time.perf_counter()
    # at most half of what is left: the whole-unit search after it keeps the other half
    repair_limit = None if remaining is None else remaining / 2
    fixed_built, fixed = _fixed_binaries_in_whole_units(
        data, solver, decisions, dataclasses.replace(options, time_limit=repair_limit), build
    )
    phases.append(
        {
            "whole_units": True,
            "binaries_fixed": True,
            "termination": fixed.termination.value,
            "objective": fixed.objective,
            "best_bound": result.best_bound,
            "seconds": round(fixed.seconds, 6),
            "build_seconds": round(time.perf_counter() - started_settle - fixed.seconds, 6),
            "build": fixed_built.kind,
        }
    )
    target_gap = DEFAULT_MIP_GAP if options.mip_gap is None else options.mip_gap
    gap = relative_gap(fixed.objective, result.best_bound) if fixed.has_solution else None
    if gap is not None and gap <= target_gap:
        seconds = result.seconds + fixed.seconds
        return (
            fixed_built,
            _repaired(fixed, result, Termination.optimal, SolutionKind.optimal, seconds),
            phases,
        )
    if options.time_limit is not None:
        remaining = max(
            options.time_limit - (time.perf_counter() - started),
            options.time_limit * (1 - FIRST_PHASE_SHARE) / 2,
        )
    if fixed.has_solution:
        start_values = dict(zip(fixed_built.column_keys(), fixed.x.tolist(), strict=True))
        start_values.update(fixed_built.fixed_values())
    whole_built, whole_result = _solve_phase(
        data,
        solver,
        dataclasses.replace(options, time_limit=remaining),
        control,
        previous,
        True,
        phases,
        start_values,
        build,
    )
    if whole_result.has_solution:
        bounds = [b for b in (result.best_bound, whole_result.best_bound) if b is not None]
        whole_result = dataclasses.replace(
            whole_result,
            best_bound=max(bounds) if bounds else None,
            seconds=result.seconds + fixed.seconds + whole_result.seconds,
        )
        return whole_built, whole_result, phases
    if whole_result.termination is Termination.infeasible or not fixed.has_solution:
        # the repair solved the model _settle would solve again, and found nothing in its share
        return whole_built, whole_result, phases
    # the whole-unit search found nothing better: the repair's plan, as _settle would give
    seconds = result.seconds + fixed.seconds + whole_result.seconds
    return (
        fixed_built,
        _repaired(fixed, result, whole_result.termination, SolutionKind.feasible, seconds),
        phases,
    )


SETTLE_SECONDS = 30.0


def _settle(
    data: NetworkData,
    solver: str,
    decisions: Fixed,
    relaxed: SolveResult,
    termination: Termination,
    options: SolveOptions,
    build: str | None = None,
) -> tuple[BuiltModel, SolveResult]:
    """Whole units for the relaxed answer's lane-use and order-placement decisions: those
    binaries fixed, quantities re-optimised in whole units (a much smaller problem). Used when
    the whole-unit search was stopped or found nothing; the relaxed bound stays valid."""
    built, settled = _fixed_binaries_in_whole_units(data, solver, decisions, options, build)
    seconds = relaxed.seconds + settled.seconds
    if not settled.has_solution:
        return (
            built,
            dataclasses.replace(
                relaxed,
                termination=termination,
                solution=SolutionKind.none,
                x=None,
                seconds=seconds,
            ),
        )
    return built, _repaired(settled, relaxed, termination, SolutionKind.feasible, seconds)


def _repaired(
    repair: SolveResult,
    relaxed: SolveResult,
    termination: Termination,
    solution: SolutionKind,
    seconds: float,
) -> SolveResult:
    """The whole-unit repair's answer as the plan's result: the relaxed phase's bound (a bound
    of the whole-unit model too), the termination and solution kind it is reported with, and
    the seconds of every phase behind it."""
    return dataclasses.replace(
        repair,
        termination=termination,
        solution=solution,
        best_bound=relaxed.best_bound,
        seconds=seconds,
    )


def _fixed_binaries_in_whole_units(
    data: NetworkData,
    solver: str,
    decisions: Fixed,
    options: SolveOptions,
    build: str | None = None,
) -> tuple[BuiltModel, SolveResult]:
    """The whole-unit model with lane-use and order-placement binaries fixed to ``decisions``
    (family -> index -> 0 or 1)."""
    built = build_model(data, whole_units=True, fixed=decisions, build=build)
    return built, solve_matrix(solver, built.matrix, options, SolveControl())


def keep_previous_if_still_optimal(
    data: NetworkData,
    solver: str,
    previous: PreviousPlan,
    found: SolveResult,
    build: str | None = None,
) -> tuple[BuiltModel, SolveResult] | None:
    """The previous plan, exactly, when it is still feasible and costs no more than the plan
    just found: planners should not see churn between equally good plans.

    Its transfers, orders and allocations are fixed (lost sales and stock follow from them);
    if that solves and its cost is within a hair of the new optimum, it is returned with the
    new solve's bound and termination."""
    ships, orders = first_stage_of(previous)
    serves: dict[tuple[str, str, str, str, int], float] = defaultdict(float)
    for a in previous.allocations:
        serves[a.scenario, a.sku, a.warehouse, a.channel, a.day] += a.quantity
    keys = index_keys(data)
    known = set(keys("ship")) | set(keys("order")) | set(keys("serve"))
    if any(key not in known for key in (*ships, *orders, *serves)):
        return None  # the previous plan does not fit this request any more
    fixed = previous_fixings(keys, data, previous)
    if previous.allocations:
        fixed["serve"] = {index: serves.get(index, 0.0) for index in keys("serve")}
    try:
        built = build_model(data, whole_units=True, fixed=fixed, build=build)
    except InfeasibleConstraintException:  # a rule the fixed values alone already break
        return None
    replayed = get_solver(solver).solve(built.matrix, SolveOptions(time_limit=None))
    if not replayed.has_solution or replayed.objective is None or found.objective is None:
        return None
    if replayed.objective > found.objective + KEEP_TOLERANCE * max(1.0, abs(found.objective)):
        return None
    return (
        built,
        dataclasses.replace(
            replayed,
            termination=found.termination,
            solution=found.solution,
            best_bound=found.best_bound,
            seconds=found.seconds + replayed.seconds,
            size=found.size,
        ),
    )


KEEP_TOLERANCE = 1e-9


def _solve_phase(
    data: NetworkData,
    solver: str,
    options: SolveOptions,
    control: SolveControl,
    previous: PreviousPlan | None,
    whole_units: bool,
    phases: list[dict[str, Any]],
    start_values: dict[tuple[str, Any], float] | None = None,
    build: str | None = None,
) -> tuple[BuiltModel, SolveResult]:
    started = time.perf_counter()
    built = build_model(data, whole_units=whole_units, build=build)
    phase_control = dataclasses.replace(control, start=None)
    if start_values is not None:  # matched by (family, index): columns may be ordered otherwise
        phase_control.start = np.array(
            [start_values.get(key, np.nan) for key in built.column_keys()], dtype=float
        )
    elif previous is not None:
        phase_control.start = mip_start(built, data, previous)
    build_seconds = time.perf_counter() - started
    result = solve_matrix(solver, built.matrix, options, phase_control)
    phases.append(
        {
            "whole_units": whole_units,
            "termination": result.termination.value,
            "objective": result.objective,
            "best_bound": result.best_bound,
            "seconds": round(result.seconds, 6),
            "build_seconds": round(build_seconds, 6),
            "build": built.kind,
        }
    )
    return built, result


def run(
    request: PlanRequest,
    options: SolveOptions | None = None,
    solver: str = "highs",
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    validate_seconds: float = 0.0,
    build: str | None = None,
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
    build_seconds = time.perf_counter() - start
    control = SolveControl(progress=progress, should_stop=should_stop)
    built, result, phases = solve_in_whole_units(
        data, solver, options, control, request.previous_plan, build
    )
    build_seconds += sum(p["build_seconds"] for p in phases)
    kept_previous = False
    if request.previous_plan is not None and result.has_solution:
        kept = keep_previous_if_still_optimal(data, solver, request.previous_plan, result, build)
        if kept is not None:
            built, result = kept
            kept_previous = True

    start = time.perf_counter()
    status = plan_status(result)
    plan: dict[str, Any] = {
        "status": status,
        "message": "",
        "objective": None,
        "best_bound": result.best_bound,
        "gap": None,
        "solver": solver_section(result, options) | {"phases": phases},
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
        model = built.solution(result.x)
        plan.update(extract_plan(data, model))
        if request.event is not None:
            plan.update(promotion_sections(request, data, model, plan))
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
        plan["changes"]["kept_previous_plan"] = kept_previous
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
