"""One test per business rule of the network plan, each on a few rows, showing the rule binds.

Every test pairs the binding case with a relaxed twin, so the assertion would fail if the
rule were not in the model.
"""

from __future__ import annotations

import pytest
from conftest import solve, two_warehouse_request


def _demand(q: float, day: int = 2, channel: str = "live", sku: str = "x") -> list[dict]:
    return [
        {
            "name": "base",
            "probability": 1,
            "demand": [{"sku": sku, "channel": channel, "day": day, "quantity": q}],
        }
    ]


def _served_from(plan: dict, warehouse: str) -> float:
    return sum(a["quantity"] for a in plan["allocations"] if a["warehouse"] == warehouse)


def _lost(plan: dict) -> float:
    return sum(x["quantity"] for x in plan["lost_sales"])


def test_promise_respected_slow_warehouse_never_serves() -> None:
    # A holds the stock but delivers in 6 days against a 2-day promise: every unit must go
    # through B. With a 6-day promise A serves directly and nothing is transferred.
    plan = solve(two_warehouse_request())
    assert _served_from(plan, "A") == 0
    assert _served_from(plan, "B") == pytest.approx(6)
    relaxed = two_warehouse_request()
    relaxed["channels"][0]["promise_days"] = 6
    plan = solve(relaxed)
    assert _served_from(plan, "A") == pytest.approx(6)
    assert plan["transfers"] == []


def test_lead_time_transfer_arriving_after_the_demand_day_is_useless() -> None:
    # Demand on day 1 at B, lane takes 1 day: a day-0 shipment arrives in time. With a 2-day
    # lane nothing can arrive by day 1, so the 6 units are lost.
    plan = solve(two_warehouse_request(scenarios=_demand(6, day=1)))
    assert _lost(plan) == pytest.approx(0)
    slow = two_warehouse_request(scenarios=_demand(6, day=1))
    slow["lanes"][0]["lead_days"] = 2
    plan = solve(slow)
    assert _lost(plan) == pytest.approx(6)
    assert plan["transfers"] == []


def test_lane_fixed_cost_is_paid_only_when_worth_it() -> None:
    # 1 unit of demand, price 20: shipping costs 3 + 2 = 5 < 20, so it ships. With a $25
    # fixed cost per shipping day, losing the sale (20) is cheaper than 27.
    plan = solve(two_warehouse_request(scenarios=_demand(1)))
    assert plan["costs"]["transfer_fixed"] == 3
    expensive = two_warehouse_request(scenarios=_demand(1))
    expensive["lanes"][0]["fixed_cost"] = 25
    plan = solve(expensive)
    assert plan["transfers"] == []
    assert plan["costs"]["lost_sales"] == pytest.approx(20)


def test_lane_fixed_cost_is_paid_once_per_shipping_day() -> None:
    # Demand of 3 on day 1 and 3 on day 2; one shipment on day 0 covers both (one fixed cost)
    # rather than two shipments.
    req = two_warehouse_request(
        scenarios=[
            {
                "name": "base",
                "probability": 1,
                "demand": [{"sku": "x", "channel": "live", "day": 1, "end_day": 2, "quantity": 6}],
            }
        ]
    )
    plan = solve(req)
    assert len(plan["lane_uses"]) == 1
    assert plan["costs"]["transfer_fixed"] == 3


def test_lane_capacity_limits_units_per_shipping_day() -> None:
    # Capacity 4 per shipping day and only day 0 can reach day-1 demand of 6: 2 units lost.
    req = two_warehouse_request(scenarios=_demand(6, day=1))
    req["lanes"][0]["capacity"] = 4
    plan = solve(req)
    assert sum(x["quantity"] for x in plan["transfers"]) == 4
    assert _lost(plan) == pytest.approx(2)


def test_transfers_are_whole_units() -> None:
    # 2.5 units of demand: shipping 3 whole units beats losing half a unit at 20.
    plan = solve(two_warehouse_request(scenarios=_demand(2.5)))
    assert [x["quantity"] for x in plan["transfers"]] == [3]
    assert all(isinstance(x["quantity"], int) for x in plan["transfers"])


