"""The plan checker accepts a valid hand-written plan and catches each way of breaking it.

The valid plan below was worked out by hand (numbers in the comments), not produced by the
checker or the model, so a checker that passes it and rejects every mutation cannot be vacuous.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from planner.checker import check_plan
from planner.schema import PlanRequest
from planner.validation import validate_request

REQUEST: dict[str, Any] = {
    "name": "checker-fixture",
    "horizon_days": 3,
    "warehouses": [
        {"id": "HOME", "capacity": 12, "holding_cost": 0.1},
        {"id": "HUB", "holding_cost": 0.2},
        {"id": "SLOW"},
    ],
    "suppliers": [
        {
            "id": "F",
            "deliver_to": ["HOME"],
            "skus": ["A"],
            "lead_days": 1,
            "unit_costs": {"A": 9},
            "capacity_per_day": 50,
            "capacity_windows": [{"start_day": 0, "end_day": 1, "capacity": 60}],
            "min_order": 10,
            "order_fixed_cost": 20,
        }
    ],
    "skus": [
        # penalty: policy has none -> price 30; salvage: 0.5 x unit_cost = 5
        {"id": "A", "unit_cost": 10, "price": 30},
        {"id": "B", "unit_cost": 4, "price": 10, "lost_sale_penalty": 12, "salvage_value": -1},
    ],
    "stock": [
        {"sku": "A", "warehouse": "HOME", "quantity": 5},
        {"sku": "B", "warehouse": "HUB", "quantity": 4},
        {"sku": "A", "warehouse": "SLOW", "quantity": 10},
    ],
    "in_transit": [{"sku": "B", "warehouse": "HOME", "quantity": 2, "arrival_day": 1}],
    "lanes": [
        {
            "from": "HOME",
            "to": "HUB",
            "mode": "truck",
            "lead_days": 1,
            "unit_cost": 1,
            "fixed_cost": 5,
            "capacity": 8,
        },
        {
            "id": "sea1",
            "from": "SLOW",
            "to": "HUB",
            "mode": "sea",
            "unit_cost": 0.5,
            "fixed_cost": 2,
        },
    ],
    "channels": [
        {
            "id": "WEB",
            "promise_days": 2,
            "fulfilment": [
                {"warehouse": "HOME", "delivery_days": 1, "unit_cost": 2},
                {"warehouse": "HUB", "delivery_days": 2, "unit_cost": 1},
                {"warehouse": "SLOW", "delivery_days": 5, "unit_cost": 0.5},
            ],
        }
    ],
    "scenarios": [
        {
            "name": "low",
            "probability": 0.25,
            "demand": [
                {"sku": "A", "channel": "WEB", "day": 1, "quantity": 6},
                {"sku": "B", "channel": "WEB", "day": 0, "end_day": 1, "quantity": 4},
            ],
        },
        {
            "name": "high",
            "probability": 0.75,
            "demand": [
                {"sku": "A", "channel": "WEB", "day": 1, "end_day": 2, "quantity": 12},
                {"sku": "B", "channel": "WEB", "day": 2, "quantity": 3},
            ],
        },
    ],
    "policy": {"salvage_fraction": 0.5},
}


def _alloc(s: str, k: str, w: str, t: int, q: float, unit: float) -> dict[str, Any]:
    return {
        "sku": k, "warehouse": w, "channel": "WEB", "scenario": s, "day": t, "quantity": q,
        "unit_cost": unit, "cost": q * unit,
    }  # fmt: skip


def _levels(k: str, w: str, **values: float) -> dict[str, Any]:
    row: dict[str, Any] = {"sku": k, "warehouse": w}
    for key in (
        "initial", "in_transit", "orders_in", "transfers_in", "transfers_out", "available",
        "expected_served", "expected_leftover",
    ):  # fmt: skip
        row[key] = values.get(key, 0.0)
    return row


# End-of-day stock, worked out by hand (A: HOME/HUB/SLOW, B: HOME/HUB), days 0..2:
#   low : A HOME 2,7,7  A HUB 0,7,7  A SLOW 10,6,6  B HOME 0,2,2  B HUB 2,0,0
#   high: A HOME 2,6,6  A HUB 0,7,1  A SLOW 10,6,6  B HOME 0,2,0  B HUB 4,4,3
# Holding: low  HOME (2+9+9) x 0.1 + HUB (2+7+7) x 0.2 = 2.0 + 3.2 = 5.2
#          high HOME (2+8+6) x 0.1 + HUB (4+11+4) x 0.2 = 1.6 + 3.8 = 5.4
# Salvage: low  -(20 x 5 + 2 x -1) = -98;  high -(13 x 5 + 3 x -1) = -62
# Fulfilment: low 10+2+2 = 14; high 12+6+4+1 = 23.  Lost: low 1 x 30 = 30; high 0.
# First stage: transfer_fixed 5+2, transfer 3+2, order_fixed 20, purchase 90 -> 122.
VALID_PLAN: dict[str, Any] = {
    "status": "optimal",
    "message": "hand-written",
    "objective": 84.6,
    "best_bound": 84.6,
    "gap": 0.0,
    "transfers": [
        {
            "sku": "A", "from": "HOME", "to": "HUB", "mode": "truck", "lane": "HOME-HUB-truck",
            "quantity": 3, "ship_day": 0, "arrive_day": 1, "unit_cost": 1, "cost": 3,
        },
        {
            "sku": "A", "from": "SLOW", "to": "HUB", "mode": "sea", "lane": "sea1",
            "quantity": 4, "ship_day": 1, "arrive_day": 1, "unit_cost": 0.5, "cost": 2,
        },
    ],
    "lane_uses": [
        {
            "lane": "HOME-HUB-truck", "from": "HOME", "to": "HUB", "mode": "truck",
            "ship_day": 0, "units": 3, "capacity": 8, "fixed_cost": 5,
        },
        {
            "lane": "sea1", "from": "SLOW", "to": "HUB", "mode": "sea", "ship_day": 1,
            "units": 4, "capacity": None, "fixed_cost": 2,
        },
    ],
    "orders": [
        {
            "supplier": "F", "sku": "A", "warehouse": "HOME", "quantity": 10, "order_day": 0,
            "arrive_day": 1, "unit_cost": 9, "cost": 90,
        }
    ],
    "order_days": [{"supplier": "F", "order_day": 0, "units": 10, "fixed_cost": 20}],
    "stock_levels": [
        _levels("A", "HOME", initial=5, orders_in=10, transfers_out=3, available=12,
                expected_served=5.75, expected_leftover=6.25),
        _levels("A", "HUB", transfers_in=7, available=7, expected_served=4.5,
                expected_leftover=2.5),
        _levels("A", "SLOW", initial=10, transfers_out=4, available=6, expected_leftover=6),
        _levels("B", "HOME", in_transit=2, available=2, expected_served=1.5,
                expected_leftover=0.5),
        _levels("B", "HUB", initial=4, available=4, expected_served=1.75,
                expected_leftover=2.25),
    ],
    "allocations": [
        _alloc("low", "A", "HOME", 1, 5, 2),
        _alloc("low", "B", "HUB", 0, 2, 1),
        _alloc("low", "B", "HUB", 1, 2, 1),
        _alloc("high", "A", "HOME", 1, 6, 2),
        _alloc("high", "A", "HUB", 2, 6, 1),
        _alloc("high", "B", "HOME", 2, 2, 2),
        _alloc("high", "B", "HUB", 2, 1, 1),
    ],
    "lost_sales": [
        {
            "sku": "A", "channel": "WEB", "scenario": "low", "day": 1, "quantity": 1,
            "unit_penalty": 30, "cost": 30,
        }
    ],
    "scenarios": [
        {"name": "low", "probability": 0.25, "demand": 10, "served": 9, "lost": 1,
         "fill_rate": 0.9, "cost": 73.2},
        {"name": "high", "probability": 0.75, "demand": 15, "served": 15, "lost": 0,
         "fill_rate": 1.0, "cost": 88.4},
    ],
    "costs": {
        "transfer_fixed": 7, "transfer": 5, "order_fixed": 20, "purchase": 90,
        "fulfilment": 20.75, "holding": 5.35, "lost_sales": 7.5, "salvage": -71, "total": 84.6,
    },
    "kpis": {
        "expected_demand": 13.75, "expected_served": 13.5, "expected_fill_rate": 13.5 / 13.75,
        "expected_lost_units": 0.25, "days_of_supply": 31 * 3 / 13.75, "transfer_units": 7,
        "order_units": 10,
    },
}  # fmt: skip


def request(**policy: Any) -> PlanRequest:
    data = copy.deepcopy(REQUEST)
    data["policy"].update(policy)
    return validate_request(data)


def plan() -> dict[str, Any]:
    return copy.deepcopy(VALID_PLAN)


def mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    p = plan()
    change(p)
    return p


def assert_caught(violations: list[str], *words: str) -> None:
    """Some violation mentions every one of ``words``."""
    assert violations, "the checker accepted a broken plan"
    assert any(all(w in v for w in words) for v in violations), (
        f"no violation mentions {words}: {violations}"
    )


def test_valid_plan_has_no_violations() -> None:
    assert check_plan(request(), plan()) == []


def test_checker_is_independent_of_model_and_solvers() -> None:
    code = (
        "import sys, planner.checker; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('pyomo', 'models', 'solvers') "
        "or m == 'planner.prepare']; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- stock -------------------------------------------------------------------------------------


def test_extra_allocation_drives_stock_negative() -> None:
    # low scenario: A at HUB ends day 2 with 7; serving 9 more there leaves -2
    def change(p: dict[str, Any]) -> None:
        p["allocations"].append(_alloc("low", "A", "HUB", 2, 9, 1))

    violations = check_plan(request(), mutated(change))
    assert_caught(violations, "negative stock", "sku A", "HUB", "day 2", "scenario low")
    assert_caught(violations, "flow not conserved", "scenario low", "day 2")


def test_shipping_stock_that_is_not_there_is_caught() -> None:
    def change(p: dict[str, Any]) -> None:
        t = p["transfers"][0]
        t["quantity"], t["cost"] = 8, 8  # HOME holds only 5 units of A on day 0

    assert_caught(check_plan(request(), mutated(change)), "negative stock", "HOME", "day 0")


def test_warehouse_capacity_exceeded() -> None:
    data = copy.deepcopy(REQUEST)
    data["warehouses"][0]["capacity"] = 8  # HOME holds 9 at the end of day 1 in scenario low
    violations = check_plan(validate_request(data), plan())
    assert_caught(violations, "warehouse HOME", "day 1", "scenario low", "capacity 8")


def test_stock_levels_must_match() -> None:
    def change(p: dict[str, Any]) -> None:
        p["stock_levels"][1]["expected_leftover"] = 3.0

    assert_caught(
        check_plan(request(), mutated(change)), "sku A", "warehouse HUB", "expected_leftover"
    )


def test_stock_levels_missing_entry() -> None:
    def change(p: dict[str, Any]) -> None:
        del p["stock_levels"][3]

    assert_caught(check_plan(request(), mutated(change)), "no entry", "sku B", "HOME")


# --- demand ------------------------------------------------------------------------------------


def test_allocation_from_slow_warehouse_breaks_promise() -> None:
    def change(p: dict[str, Any]) -> None:
        p["allocations"].append(_alloc("low", "A", "SLOW", 1, 1, 0.5))
        p["lost_sales"].clear()

    violations = check_plan(request(), mutated(change))
    assert_caught(violations, "promise broken", "SLOW", "channel WEB", "scenario low")


def test_lost_sale_under_serve_all_demand() -> None:
    violations = check_plan(request(serve_all_demand=True), plan())
    assert_caught(violations, "serve_all_demand", "sku A", "scenario low", "day 1")


def test_unrecorded_shortfall_breaks_flow_conservation() -> None:
    def change(p: dict[str, Any]) -> None:
        p["lost_sales"].clear()

    violations = check_plan(request(), mutated(change))
    assert_caught(violations, "flow not conserved", "scenario low", "sku A", "day 1")


def test_wrong_lost_sale_penalty() -> None:
    def change(p: dict[str, Any]) -> None:
        p["lost_sales"][0]["unit_penalty"] = 10  # A has no penalty: the price, 30, applies

    assert_caught(check_plan(request(), mutated(change)), "unit_penalty", "sku A")


def test_negative_allocation() -> None:
    def change(p: dict[str, Any]) -> None:
        p["allocations"][0].update(quantity=7, cost=14)
        p["allocations"].append(_alloc("low", "A", "HOME", 1, -1, 2))
        p["lost_sales"].clear()

    assert_caught(check_plan(request(), mutated(change)), "negative quantity", "HOME")


# --- transfers and lanes -------------------------------------------------------------------------


def test_transfer_on_missing_lane() -> None:
    def change(p: dict[str, Any]) -> None:
        p["transfers"][0].update({"lane": "HUB-HOME-truck", "from": "HUB", "to": "HOME"})

    assert_caught(check_plan(request(), mutated(change)), "no lane", "HUB-HOME-truck")


def test_transfer_mode_must_match_lane() -> None:
    def change(p: dict[str, Any]) -> None:
        p["transfers"][0]["mode"] = "air"

    assert_caught(check_plan(request(), mutated(change)), "mode", "HOME-HUB-truck", "'truck'")


def test_lane_capacity_exceeded() -> None:
    data = copy.deepcopy(REQUEST)
    data["lanes"][0]["capacity"] = 2  # the plan ships 3 units on day 0
    violations = check_plan(validate_request(data), plan())
    assert_caught(violations, "lane HOME-HUB-truck", "day 0", "over its capacity 2")


def test_lane_capacity_is_shared_by_skus() -> None:
    def change(p: dict[str, Any]) -> None:  # 3 A + 6 B = 9 > 8 on HOME-HUB-truck, day 0
        b = dict(p["transfers"][0], sku="B", quantity=6, cost=6)
        p["transfers"].append(b)
        p["lane_uses"][0]["units"] = 9

    assert_caught(check_plan(request(), mutated(change)), "HOME-HUB-truck", "over its capacity 8")


def test_wrong_arrive_day() -> None:
    def change(p: dict[str, Any]) -> None:
        p["transfers"][0]["arrive_day"] = 2

    violations = check_plan(request(), mutated(change))
    assert_caught(violations, "arrive_day 2", "lead 1", "sku A")


def test_transfer_arriving_after_horizon() -> None:
    def change(p: dict[str, Any]) -> None:
        t = p["transfers"][0]
        t["ship_day"], t["arrive_day"] = 2, 3
        p["lane_uses"][0]["ship_day"] = 2

    assert_caught(check_plan(request(), mutated(change)), "after the horizon")


def test_fractional_transfer() -> None:
    def change(p: dict[str, Any]) -> None:
        p["transfers"][0].update(quantity=2.5, cost=2.5)

    assert_caught(check_plan(request(), mutated(change)), "whole", "transfer #0")


def test_lane_use_missing() -> None:
    def change(p: dict[str, Any]) -> None:
        del p["lane_uses"][1]

    assert_caught(check_plan(request(), mutated(change)), "sea1", "no lane_uses entry")


def test_lane_use_without_shipment() -> None:
    def change(p: dict[str, Any]) -> None:
        p["lane_uses"].append(dict(p["lane_uses"][0], ship_day=1))

    assert_caught(check_plan(request(), mutated(change)), "HOME-HUB-truck", "no transfer ships")


# --- orders --------------------------------------------------------------------------------------


def test_order_to_warehouse_supplier_does_not_serve() -> None:
    def change(p: dict[str, Any]) -> None:
        p["orders"][0]["warehouse"] = "HUB"

    assert_caught(check_plan(request(), mutated(change)), "does not deliver to HUB")


def test_order_below_min_order() -> None:
    def change(p: dict[str, Any]) -> None:
        p["orders"][0].update(quantity=8, cost=72)
        p["order_days"][0]["units"] = 8

    assert_caught(check_plan(request(), mutated(change)), "supplier F", "min_order 10")


def test_order_capacity_window() -> None:
    data = copy.deepcopy(REQUEST)
    data["suppliers"][0]["capacity_windows"][0]["capacity"] = 9
    violations = check_plan(validate_request(data), plan())
    assert_caught(violations, "supplier F", "days 0..1", "window capacity 9")


def test_order_capacity_per_day() -> None:
    data = copy.deepcopy(REQUEST)
    data["suppliers"][0].update(capacity_per_day=9, min_order=0)
    assert_caught(check_plan(validate_request(data), plan()), "supplier F", "capacity_per_day")


def test_order_unit_cost_uses_supplier_price() -> None:
    def change(p: dict[str, Any]) -> None:
        p["orders"][0].update(unit_cost=10, cost=100)  # the sku's cost, not the supplier's 9

    assert_caught(check_plan(request(), mutated(change)), "unit_cost 10", "price 9")


def test_order_wrong_arrive_day() -> None:
    def change(p: dict[str, Any]) -> None:
        p["orders"][0]["arrive_day"] = 0

    assert_caught(check_plan(request(), mutated(change)), "order #0", "arrive_day 0", "lead 1")


def test_order_day_fixed_cost() -> None:
    def change(p: dict[str, Any]) -> None:
        p["order_days"][0]["fixed_cost"] = 0

    assert_caught(check_plan(request(), mutated(change)), "supplier F", "fixed_cost")


# --- costs, scenarios, KPIs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "line", ["transfer_fixed", "transfer", "order_fixed", "purchase", "fulfilment", "holding",
             "lost_sales", "salvage"],
)  # fmt: skip
def test_tampered_cost_line(line: str) -> None:
    def change(p: dict[str, Any]) -> None:
        p["costs"][line] += 1
        p["costs"]["total"] += 1
        p["objective"] += 1

    assert_caught(check_plan(request(), mutated(change)), f"costs.{line} ")


def test_total_not_sum_of_lines() -> None:
    def change(p: dict[str, Any]) -> None:
        p["costs"]["total"] += 1
        p["objective"] += 1

    assert_caught(check_plan(request(), mutated(change)), "costs.total", "sum of the cost lines")


def test_objective_differs_from_total() -> None:
    def change(p: dict[str, Any]) -> None:
        p["objective"] = 80.0

    assert_caught(check_plan(request(), mutated(change)), "objective 80.0", "costs.total")


def test_small_differences_are_within_tolerance() -> None:
    def change(p: dict[str, Any]) -> None:
        p["objective"] += 1e-8
        p["allocations"][0]["quantity"] += 1e-9

    assert check_plan(request(), mutated(change)) == []


def test_scenario_cost_tampered() -> None:
    def change(p: dict[str, Any]) -> None:
        p["scenarios"][0]["cost"] = 70.0

    violations = check_plan(request(), mutated(change))
    assert_caught(violations, "scenario low", "cost 70.0")
    assert_caught(violations, "sum of probability x scenario cost")


def test_fill_rate_tampered() -> None:
    def change(p: dict[str, Any]) -> None:
        p["scenarios"][0]["fill_rate"] = 1.0
        p["kpis"]["expected_fill_rate"] = 1.0

    violations = check_plan(request(), mutated(change))
    assert_caught(violations, "scenario low", "fill_rate")
    assert_caught(violations, "kpis.expected_fill_rate")


def test_missing_scenario() -> None:
    def change(p: dict[str, Any]) -> None:
        del p["scenarios"][1]

    assert_caught(check_plan(request(), mutated(change)), "scenarios list")


# --- statuses and shape --------------------------------------------------------------------------


def test_no_plan_status_must_have_no_decisions() -> None:
    def change(p: dict[str, Any]) -> None:
        p["status"] = "infeasible"

    violations = check_plan(request(), mutated(change))
    assert_caught(violations, "infeasible", "transfers")
    assert_caught(violations, "infeasible", "allocations")
    assert_caught(violations, "objective")


def test_empty_infeasible_plan_is_fine() -> None:
    empty = {"status": "infeasible", "objective": None, "transfers": [], "orders": []}
    assert check_plan(request(), empty) == []


def test_unknown_status() -> None:
    assert_caught(check_plan(request(), {"status": "done"}), "unknown status")


def test_missing_field_is_reported_not_raised() -> None:
    def change(p: dict[str, Any]) -> None:
        del p["transfers"][0]["arrive_day"]
        del p["costs"]["holding"]

    violations = check_plan(request(), mutated(change))
    assert_caught(violations, "transfers[0]", "arrive_day")
    assert_caught(violations, "costs", "holding")


# --- every field the contract defines is checked -------------------------------------------------

UNCHECKED = {("message",), ("best_bound",), ("gap",)}


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [leaf for key, value in node.items() for leaf in _leaves(value, (*path, key))]
    if isinstance(node, list):
        return [leaf for i, value in enumerate(node) for leaf in _leaves(value, (*path, i))]
    return [] if path in UNCHECKED or node is None or path == ("status",) else [path]


@pytest.mark.parametrize("path", _leaves(VALID_PLAN), ids=lambda p: ".".join(map(str, p)))
def test_every_field_is_checked(path: tuple[Any, ...]) -> None:
    """Changing any single value of the valid plan (a number by one, a name to another) is
    caught: no field of the contract goes unchecked."""
    p = plan()
    parent = p
    for key in path[:-1]:
        parent = parent[key]
    value = parent[path[-1]]
    parent[path[-1]] = value + 1 if isinstance(value, int | float) else f"{value}-x"
    assert check_plan(request(), p), f"changing {path} from {value!r} went unnoticed"
