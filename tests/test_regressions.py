"""Cases a review found wrong, each solved by hand; they stay fixed."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from conftest import solve

import planner.pipeline as pipeline
from planner.evaluate import evaluate
from planner.validation import validate_request
from solvers import SolutionKind, SolveOptions, Termination


def split_by_scenario(**policy: Any) -> dict[str, Any]:
    # Supplier p delivers only to A (lead 1: one order day). Scenario s1 needs 100 units at
    # A's channel, s2 100 at B's (lane A -> B, lead 0, $0.1). Stock is bought before demand
    # is known, so the optimum buys 200 and ships 100 to B: 200 * 1 + 100 * 0.1 = 210.
    # An order cap of the largest single-scenario demand (100) once forced 5,100.
    return {
        "horizon_days": 2,
        "warehouses": [{"id": "A"}, {"id": "B"}],
        "skus": [{"id": "k", "unit_cost": 1, "price": 100}],
        "suppliers": [{"id": "p", "deliver_to": ["A"], "lead_days": 1}],
        "lanes": [{"from": "A", "to": "B", "lead_days": 0, "unit_cost": 0.1}],
        "channels": [
            {"id": "x", "promise_days": 0, "fulfilment": [{"warehouse": "A", "delivery_days": 0}]},
            {"id": "y", "promise_days": 0, "fulfilment": [{"warehouse": "B", "delivery_days": 0}]},
        ],
        "scenarios": [
            {
                "name": "s1",
                "probability": 0.5,
                "demand": [{"sku": "k", "channel": "x", "day": 1, "quantity": 100}],
            },
            {
                "name": "s2",
                "probability": 0.5,
                "demand": [{"sku": "k", "channel": "y", "day": 1, "quantity": 100}],
            },
        ],
        "policy": policy,
    }


@pytest.mark.parametrize("serve_all", [False, True])
def test_orders_may_exceed_any_single_scenario_demand(serve_all: bool) -> None:
    plan = solve(split_by_scenario(serve_all_demand=serve_all))
    assert plan["status"] == "optimal"
    assert plan["objective"] == pytest.approx(210)


def test_fractional_demand_gets_a_whole_extra_unit() -> None:
    # 10.5 units wanted, price 100, cost 1: order 11 (cost 11) rather than lose half a unit.
    raw = split_by_scenario()
    raw["scenarios"] = [
        {
            "name": "s",
            "probability": 1,
            "demand": [{"sku": "k", "channel": "x", "day": 1, "quantity": 10.5}],
        }
    ]
    plan = solve(raw)
    assert sum(o["quantity"] for o in plan["orders"]) == 11
    assert plan["objective"] == pytest.approx(11)


def fractional_daily_transfers() -> dict[str, Any]:
    # 100 units over days 0-2 at B (holding $1/unit-day), every unit a must; the relaxed
    # answer ships 33.33 a day, whole units ship 34 + 33 + 33 (one unit held a night:
    # 100 * 0.1 + 1 = 11).
    return {
        "horizon_days": 3,
        "warehouses": [{"id": "A"}, {"id": "B", "holding_cost": 1}],
        "skus": [{"id": "k", "unit_cost": 1, "price": 100}],
        "stock": [{"sku": "k", "warehouse": "A", "quantity": 200}],
        "lanes": [{"from": "A", "to": "B", "lead_days": 0, "unit_cost": 0.1}],
        "channels": [
            {"id": "c", "promise_days": 0, "fulfilment": [{"warehouse": "B", "delivery_days": 0}]}
        ],
        "scenarios": [
            {
                "name": "s",
                "probability": 1,
                "demand": [{"sku": "k", "channel": "c", "day": 0, "end_day": 2, "quantity": 100}],
            }
        ],
        "policy": {"serve_all_demand": True},
    }


def test_whole_unit_phase_runs_when_the_relaxed_answer_is_fractional() -> None:
    plan = solve(fractional_daily_transfers())
    assert plan["status"] == "optimal"
    assert plan["objective"] == pytest.approx(11)
    phases = plan["solver"]["phases"]
    # relaxed -> quick repair with the binaries fixed (11 is not within the exact gap of the
    # relaxed 10.x bound) -> the whole-unit search
    assert [p["whole_units"] for p in phases] == [False, True, True]
    assert phases[0]["whole_units_found"] is False
    assert phases[1]["binaries_fixed"] is True


def test_a_stop_after_the_relaxed_phase_still_gives_a_whole_unit_plan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    original = pipeline._solve_phase

    def counted(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        calls.append(1)
        return result

    monkeypatch.setattr(pipeline, "_solve_phase", counted)
    plan = pipeline.run(
        validate_request(fractional_daily_transfers()), should_stop=lambda: bool(calls)
    )
    assert plan["status"] == "feasible"
    assert all(isinstance(x["quantity"], int) for x in plan["transfers"])
    assert sum(x["quantity"] for x in plan["transfers"]) >= 100
    assert plan["best_bound"] <= plan["objective"]


def test_rule_of_thumb_does_not_ship_stock_still_in_transit() -> None:
    # 100 units arrive at hub H on day 2; the rule of thumb must not ship them on day 0.
    raw = {
        "horizon_days": 4,
        "warehouses": [{"id": "H"}, {"id": "B"}],
        "skus": [{"id": "k", "unit_cost": 1, "price": 10}],
        "in_transit": [{"sku": "k", "warehouse": "H", "quantity": 100, "arrival_day": 2}],
        "lanes": [{"from": "H", "to": "B", "lead_days": 0, "unit_cost": 0.1}],
        "channels": [
            {"id": "c", "promise_days": 0, "fulfilment": [{"warehouse": "B", "delivery_days": 0}]}
        ],
        "scenarios": [
            {
                "name": "s",
                "probability": 1,
                "demand": [{"sku": "k", "channel": "c", "day": 3, "quantity": 50}],
            }
        ],
    }
    report = evaluate(validate_request(raw), solve(raw), samples=5, ws_samples=2)
    assert report["rule_of_thumb"]["expected_cost"] >= report["optimized"]["expected_cost"] - 1e-6


def test_diagnosis_prefers_naming_a_late_warehouse_over_dropping_demand() -> None:
    # The only stock delivers in 3 days against a 1-day promise: the diagnosis names the
    # promise and the warehouse, not "cannot be served".
    raw = {
        "horizon_days": 2,
        "warehouses": [{"id": "A"}],
        "skus": [{"id": "k", "unit_cost": 1, "price": 10}],
        "stock": [{"sku": "k", "warehouse": "A", "quantity": 100}],
        "channels": [
            {"id": "c", "promise_days": 1, "fulfilment": [{"warehouse": "A", "delivery_days": 3}]}
        ],
        "scenarios": [
            {
                "name": "s",
                "probability": 1,
                "demand": [{"sku": "k", "channel": "c", "day": 1, "quantity": 50}],
            }
        ],
        "policy": {"serve_all_demand": True},
    }
    (finding,) = solve(raw)["diagnosis"]["findings"]
    assert finding["rule"] == "promise_respected" and finding["warehouse"] == "A"
    assert finding["units"] == pytest.approx(50)


def test_the_quick_repair_leaves_half_the_time_left_to_the_whole_unit_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A 10 s limit: the relaxed phase may use 8 s, the repair then at most half of what is
    # left (<= 5 s); it had all of it, and the phases ran past the limit (480 + 120 + 60 s of
    # a 600 s limit at 100x5x4x3).
    limits: list[float | None] = []
    original = pipeline._fixed_binaries_in_whole_units

    def recorded(data: Any, solver: str, decisions: Any, options: Any, build: Any = None) -> Any:
        limits.append(options.time_limit)
        return original(data, solver, decisions, options, build)

    monkeypatch.setattr(pipeline, "_fixed_binaries_in_whole_units", recorded)
    plan = pipeline.run(validate_request(fractional_daily_transfers()), SolveOptions(time_limit=10))
    assert plan["objective"] == pytest.approx(11)
    assert len(limits) == 1 and limits[0] is not None and 0 < limits[0] <= 5.0


def test_a_whole_unit_search_that_finds_nothing_returns_the_repair_without_solving_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The whole-unit search is made to find nothing: the plan is the repair's (11, phase 2),
    # reported feasible; the binaries-fixed model is not solved a second time.
    repairs: list[int] = []
    original_repair = pipeline._fixed_binaries_in_whole_units
    original_phase = pipeline._solve_phase

    def counted(*args: Any, **kwargs: Any) -> Any:
        repairs.append(1)
        return original_repair(*args, **kwargs)

    def nothing_in_whole_units(*args: Any, **kwargs: Any) -> Any:
        built, result = original_phase(*args, **kwargs)
        if args[5]:  # whole_units
            result = dataclasses.replace(
                result, termination=Termination.time_limit, solution=SolutionKind.none, x=None
            )
        return built, result

    monkeypatch.setattr(pipeline, "_fixed_binaries_in_whole_units", counted)
    monkeypatch.setattr(pipeline, "_solve_phase", nothing_in_whole_units)
    plan = pipeline.run(validate_request(fractional_daily_transfers()))
    assert plan["status"] == "feasible"
    assert plan["objective"] == pytest.approx(11)
    assert repairs == [1]