def test_warehouse_capacity_caps_end_of_day_stock() -> None:
    # Holding costs $1/unit-day at A, nothing at B, so the 6 units for day 2 leave A on day 0
    # (A then holds 4 + 4 + 4 = 12 unit-days) rather than day 1 (10 + 4 + 4 = 18).
    req = two_warehouse_request(warehouses=[{"id": "A", "holding_cost": 1}, {"id": "B"}])
    assert {x["ship_day"] for x in solve(req)["transfers"]} == {0}
    # B may hold only 2 units at the end of a day: arriving on day 1 would leave 6 there
    # overnight. Splitting 2 (day 0) + 4 (day 1) costs 16 holding + 2 x 3 fixed = 22; all on
    # day 1 costs 18 + 3 = 21: the plan ships everything on day 1.
    req["warehouses"][1]["capacity"] = 2
    plan = solve(req)
    assert {x["ship_day"] for x in plan["transfers"]} == {1}
    assert plan["objective"] == pytest.approx(21 + 6 * 2)  # + transfer $2/unit


def test_multi_hop_route_through_a_hub() -> None:
    # No direct lane A -> B; A -> H and H -> B exist (1 day each). Stock reaches B in 2 days.
    req = two_warehouse_request(
        warehouses=[{"id": "A"}, {"id": "H"}, {"id": "B"}],
        lanes=[
            {"from": "A", "to": "H", "mode": "sea", "lead_days": 1, "unit_cost": 1},
            {"from": "H", "to": "B", "mode": "truck", "lead_days": 1, "unit_cost": 1},
        ],
    )
    plan = solve(req)
    hops = {(x["from"], x["to"], x["ship_day"]) for x in plan["transfers"]}
    assert hops == {("A", "H", 0), ("H", "B", 1)}
    assert _lost(plan) == pytest.approx(0)


def test_stock_in_transit_is_usable_only_from_its_arrival_day() -> None:
    # B has nothing on hand; 6 units arrive at B on day 2 (in transit). Demand of 6 on day 1
    # cannot use them (the A lane is removed); demand on day 2 can.
    base = {
        "stock": [],
        "lanes": [],
        "in_transit": [{"sku": "x", "warehouse": "B", "quantity": 6, "arrival_day": 2}],
    }
    assert _lost(
        solve(two_warehouse_request(**base, scenarios=_demand(6, day=1)))
    ) == pytest.approx(6)
    assert _lost(
        solve(two_warehouse_request(**base, scenarios=_demand(6, day=2)))
    ) == pytest.approx(0)


def test_supplier_lead_time_and_daily_capacity() -> None:
    # No stock; a factory delivering to B in 1 day, at most 4 units per order day. Demand of
    # 10 on day 2: order days 0 and 1 can arrive by day 2 -> 8 units, 2 lost.
    req = two_warehouse_request(
        stock=[],
        lanes=[],
        suppliers=[{"id": "f", "deliver_to": ["B"], "lead_days": 1, "capacity_per_day": 4}],
        scenarios=_demand(10, day=2),
    )
    plan = solve(req)
    assert sum(o["quantity"] for o in plan["orders"]) == 8
    assert {o["order_day"] for o in plan["orders"]} == {0, 1}
    assert _lost(plan) == pytest.approx(2)
    assert plan["costs"]["purchase"] == pytest.approx(8 * 5)


def test_supplier_capacity_window() -> None:
    # Same factory, no daily cap, but days 0-1 together may ship only 7 units.
    req = two_warehouse_request(
        stock=[],
        lanes=[],
        suppliers=[
            {
                "id": "f",
                "deliver_to": ["B"],
                "lead_days": 1,
                "capacity_windows": [{"start_day": 0, "end_day": 1, "capacity": 7}],
            }
        ],
        scenarios=_demand(10, day=2),
    )
    plan = solve(req)
    assert sum(o["quantity"] for o in plan["orders"]) == 7


