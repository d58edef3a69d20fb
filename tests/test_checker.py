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

    assert_caught(check_plan(request(), mutated(change)), "HOME-HUB-truck", "nothing ships")


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


# --- promotion events: substitutions, presales and the event rules -------------------------------
# Valid plans here are solved from the request builders of test_event_rules.py; each mutation
# or stricter request is worked out by hand in its comment.

from conftest import solve  # noqa: E402
from test_event_rules import demand, quiet_event, shop, two_warehouses  # noqa: E402

from planner.checker import build_facts  # noqa: E402


def solved(raw: dict[str, Any]) -> dict[str, Any]:
    out = solve(raw)
    assert out["status"] == "optimal", out["message"]
    return out


# 100 units of p at W; presale orders 30, live 100; locks up to 50% -> presale 30, live 70.
LOCKS = shop(
    [demand("p", "presale", 30), demand("p", "live", 100)],
    {"p": 100},
    event=quiet_event(presale={"max_lock_share": 0.5}),
)
# 100 units of b + 50 in transit on day 3, live wants 130 on day 1, 10% buffer: 90 served
# from stock on day 1, 40 presold from the day-3 batch (3 + 2 days - 1 = 4 <= 7 days).
SWITCH = shop(
    [demand("b", "live", 130)],
    {"b": 100},
    in_transit=[{"sku": "b", "warehouse": "W", "quantity": 50, "arrival_day": 3}],
    event=quiet_event(emergency_buffer_share=0.1, presale={"max_lock_share": 0}),
)
# x has no stock, 10 live orders; y (20 units) may take half of x's demand: 5 + 5 lost.
SUBSTITUTE = shop(
    [demand("x", "live", 10)],
    {"x": 0, "y": 20},
    policy={"substitutes": [{"sku": "x", "substitute": "y", "share": 0.5}]},
)
# 100 units, marketplace orders 100, 60% live pool: the marketplace gets 40.
POOL = shop([demand("x", "market", 100)], {"x": 100}, event=quiet_event(live_pool_share=0.6))
# 100 units, live orders 100, 10% emergency buffer: 90 sell.
BUFFER = shop([demand("x", "live", 100)], {"x": 100}, event=quiet_event(emergency_buffer_share=0.1))
# 5 units, live orders 10 with a 25% live priority: 5 lost at 20 + 0.25 x 20 = 25 each.
PRIORITY = shop([demand("x", "live", 10)], {"x": 5}, event=quiet_event(live_priority_share=0.25))
# 14 days, 10 live orders a day, 150 units: without an event all 140 sell.
COVER = shop(
    [{"sku": "x", "channel": "live", "day": 0, "end_day": 13, "quantity": 140}],
    {"x": 150},
    horizon_days=14,
)
# no stock; a factory (1000 a day, 1-day lead); live orders 900 on day 1: ordered on day 0.
FACTORY = shop(
    [demand("x", "live", 900)],
    {"x": 0},
    suppliers=[{"id": "factory", "deliver_to": ["W"], "lead_days": 1, "capacity_per_day": 1000}],
    event=quiet_event(tier="everyday", start_day=0, duration_days=3),
)
# Every rule at its default at once (themed tier, presale, substitutes, two warehouses).
EVERYTHING = shop(
    [
        demand("x", "live", 60),
        demand("x", "market", 30, day=2),
        demand("y", "live", 20, day=2),
        demand("y", "presale", 10),
        demand("x", "presale", 15, day=3),
    ],
    {},
    horizon_days=6,
    warehouses=[{"id": "A"}, {"id": "W"}],
    skus=[
        {"id": "x", "unit_cost": 5, "price": 20, "tier": "A", "presale_eligible": True},
        {"id": "y", "unit_cost": 4, "price": 15, "tier": "B", "presale_eligible": True},
    ],
    stock=[
        {"sku": "x", "warehouse": "A", "quantity": 40},
        {"sku": "x", "warehouse": "W", "quantity": 30},
        {"sku": "y", "warehouse": "W", "quantity": 25},
    ],
    in_transit=[{"sku": "x", "warehouse": "W", "quantity": 20, "arrival_day": 3}],
    lanes=[{"from": "A", "to": "W", "mode": "air", "lead_days": 1, "unit_cost": 1}],
    suppliers=[{"id": "F", "deliver_to": ["W"], "lead_days": 2, "capacity_per_day": 100}],
    policy={"substitutes": [{"sku": "x", "substitute": "y", "share": 0.4}]},
    event={"tier": "themed", "start_day": 0, "duration_days": 2, "presale": {}},
)


