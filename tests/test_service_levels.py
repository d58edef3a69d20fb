"""Service-level tiers and safety stock: each rule binds on a 2-SKU newsvendor.

Setup (both SKUs alike): one warehouse, a supplier with lead 0 at $5/unit, price $6 (the
lost-sale penalty), horizon 1 day, demand 10 or 20 with probability 1/2 each.
Unconstrained, an order of q costs 5q + 6 * E[(D - q)+]: q = 10 gives 50 + 30 = 80, q = 20
gives 100 (each unit above 10 costs 5 and saves only 0.5 * 6 = 3), so q* = 10, fill rate
10 / 15 = 66.7%, stock-out probability 1/2.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import solve

from planner.prepare import sku_tier
from planner.schema import Sku


def newsvendor(policy: dict[str, Any] | None = None, **sku_a: Any) -> dict[str, Any]:
    skus = [
        {"id": "a", "unit_cost": 5, "price": 6, "tier": "A", **sku_a},
        {"id": "c", "unit_cost": 5, "price": 6, "tier": "C"},
    ]
    if "conversion_rate" in sku_a:
        skus[0].pop("tier")
    demand = lambda q: [  # noqa: E731
        {"sku": k, "channel": "shop", "day": 0, "quantity": q} for k in ("a", "c")
    ]
    return {
        "horizon_days": 1,
        "warehouses": [{"id": "W"}],
        "suppliers": [{"id": "f", "deliver_to": ["W"]}],
        "skus": skus,
        "channels": [
            {
                "id": "shop",
                "promise_days": 2,
                "fulfilment": [{"warehouse": "W", "delivery_days": 1}],
            }
        ],
        "scenarios": [
            {"name": "low", "probability": 0.5, "demand": demand(10)},
            {"name": "high", "probability": 0.5, "demand": demand(20)},
        ],
        "policy": policy or {},
    }


def ordered(plan: dict[str, Any], sku: str) -> int:
    return sum(o["quantity"] for o in plan["orders"] if o["sku"] == sku)


def service(plan: dict[str, Any], sku: str) -> dict[str, Any]:
    return next(s for s in plan["service"] if s["sku"] == sku)


def test_without_targets_the_newsvendor_orders_the_low_scenario() -> None:
    plan = solve(newsvendor())
    assert ordered(plan, "a") == ordered(plan, "c") == 10
    assert service(plan, "a")["fill_rate"] == pytest.approx(10 / 15)
    assert service(plan, "a")["stockout_probability"] == pytest.approx(0.5)


def test_fill_rate_target_raises_stock_of_its_tier_only() -> None:
    # Fill rate >= 90%: expected lost 0.5 * (20 - q) <= 1.5 -> q >= 17 (and no more).
    plan = solve(newsvendor({"service_levels": {"A": {"fill_rate": 0.9}}}))
    assert ordered(plan, "a") == 17
    assert ordered(plan, "c") == 10  # tier C has no target
    assert service(plan, "a")["fill_rate"] == pytest.approx(0.9)
    # A higher target raises stock further: 95% -> 0.5 * (20 - q) <= 0.75 -> q >= 18.5 -> 19.
    assert ordered(solve(newsvendor({"service_levels": {"A": {"fill_rate": 0.95}}})), "a") == 19


def test_no_stockout_probability_is_a_chance_constraint_on_scenarios() -> None:
    # P(no stock-out) >= 0.5 is met by q = 10 (the low scenario); >= 0.9 needs both: q = 20.
    assert (
        ordered(solve(newsvendor({"service_levels": {"A": {"no_stockout_probability": 0.5}}})), "a")
        == 10
    )
    plan = solve(newsvendor({"service_levels": {"A": {"no_stockout_probability": 0.9}}}))
    assert ordered(plan, "a") == 20
    assert service(plan, "a")["stockout_probability"] == pytest.approx(0.0)


def test_tier_derived_from_conversion_rate() -> None:
    assert sku_tier(Sku(id="x", conversion_rate=0.09)).value == "A"
    assert sku_tier(Sku(id="x", conversion_rate=0.08)).value == "B"
    assert sku_tier(Sku(id="x", conversion_rate=0.03)).value == "B"
    assert sku_tier(Sku(id="x", conversion_rate=0.029)).value == "C"
    assert sku_tier(Sku(id="x")) is None
    # A 9% conversion rate makes SKU a tier A, so the A target applies.
    plan = solve(newsvendor({"service_levels": {"A": {"fill_rate": 0.9}}}, conversion_rate=0.09))
    assert service(plan, "a")["tier"] == "A" and ordered(plan, "a") == 17
    plan = solve(newsvendor({"service_levels": {"A": {"fill_rate": 0.9}}}, conversion_rate=0.02))
    assert service(plan, "a")["tier"] == "C" and ordered(plan, "a") == 10


def test_safety_stock_floor_and_hot_signal() -> None:
    # Expected daily sales of a at W: 15. A 1-day floor keeps 15 units at the end of the day
    # in every scenario, so only q - 15 can be sold. A unit sold in both scenarios saves 6
    # for 5 (worth it); one sold only in the high scenario saves 0.5 * 6 = 3 < 5. So
    # q = 15 + 10 = 25 (cost 125 + 0.5 * 10 * 6 = 155; q = 20 gives 160, q = 30 gives 165).
    floor = {"safety_stock": [{"warehouse": "W", "sku": "a", "days": 1, "hot_signal_days": 2}]}
    plan = solve(newsvendor(floor))
    assert ordered(plan, "a") == 25
    level = next(r for r in plan["stock_levels"] if r["sku"] == "a")
    assert level["safety_floor"] == pytest.approx(15)
    # A hot signal raises cover to 2 days: 30 units kept -> q = 30 + 10 = 40.
    assert ordered(solve(newsvendor(floor, hot_signal=True)), "a") == 40


def test_unreachable_target_is_diagnosed() -> None:
    # The supplier can make only 12 units: a 95% fill rate (q >= 19) is impossible.
    raw = newsvendor({"service_levels": {"A": {"fill_rate": 0.95}}})
    raw["suppliers"][0]["capacity_per_day"] = 12
    plan = solve(raw)
    assert plan["status"] == "infeasible"
    rules = {f["rule"] for f in plan["diagnosis"]["findings"]}
    assert "fill_rate_target" in rules or "supplier_daily_capacity" in rules


@pytest.mark.parametrize(
    "policy",
    [
        {"service_levels": {"A": {"fill_rate": 0.9}}},
        {"service_levels": {"A": {"no_stockout_probability": 0.9}}},
        {"safety_stock": [{"warehouse": "W", "days": 1}]},
    ],
)
def test_checker_verifies_service_rules_and_catches_a_shortfall(policy: dict[str, Any]) -> None:
    from planner.checker import check_plan
    from planner.validation import validate_request

    raw = newsvendor(policy)
    plan = solve(raw)
    request = validate_request(raw)
    assert check_plan(request, plan) == []
    # The unconstrained plan (q = 10) breaks each of these rules, and the checker says so.
    loose = solve(newsvendor())
    problems = check_plan(request, loose)
    assert any("target" in p or "safety stock" in p for p in problems), problems