def test_minimum_order_forces_a_bigger_order() -> None:
    # 3 units of demand, minimum order 5 at $5 each, price 20: ordering 5 (25) beats losing 3
    # (60); the 2 extra units are left over.
    req = two_warehouse_request(
        stock=[],
        lanes=[],
        suppliers=[{"id": "f", "deliver_to": ["B"], "lead_days": 1, "min_order": 5}],
        scenarios=_demand(3, day=2),
    )
    plan = solve(req)
    assert sum(o["quantity"] for o in plan["orders"]) == 5
    # With a minimum of 20 units the order costs 100 > 60: better to lose the sales.
    req["suppliers"][0]["min_order"] = 20
    plan = solve(req)
    assert plan["orders"] == []
    assert _lost(plan) == pytest.approx(3)


def test_lost_sale_penalty_defaults_to_price_and_can_be_overridden() -> None:
    # Shipping one unit costs 5 (3 fixed + 2). With price 20 it ships; with an explicit
    # penalty of 4 per lost unit, losing the sale is cheaper.
    assert solve(two_warehouse_request(scenarios=_demand(1)))["transfers"]
    cheap = two_warehouse_request(scenarios=_demand(1), policy={"lost_sale_penalty": 4})
    plan = solve(cheap)
    assert plan["transfers"] == []
    assert plan["costs"]["lost_sales"] == pytest.approx(4)


def test_serve_all_demand_makes_a_shortage_infeasible_and_names_it() -> None:
    # 12 units must be served, 10 exist: infeasible, and the elastic diagnosis names the
    # 2-unit shortfall and still ships the 10 units as the cheapest repair.
    req = two_warehouse_request(scenarios=_demand(12), policy={"serve_all_demand": True})
    plan = solve(req)
    assert plan["status"] == "infeasible"
    assert plan["objective"] is None and plan["transfers"] == []
    diagnosis = plan["diagnosis"]
    assert diagnosis["method"] == "elastic"
    (finding,) = diagnosis["findings"]
    assert finding["rule"] == "serve_all_demand"
    assert finding["sku"] == "x" and finding["units"] == pytest.approx(2)
    assert sum(x["quantity"] for x in diagnosis["repair"]["transfers"]) == 10
    req["scenarios"] = _demand(10)
    assert solve(req)["status"] == "optimal"


def test_serve_all_demand_with_an_unmeetable_promise_names_the_nearest_stock() -> None:
    # Promise 0 days: B delivers in 1 day, A in 6. Every unit breaks the promise; the
    # diagnosis prices lateness per day, so it names B (1 day) and moves stock there.
    req = two_warehouse_request(policy={"serve_all_demand": True})
    req["channels"][0]["promise_days"] = 0
    plan = solve(req)
    assert plan["status"] == "infeasible"
    (finding,) = plan["diagnosis"]["findings"]
    assert finding["rule"] == "promise_respected"
    assert finding["warehouse"] == "B" and finding["units"] == pytest.approx(6)
    assert "0-day promise" in finding["message"] and "B (1 days)" in finding["message"]
    assert "A -> B" in plan["diagnosis"]["repair"]["message"]


def test_diagnosis_names_an_exceeded_lane_capacity() -> None:
    # Every unit must be served on day 1 but the lane carries 4 per day: 2 units over.
    req = two_warehouse_request(scenarios=_demand(6, day=1), policy={"serve_all_demand": True})
    req["lanes"][0]["capacity"] = 4
    plan = solve(req)
    assert plan["status"] == "infeasible"
    rules = {f["rule"]: f for f in plan["diagnosis"]["findings"]}
    assert rules["lane_capacity"]["units"] == pytest.approx(2)
    assert rules["lane_capacity"]["lane"] == "A-B-air"


def test_holding_cost_delays_shipments_until_needed() -> None:
    # B holds at $1/unit-day, A at 0: ship on day 1 to arrive exactly on the demand day 2.
    req = two_warehouse_request(warehouses=[{"id": "A"}, {"id": "B", "holding_cost": 1}])
    plan = solve(req)
    assert {x["ship_day"] for x in plan["transfers"]} == {1}
    assert plan["costs"]["holding"] == pytest.approx(0)


def test_salvage_value_credits_leftover_stock() -> None:
    # Nothing sells (demand 0); 10 units left at A worth 40% of the $5 unit cost.
    req = two_warehouse_request(scenarios=_demand(0), policy={"salvage_fraction": 0.4})
    plan = solve(req)
    assert plan["costs"]["salvage"] == pytest.approx(-20)
    assert plan["objective"] == pytest.approx(-20)
