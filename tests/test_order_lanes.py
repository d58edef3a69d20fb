"""Orders shipped along a lane (rule (21) of models/network_plan.py; SEEDS.md section 2: "with a
3-day delivery promise the system picks Malaysia air").

The hand-solved instance: one SKU x (price 10, so a lost unit costs 10; salvage 0, no holding
cost), one day, one scenario. Warehouse B (the customers' country) holds 10 units and delivers
in 2 days at $1; origin A holds 100 and may fly orders along the air lane A -> B: 3 days door to
door at $3 a unit, 50 units a day, a booking fee F per day it flies anything. Channel `live`
promises 3 days and wants 80 units on day 0.

With F = 20: B serves its 10 ($10); the lane flies its capacity, 50 ($150 + $20 fee), each
saving 10 - 3 = $7 of lost sale; the other 20 are lost ($200). Cost 10 + 150 + 20 + 200 = 380,
against 10 + 700 = 710 without flying. With F = 600 flying 50 saves 50 x 7 = 350 < 600: no
order flies and the cost is 710.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import EXACT

from planner.baseline import FirstStage
from planner.checker import check_plan
from planner.evaluate import replay
from planner.pipeline import run
from planner.validation import RequestError, validate_request
from solvers import BACKENDS

LANE = {
    "from": "A",
    "to": "B",
    "mode": "air",
    "lead_days": 3,
    "unit_cost": 2.3,
    "fixed_cost": 20,
    "capacity": 50,
}


def flight_request(fee: float = 20, **changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "name": "order-lane",
        "horizon_days": 1,
        "warehouses": [{"id": "A"}, {"id": "B"}],
        "skus": [{"id": "x", "unit_cost": 5, "price": 10, "salvage_value": 0}],
        "stock": [
            {"sku": "x", "warehouse": "A", "quantity": 100},
            {"sku": "x", "warehouse": "B", "quantity": 10},
        ],
        "lanes": [dict(LANE, fixed_cost=fee)],
        "channels": [
            {
                "id": "live",
                "kind": "live",
                "promise_days": 3,
                "fulfilment": [
                    {"warehouse": "B", "delivery_days": 2, "unit_cost": 1},
                    {"warehouse": "A", "lane": "A-B-air", "delivery_days": 3, "unit_cost": 3},
                ],
            }
        ],
        "scenarios": [
            {
                "name": "base",
                "probability": 1,
                "demand": [{"sku": "x", "channel": "live", "day": 0, "quantity": 80}],
            }
        ],
    }
    request.update(copy.deepcopy(changes))
    return request


def checked(request: dict[str, Any], solver: str = "highs") -> dict[str, Any]:
    plan = run(validate_request(request), EXACT, solver=solver)
    assert plan["status"] == "optimal", plan["message"]
    problems = check_plan(validate_request(request), plan)
    assert problems == [], problems[:5]
    return plan


@pytest.mark.parametrize("solver", sorted(BACKENDS))
def test_orders_fly_along_the_lane_up_to_its_capacity_and_pay_its_fee(solver: str) -> None:
    plan = checked(flight_request(), solver)
    assert plan["objective"] == pytest.approx(380)
    [flown] = plan["order_shipments"]
    assert flown["from"] == "A" and flown["to"] == "B" and flown["mode"] == "air"
    assert flown["quantity"] == pytest.approx(50)
    assert (flown["ship_day"], flown["deliver_day"]) == (0, 3)
    [use] = plan["lane_uses"]
    assert use["units"] == 0 and use["order_units"] == pytest.approx(50)
    assert plan["costs"]["transfer_fixed"] == pytest.approx(20)
    assert sum(x["quantity"] for x in plan["lost_sales"]) == pytest.approx(20)
    assert plan["transfers"] == []  # orders flown to customers are not stock transfers


def test_no_order_flies_when_the_fee_costs_more_than_it_saves() -> None:
    plan = checked(flight_request(fee=600))
    assert plan["objective"] == pytest.approx(710)
    assert plan["order_shipments"] == [] and plan["lane_uses"] == []


def test_orders_share_the_lane_with_transfers() -> None:
    """Horizon 4, no fee, B empty. A transfer can only ship on day 0 (lead 3, lands on day 3);
    channel `market` is served only from B's stock ($0) and wants 30 on day 3; `live` wants 50
    on day 0. Day 0's 50 units of lane space go first to transfers (a transferred unit saves
    10 - 2.3 - 0 = 7.7, a flown order 10 - 3 = 7): 30 transferred, 20 orders flown, 30 live
    orders lost. Cost 30 x 2.3 + 20 x 3 + 30 x 10 = 429. (Were the capacities separate, 50
    orders would fly too: 219.)"""
    market = {
        "id": "market",
        "kind": "marketplace",
        "promise_days": 5,
        "fulfilment": [{"warehouse": "B", "delivery_days": 2, "unit_cost": 0}],
    }
    request = flight_request(fee=0, horizon_days=4)
    request["stock"] = [{"sku": "x", "warehouse": "A", "quantity": 100}]
    request["channels"].append(market)
    request["scenarios"][0]["demand"] = [
        {"sku": "x", "channel": "live", "day": 0, "quantity": 50},
        {"sku": "x", "channel": "market", "day": 3, "quantity": 30},
    ]
    plan = checked(request)
    assert plan["objective"] == pytest.approx(429)
    assert sum(x["quantity"] for x in plan["transfers"]) == 30
    assert sum(x["quantity"] for x in plan["order_shipments"]) == pytest.approx(20)
    [use] = plan["lane_uses"]
    assert use["units"] + use["order_units"] == pytest.approx(50)


def test_checker_catches_a_lane_overfilled_by_orders() -> None:
    request = flight_request()
    plan = checked(request)
    broken = copy.deepcopy(plan)
    for rows in (broken["allocations"], broken["order_shipments"]):
        for x in rows:
            if x.get("warehouse", "A") == "A" and x["quantity"] == pytest.approx(50):
                x["quantity"] = 60.0
    problems = check_plan(validate_request(request), broken)
    assert any("A-B-air" in p and "over its capacity 50" in p for p in problems), problems


def test_checker_catches_order_shipments_that_do_not_match_the_allocations() -> None:
    request = flight_request()
    broken = copy.deepcopy(checked(request))
    broken["order_shipments"][0]["quantity"] = 40.0
    problems = check_plan(validate_request(request), broken)
    assert any("40 units listed, the allocations fly 50" in p for p in problems), problems


@pytest.mark.parametrize(
    ("fulfilment", "reason"),
    [
        ({"lane": "A-B-sea"}, "unknown lane 'A-B-sea'"),
        ({"warehouse": "B", "delivery_days": 3}, "starts at 'A', not at the fulfilling"),
        ({"delivery_days": 2}, "shorter than lane 'A-B-air''s 3 lead days"),
    ],
)
def test_bad_order_lane_is_rejected_naming_the_field(
    fulfilment: dict[str, Any], reason: str
) -> None:
    request = flight_request()
    request["channels"][0]["fulfilment"] = [
        dict({"warehouse": "A", "lane": "A-B-air", "delivery_days": 3}, **fulfilment)
    ]
    with pytest.raises(RequestError) as caught:
        validate_request(request)
    errors = caught.value.errors
    assert any(e.path == "$.channels[0].fulfilment[0].lane" and reason in e.reason for e in errors)


def test_replaying_a_plan_lets_its_orders_fly() -> None:
    """`planner evaluate` replays a plan's first stage on demand draws; a lane day that only
    flies orders is decided with the orders, so the plan above replays at its own 380 (with the
    booking fixed to 'no transfer, no flight' it would lose 70 units: 710)."""
    request = validate_request(flight_request())
    plan = checked(flight_request())
    result = replay(request, FirstStage.of_plan(plan), list(request.scenarios))
    assert result["expected_cost"] == pytest.approx(380)


def test_the_transfer_cost_cap_counts_a_fee_paid_only_for_orders() -> None:
    """Event rule (16) with kappa 0.15 and nothing else: flying 50 orders earns a gross margin
    of (10 - 5) x 60 = 300 (B's 10 and the 50 flown), so the cap is 45, under the $100 fee:
    nothing flies even though no stock transfer could ship in a 1-day horizon. Lost live units
    cost 10 + 25% x 10 = 12.5: cost 10 (B's fulfilment) + 70 x 12.5 = 885."""
    event = {
        "emergency_buffer_share": 0,
        "live_pool_share": None,
        "cover_days": 0,
        "transfer_cost_cap_share": 0.15,
    }
    capped = flight_request(fee=100, event=event)
    plan = checked(capped)
    assert plan["objective"] == pytest.approx(885)
    assert plan["order_shipments"] == []
    flown = checked(flight_request(fee=100))  # without the cap the flight pays: 10+150+100+200
    assert flown["objective"] == pytest.approx(460)
    problems = check_plan(validate_request(capped), dict(flown, event=plan["event"]))
    assert any("transfer cost cap broken" in p for p in problems), problems


def test_a_lane_overfilled_by_orders_is_diagnosed_as_the_lane() -> None:
    """Every unit must be served: 80 wanted, B has 10 and the lane flies at most 50, on a day
    no stock transfer can ship (horizon 1). The diagnosis names the lane, 20 units over."""
    plan = run(validate_request(flight_request(policy={"serve_all_demand": True})), EXACT)
    assert plan["status"] == "infeasible"
    assert any(
        f["rule"] == "lane_capacity" and f.get("lane") == "A-B-air" and "20 units" in f["message"]
        for f in plan["diagnosis"]["findings"]
    ), plan["diagnosis"]["findings"]
    assert plan["order_shipments"] == []


def test_a_plan_that_flies_a_substitute_is_kept_when_still_optimal() -> None:
    """x sold out at A, its substitute y (share 1) flies along the lane instead: the previous
    plan carries no substitutions, so the lane day must stay open for the replay to keep it."""
    request = flight_request()
    request["skus"].append({"id": "y", "unit_cost": 5, "price": 10, "salvage_value": 0})
    request["stock"] = [
        {"sku": "y", "warehouse": "A", "quantity": 100},
        {"sku": "x", "warehouse": "B", "quantity": 10},
    ]
    request["policy"] = {"substitutes": [{"sku": "x", "substitute": "y", "share": 1.0}]}
    plan = checked(request)
    assert [(x["sku"], x["quantity"]) for x in plan["order_shipments"]] == [("y", 50.0)]
    again = dict(
        request, previous_plan={k: plan[k] for k in ("transfers", "orders", "allocations")}
    )
    replanned = run(validate_request(again), EXACT)
    assert replanned["changes"]["kept_previous_plan"] is True