def event_request(raw: dict[str, Any], **event: Any) -> PlanRequest:
    data = copy.deepcopy(raw)
    if event:
        data["event"] = {**data.get("event", quiet_event()), **event}
    return validate_request(data)


@pytest.mark.parametrize(
    "raw",
    [
        LOCKS,
        SWITCH,
        SUBSTITUTE,
        POOL,
        BUFFER,
        PRIORITY,
        {**COVER, "event": quiet_event(tier="everyday", cover_days=7)},
        {**FACTORY, "event": quiet_event(tier="mega", start_day=0, duration_days=3)},
        two_warehouses(transfer_cost_cap_share=0.1),
        two_warehouses(transfer_cost_share={"B": 0.15, "C": 0}),
        EVERYTHING,
    ],
    ids=[
        "locks", "switch", "substitute", "pool", "buffer", "priority", "cover", "capacity",
        "cap", "tiers", "everything",
    ],
)  # fmt: skip
def test_event_plans_pass(raw: dict[str, Any]) -> None:
    assert check_plan(validate_request(raw), solved(raw)) == []


def test_event_plans_are_not_vacuous() -> None:
    # the plans above do use what the new checks read
    assert solved(SWITCH)["presales"]
    assert solved(SUBSTITUTE)["substitutions"]
    assert solved(LOCKS)["locks"][0]["units"] >= 30 - 1e-6


def test_presales_and_substitutions_take_stock_on_their_days() -> None:
    # SWITCH: b at W ends day 0 with 100, day 1 with 100 - 90 = 10, day 3 with 10 + 50 - 40 =
    # 20 (the presale leaves on the batch day, not on the order day 1).
    facts = build_facts(validate_request(SWITCH), solved(SWITCH), 1e-6)
    assert facts.stock["base", "b", "W"] == pytest.approx([100, 10, 10, 20, 20])
    # SUBSTITUTE: y's stock serves 5 of x's orders on day 1; x's stock is untouched.
    facts = build_facts(validate_request(SUBSTITUTE), solved(SUBSTITUTE), 1e-6)
    assert facts.stock["base", "y", "W"] == pytest.approx([20, 15, 15, 15, 15])
    assert facts.stock["base", "x", "W"] == pytest.approx([0] * 5)


