"""Solve controls that hold: time limits enforced from outside, progress, interruption,
determinism, warm starts with a plan diff."""

from __future__ import annotations

import time

import pytest
from conftest import solve, two_warehouse_request

from models.network_plan import build_network_plan
from planner.pipeline import run
from planner.prepare import network_data
from planner.synthetic import synthetic_request
from planner.validation import validate_request
from solvers import Progress, SolveControl, SolveOptions
from solvers.guard import solve_guarded
from solvers.matrix import compile_pyomo

# 6 SKUs x 3 warehouses x 2 channels x 2 scenarios over 14 days (854 integer variables):
# HiGHS finds a plan within a second but is far from proving it optimal after 8 s (gap
# about 50% on 2 cores): daily lane bookings make it a hard lot-sizing problem.
HARD = validate_request(synthetic_request(6, 3, 2, 2, seed=3))


def test_time_limit_returns_in_time_with_the_best_plan() -> None:
    started = time.perf_counter()
    plan = run(HARD, SolveOptions(time_limit=2))
    elapsed = time.perf_counter() - started
    assert elapsed < 7 + plan["timings"]["build_seconds"]
    assert plan["solver"]["termination"] == "time_limit"
    # "a feasible plan when one was found": on a loaded machine the 2 s may pass before the
    # first incumbent; then the status says so instead of inventing a plan.
    assert plan["status"] in ("feasible", "time_limit_no_solution")
    if plan["status"] == "feasible":
        assert plan["gap"] > 0 and plan["best_bound"] < plan["objective"]
        assert plan["costs"]["total"] == plan["objective"]
    else:
        assert plan["objective"] is None and plan["transfers"] == []


def test_a_solver_that_overruns_is_stopped_from_outside_with_its_incumbent() -> None:
    # The solver is given 60 s but the guard kills it after 3 s: the result is the best
    # incumbent the worker relayed before it died.
    matrix = compile_pyomo(build_network_plan(network_data(HARD)))
    incumbents: list[float] = []
    started = time.perf_counter()
    result = solve_guarded(
        "highs",
        matrix,
        SolveOptions(time_limit=60),
        SolveControl(on_incumbent=lambda obj, x: incumbents.append(obj)),
        kill_after=5,
    )
    assert time.perf_counter() - started < 8
    assert result.termination.value == "time_limit"
    assert result.message.startswith("stopped from outside")
    assert result.has_solution and result.objective == min(incumbents)
    assert result.x is not None and result.x.shape == (matrix.num_cols,)


def test_progress_reports_incumbent_bound_and_gap() -> None:
    seen: list[Progress] = []
    run(HARD, SolveOptions(time_limit=5), progress=seen.append)
    assert seen, "no progress reported"
    with_incumbent = [p for p in seen if p.incumbent is not None]
    assert with_incumbent
    last = with_incumbent[-1]
    assert last.bound is not None and last.bound <= last.incumbent + 1e-6
    assert last.gap is not None and 0 <= last.gap <= 1


def test_should_stop_interrupts_and_keeps_the_best_plan() -> None:
    # Stop once the solver has reported a plan (and at least 1 s has passed).
    started = time.perf_counter()
    found: list[float] = []

    def incumbent_seen(p: Progress) -> None:
        if p.incumbent is not None:
            found.append(time.perf_counter())

    plan = run(
        HARD,
        SolveOptions(time_limit=60),
        progress=incumbent_seen,
        should_stop=lambda: bool(found) and time.perf_counter() > max(found[0], started + 1),
    )
    assert found and time.perf_counter() - found[0] < 15
    assert plan["status"] == "feasible"
    assert plan["solver"]["termination"] == "interrupted"
    assert plan["transfers"]


def test_same_input_one_thread_same_seed_same_plan() -> None:
    request = validate_request(synthetic_request(3, 2, 2, 2, seed=1))
    options = SolveOptions(time_limit=120, threads=1, seed=11)
    first, second = run(request, options), run(request, options)
    assert first["status"] == "optimal"
    assert first["plan_hash"] == second["plan_hash"]


def test_plan_hash_changes_when_a_decision_changes() -> None:
    plan = solve(two_warehouse_request())
    changed = dict(plan, transfers=[dict(plan["transfers"][0], quantity=5)])
    from planner.diff import plan_hash

    assert plan_hash(plan) == plan["plan_hash"] != plan_hash(changed)


def test_warm_start_of_an_unchanged_request_reports_no_changes() -> None:
    raw = two_warehouse_request()
    plan = solve(raw)
    again = solve(dict(raw, previous_plan=plan))  # a whole plan is accepted as previous_plan
    assert again["changes"]["unchanged"] is True
    assert again["objective"] == pytest.approx(plan["objective"])


def test_warm_start_after_a_change_lists_what_changed() -> None:
    raw = two_warehouse_request()
    plan = solve(raw)
    raw["scenarios"][0]["demand"][0]["quantity"] = 9
    again = solve(dict(raw, previous_plan=plan))
    (resized,) = again["changes"]["transfers"]["resized"]
    assert (resized["before"], resized["after"]) == (6, 9)
    assert again["changes"]["unchanged"] is False


def test_previous_plan_with_an_unknown_lane_is_rejected() -> None:
    from planner.validation import RequestError

    raw = two_warehouse_request(
        previous_plan={"transfers": [{"sku": "x", "lane": "nope", "ship_day": 0, "quantity": 1}]}
    )
    with pytest.raises(RequestError) as info:
        validate_request(raw)
    assert info.value.errors[0].path == "$.previous_plan.transfers[0].lane"
