"""A tiny instance solved by hand; the proof is in the comment."""

from __future__ import annotations

import pytest
from conftest import hand_solved_request, solve


def test_two_scenario_transfer_is_sized_for_the_high_scenario() -> None:
    # Warehouse A holds 10 units; the live channel (2-day promise) can only be served from B.
    # Lane A -> B by air: 1 day, $2/unit plus $3 per shipping day. Holding $0.1/unit-day at
    # both warehouses, fulfilment from B $1/unit, price (= lost-sale penalty) $20.
    # Demand on day 2: 4 units (p = 0.5) or 8 units (p = 0.5).
    #
    # Ship q units on day 0 or 1 (arriving by day 2), one shipping day: cost 3 + 2q.
    # Each unit shipped serves the high scenario for sure; the 5th..8th unit only there
    # (p = 0.5): a marginal unit beyond 4 saves 0.5 * 20 = 10 of lost sales and costs 2 plus
    # fulfilment 0.5 * 1, so q = 8 (q > 8 serves nothing more). Any q <= 10 is available.
    # Holding is charged on end-of-day stock in warehouses: 10 units x 3 days = 30 unit-days,
    # minus the one end of day the 8 shipped units spend on the 1-day lane (-8), minus the
    # units sold on day 2 (4 or 8, expected -6): 16 unit-days x $0.1 = 1.6, whichever day
    # the transfer leaves.
    # Total = 3 + 16 (transfer) + 6 (fulfilment: 0.5*4 + 0.5*8 units at $1) + 1.6 = 26.6.
    # Shipping only 4 saves 8 of transfer and 2 of fulfilment but loses 0.5 * 4 * 20 = 40;
    # not shipping at all loses 0.5 * (4 + 8) * 20 = 120: both worse.
    plan = solve(hand_solved_request())
    assert plan["status"] == "optimal"
    assert plan["objective"] == pytest.approx(26.6, abs=1e-9)
    assert plan["costs"]["total"] == plan["objective"]
    assert sum(x["quantity"] for x in plan["transfers"]) == 8
    assert plan["costs"]["transfer_fixed"] == 3
    assert plan["costs"]["holding"] == pytest.approx(1.6)
    assert plan["costs"]["lost_sales"] == pytest.approx(0.0)
    assert {s["name"]: s["fill_rate"] for s in plan["scenarios"]} == {"lo": 1.0, "hi": 1.0}
    assert plan["best_bound"] == pytest.approx(26.6, abs=1e-6)
    assert plan["gap"] == pytest.approx(0.0, abs=1e-9)
    assert plan["solver"]["name"] == "highs"
    assert plan["model"]["binary_variables"] == 2  # one use decision per possible ship day