def event_mutated(raw: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> list[str]:
    p = solved(raw)
    change(p)
    return check_plan(validate_request(raw), p)


def _tamper_cost(p: dict[str, Any], line: str, delta: float) -> None:
    p["costs"][line] += delta
    p["costs"]["total"] += delta
    p["objective"] += delta


# ---- substitutions


def test_substitution_above_its_share() -> None:
    # 6 of x's 10 orders served with y: over 0.5 x 10 = 5 (flow kept: 6 + 4 lost = 10)
    def change(p: dict[str, Any]) -> None:
        p["substitutions"][0].update(quantity=6, cost=6)
        p["lost_sales"][0].update(quantity=4, cost=80)

    violations = event_mutated(SUBSTITUTE, change)
    assert_caught(violations, "substitute share exceeded", "sku x", "substitute y", "day 1")


def test_substitution_without_a_rule() -> None:
    raw = copy.deepcopy(SUBSTITUTE)
    plan_ = solved(raw)
    raw["policy"]["substitutes"] = [{"sku": "y", "substitute": "x", "share": 0.5}]
    assert_caught(check_plan(validate_request(raw), plan_), "no rule", "y serve x")


def test_substitution_is_served_from_the_substitutes_stock() -> None:
    # y holds 20: the 5 substitutions plus 16 units of y's own would leave -1
    def change(p: dict[str, Any]) -> None:
        p["allocations"].append(
            {"sku": "y", "warehouse": "W", "channel": "live", "scenario": "base", "day": 2,
             "quantity": 16, "unit_cost": 1, "cost": 16}
        )  # fmt: skip

    assert_caught(event_mutated(SUBSTITUTE, change), "negative stock", "sku y", "day 2")


def test_substitution_counts_as_served() -> None:
    # expected_served of y at W is the 5 substitutions; the KPI counts them as served
    def change(p: dict[str, Any]) -> None:
        p["stock_levels"] = [r for r in p["stock_levels"] if r["sku"] != "y"]
        p["kpis"]["expected_served"] = 0.0

    violations = event_mutated(SUBSTITUTE, change)
    assert_caught(violations, "stock_levels has no entry for sku y")
    assert_caught(violations, "kpis.expected_served")


def test_dropped_substitution_breaks_flow() -> None:
    def change(p: dict[str, Any]) -> None:
        p["substitutions"].clear()

    assert_caught(event_mutated(SUBSTITUTE, change), "flow not conserved", "sku x", "day 1")


# ---- presales


def test_presale_on_another_batch_day() -> None:
    def change(p: dict[str, Any]) -> None:
        p["presales"][0]["batch_day"] = 4  # the next batch after day 1 arrives on day 3

    violations = event_mutated(SWITCH, change)
    assert_caught(violations, "presale #0", "batch_day 4", "next inbound batch day 3")


def test_presale_slower_than_the_switch_allows() -> None:
    # batch day 3 + 2 delivery days - order day 1 = 4 days > switch_ship_days 3
    request_ = event_request(SWITCH, presale={"max_lock_share": 0, "switch_ship_days": 3})
    assert_caught(check_plan(request_, solved(SWITCH)), "presale #0", "switch_ship_days 3")


def test_presale_of_a_sku_that_cannot_presell() -> None:
    raw = copy.deepcopy(SWITCH)
    plan_ = solved(raw)
    raw["skus"][0]["presale_eligible"] = False
    assert_caught(check_plan(validate_request(raw), plan_), "presale #0", "not presale_eligible")


def test_presale_without_a_switch() -> None:
    request_ = event_request(SWITCH, presale={"max_lock_share": 0, "switch_ship_days": None})
    assert_caught(check_plan(request_, solved(SWITCH)), "presale #0", "no presale switch")


def test_presale_in_a_channel_that_is_not_live() -> None:
    request_ = event_request(SWITCH, live_channels=["market"])
    assert_caught(check_plan(request_, solved(SWITCH)), "presale #0", "not a live channel")


def test_presale_discount_line_tampered() -> None:
    # 40 presold units x 10% of the price 20 = 80
    def change(p: dict[str, Any]) -> None:
        _tamper_cost(p, "presale_discount", 1)

    violations = event_mutated(SWITCH, change)
    assert_caught(violations, "costs.presale_discount is 81", "recomputes to 80")


def test_presale_discount_line_missing() -> None:
    def change(p: dict[str, Any]) -> None:
        del p["costs"]["presale_discount"]

    assert_caught(event_mutated(SWITCH, change), "costs.presale_discount is missing")


def test_presale_unit_discount_tampered() -> None:
    def change(p: dict[str, Any]) -> None:
        p["presales"][0].update(unit_discount=0, cost=40)

    violations = event_mutated(SWITCH, change)
    assert_caught(violations, "presale #0", "unit_discount 0", "discount 2.0")


def test_presale_scenario_cost_includes_the_discount() -> None:
    def change(p: dict[str, Any]) -> None:
        p["scenarios"][0]["cost"] -= 80  # as if the presale discount were free

    assert_caught(event_mutated(SWITCH, change), "scenario base", "cost")


# ---- event rules


def test_lock_above_its_share() -> None:
    # max_lock_share 0.5 of the 100 units there: at most 50
    def change(p: dict[str, Any]) -> None:
        p["locks"][0].update(units=60, share_of_stock=0.6)

    violations = event_mutated(LOCKS, change)
    assert_caught(violations, "locks[0]", "sku p", "over max_lock_share 0.5", "= 50")


def test_presale_channel_sells_beyond_the_lock() -> None:
    def change(p: dict[str, Any]) -> None:
        p["locks"][0].update(units=20, share_of_stock=0.2)  # presale sells 30

    violations = event_mutated(LOCKS, change)
    assert_caught(violations, "presale channels sell 30", "sku p", "over the presale lock 20")


def test_other_channels_sell_locked_units() -> None:
    def change(p: dict[str, Any]) -> None:
        p["locks"][0].update(units=40, share_of_stock=0.4)  # live sells 70 > 100 - 40

    violations = event_mutated(LOCKS, change)
    assert_caught(violations, "locked units sold", "sku p", "from W", "= 60")


def test_lock_share_of_stock_tampered() -> None:
    def change(p: dict[str, Any]) -> None:
        p["locks"][0]["share_of_stock"] += 0.1

    assert_caught(event_mutated(LOCKS, change), "locks[0]", "share_of_stock")


def test_emergency_buffer_broken() -> None:
    # 95 served leaves 5 on day 1, under 0.1 x 100 = 10
    def change(p: dict[str, Any]) -> None:
        p["allocations"][0].update(quantity=95, cost=95)
        p["lost_sales"][0].update(quantity=5, cost=100)

    violations = event_mutated(BUFFER, change)
    assert_caught(violations, "emergency buffer broken", "sku x", "day 1", "scenario base")


def test_emergency_buffer_counts_stock_arrived_in_transit() -> None:
    # SWITCH: 6 more presold leave 14 on day 3, under 0.1 x (100 + 50 arrived) = 15 (but over
    # 0.1 x 100: the 50 units arrived in transit count)
    def change(p: dict[str, Any]) -> None:
        p["presales"][0].update(quantity=46)

    violations = event_mutated(SWITCH, change)
    assert_caught(violations, "emergency buffer broken", "sku b", "day 3", "with 14.0", "150.0")


def test_live_pool_broken() -> None:
    # the marketplace may sell (1 - 0.6) x 100 = 40
    def change(p: dict[str, Any]) -> None:
        p["allocations"][0].update(quantity=45)
        p["lost_sales"][0].update(quantity=55, cost=1100)

    violations = event_mutated(POOL, change)
    assert_caught(violations, "live pool broken", "sku x", "from W", "= 40")


def test_lost_live_sale_carries_the_priority_premium() -> None:
    def change(p: dict[str, Any]) -> None:
        p["lost_sales"][0].update(unit_penalty=20, cost=100)  # 20 + 0.25 x 20 = 25 applies

    violations = event_mutated(PRIORITY, change)
    assert_caught(violations, "lost_sales[0]", "unit_penalty 20", "premium 5.0")


def test_transfer_cost_above_the_cap() -> None:
    # uncapped, all 6 units of x fly for 24; at 10% the cap is 0.1 x 15 x (2 + 6) = 12
    violations = check_plan(
        validate_request(two_warehouses(transfer_cost_cap_share=0.1)), solved(two_warehouses())
    )
    assert_caught(violations, "transfer cost cap broken", "transfers cost 24", "= 12")


def test_event_section_reports_the_transfer_cap() -> None:
    def change(p: dict[str, Any]) -> None:
        p["event"]["transfer_cost_cap"] += 1

    raw = two_warehouses(transfer_cost_cap_share=0.1)
    assert_caught(event_mutated(raw, change), "event.transfer_cost_cap")


def test_transfer_by_a_mode_its_tier_may_not_use() -> None:
    # x flies 6 units as tier A ($4 a unit); as tier B it may pay 15% of its price 20 = $3
    raw = two_warehouses(transfer_cost_share={"B": 0.15, "C": 0})
    plan_ = solved(raw)
    raw["skus"][0]["tier"] = "B"
    violations = check_plan(validate_request(raw), plan_)
    assert_caught(violations, "transfer #0", "sku x of tier B", "may not pay 4")


def test_supplier_capacity_lock_on_event_days() -> None:
    # everyday orders 900 on day 0; a themed event locks 30% of 1000 on event days
    request_ = event_request(FACTORY, tier="themed")
    violations = check_plan(request_, solved(FACTORY))
    assert_caught(violations, "supplier capacity lock broken", "supplier factory", "event day 0")


def test_everyday_event_keeps_cover_days() -> None:
    # without an event 140 sell and 10 remain; 7 days x 10 a day = 70 must remain
    request_ = event_request(COVER, tier="everyday", cover_days=7)
    violations = check_plan(request_, solved(COVER))
    assert_caught(violations, "sku x at W ends the plan with 10.0", "below its safety stock")


PRESALE_FIELDS = [
    ("presales", 0, f)
    for f in ("sku", "warehouse", "channel", "scenario", "day", "batch_day", "quantity",
              "unit_cost", "unit_discount", "cost")
]  # fmt: skip
SUBSTITUTION_FIELDS = [
    ("substitutions", 0, f)
    for f in ("sku", "substitute", "warehouse", "channel", "scenario", "day", "quantity",
              "unit_cost", "cost")
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "path"),
    [(SWITCH, p) for p in [*PRESALE_FIELDS, ("costs", "presale_discount")]]
    + [(SUBSTITUTE, p) for p in SUBSTITUTION_FIELDS]
    + [(LOCKS, ("locks", 0, f)) for f in ("sku", "warehouse", "units", "stock", "share_of_stock")],
    ids=lambda x: ".".join(map(str, x)) if isinstance(x, tuple) else x["name"],
)
def test_every_event_field_is_checked(raw: dict[str, Any], path: tuple[Any, ...]) -> None:
    """As test_every_field_is_checked, for the rows substitutions and presales add."""

    def change(p: dict[str, Any]) -> None:
        parent = p
        for key in path[:-1]:
            parent = parent[key]
        value = parent[path[-1]]
        parent[path[-1]] = value + 1 if isinstance(value, int | float) else f"{value}-x"

    assert event_mutated(raw, change), f"changing {path} went unnoticed"
