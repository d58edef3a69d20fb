"""Lane days already booked (``lanes[].booked_days``): the fee is paid, not charged again.

A live replan books today the lanes the plan uses today (the state may say otherwise with
``lanes_booked_today``). The hand-solved instance is tests/test_order_lanes.py's: 80 live
orders on day 0, B holds 10, A may fly orders to the customers along the air lane A -> B
(50 a day at $3 door to door, each flown order saves a $10 lost sale, so $7), fee F.

With F = 600 unbooked, flying 50 saves 350 < 600: nothing flies, cost 10 + 70 x 10 = 710.
With day 0 booked the fee is sunk, so the 50 fly: 10 + 50 x 3 + 20 x 10 = 360.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import EXACT
from test_order_lanes import checked, flight_request

from planner.checker import check_plan
from planner.pipeline import run
from planner.replan import apply_state, replan, validate_plan, validate_state
from planner.validation import RequestError, validate_request
from solvers import BACKENDS


def booked(request: dict[str, Any], days: list[int]) -> dict[str, Any]:
    request["lanes"][0]["booked_days"] = days
    return request


def two_day_show() -> dict[str, Any]:
    """80 orders on day 0 and 80 on day 1, F = 20: the plan flies 50 on each day."""
    request = flight_request(fee=20, horizon_days=2)
    request["scenarios"][0]["demand"].append(
        {"sku": "x", "channel": "live", "day": 1, "quantity": 80}
    )
    return request


@pytest.mark.parametrize("solver", sorted(BACKENDS))
def test_a_booked_day_flies_without_paying_the_fee_again(solver: str) -> None:
    assert checked(flight_request(fee=600), solver)["objective"] == pytest.approx(710)
    plan = checked(booked(flight_request(fee=600), [0]), solver)
    assert plan["objective"] == pytest.approx(360)
    [use] = plan["lane_uses"]
    assert use["order_units"] == pytest.approx(50)
    assert use["fixed_cost"] == 0 and use["booked"] is True
    assert plan["costs"]["transfer_fixed"] == 0


def test_an_unbooked_day_still_pays_the_fee() -> None:
    """Horizon 2, 80 orders on each day, F = 20, day 1 booked. Flying pays on both days.
    Day 0: B serves its 10, 50 fly, 20 lost: 10 + 150 + 20 + 200 = 380. Day 1: B is empty,
    A's last 50 fly with the fee already paid, 30 lost: 150 + 300 = 450."""
    plan = checked(booked(two_day_show(), [1]))
    assert plan["objective"] == pytest.approx(380 + 450)
    uses = {u["ship_day"]: (u["fixed_cost"], u["booked"]) for u in plan["lane_uses"]}
    assert uses == {0: (20, False), 1: (0, True)}


def test_the_transfer_cost_cap_leaves_out_a_booked_fee() -> None:
    """tests/test_order_lanes.py's capped case: rule (16) with kappa 0.15 caps transfer costs
    at 0.15 x (10 - 5) x 60 = 45, under the $100 fee, so nothing flies there (885). With the
    day booked the fee is spent already and the cap counts nothing: the 50 fly, and the 20
    lost live units cost 12.5 each: 10 + 50 x 3 + 20 x 12.5 = 410."""
    event = {
        "emergency_buffer_share": 0,
        "live_pool_share": None,
        "cover_days": 0,
        "transfer_cost_cap_share": 0.15,
    }
    plan = checked(booked(flight_request(fee=100, event=event), [0]))
    assert plan["objective"] == pytest.approx(410)
    assert sum(x["quantity"] for x in plan["order_shipments"]) == pytest.approx(50)


def test_the_checker_charges_the_fee_of_an_unbooked_day() -> None:
    request = booked(flight_request(fee=600), [0])
    plan = checked(request)
    unbooked = validate_request(flight_request(fee=600))
    problems = check_plan(unbooked, plan)
    assert any("fixed_cost 0" in p and "fee that day 600" in p for p in problems), problems
    lying = copy.deepcopy(plan)
    lying["lane_uses"][0]["booked"] = False
    assert any("booked is False" in p for p in check_plan(validate_request(request), lying))


@pytest.mark.parametrize(
    ("days", "field", "reason"),
    [
        ([1], "$.lanes[0].booked_days[0]", "outside the horizon"),
        ([0, 0], "$.lanes[0].booked_days[1]", "listed twice"),
        ([-1], "$.lanes[0].booked_days[0]", "greater than or equal to 0"),
    ],
)
def test_bad_booked_days_are_rejected_naming_the_field(
    days: list[int], field: str, reason: str
) -> None:
    with pytest.raises(RequestError) as caught:
        validate_request(booked(flight_request(), days))
    assert any(e.path == field and reason in e.reason for e in caught.value.errors), (
        caught.value.errors
    )


def test_a_replan_books_today_the_lanes_the_plan_uses_today() -> None:
    """Day 1 of the show: A has 50 left, B none; 80 orders to come. Flying 50 costs 150 and
    30 are lost (300): 450, with the fee already paid; told nothing was booked, 470."""
    raw = two_day_show()
    request = validate_request(raw)
    plan = run(request, EXACT)
    assert {(u["ship_day"], u["booked"]) for u in plan["lane_uses"]} == {(0, False), (1, False)}
    validate_plan(plan, request)
    state_raw: dict[str, Any] = {
        "as_of_day": 1,
        "stock": [{"sku": "x", "warehouse": "A", "quantity": 50}],
    }
    state = validate_state(state_raw, request, plan)
    rebased = apply_state(request, plan, state)
    assert rebased.lanes[0].booked_days == (0,)
    again = replan(request, plan, state, EXACT)
    assert again["objective"] == pytest.approx(450)
    assert check_plan(rebased, again) == []

    nothing_booked = validate_state({**state_raw, "lanes_booked_today": []}, request, plan)
    assert apply_state(request, plan, nothing_booked).lanes[0].booked_days == ()
    assert replan(request, plan, nothing_booked, EXACT)["objective"] == pytest.approx(470)


def test_a_replan_rebases_days_booked_ahead() -> None:
    raw = booked(two_day_show(), [0, 1])
    request = validate_request(raw)
    plan = run(request, EXACT)
    state = validate_state({"as_of_day": 1, "stock": [], "lanes_booked_today": []}, request, plan)
    assert apply_state(request, plan, state).lanes[0].booked_days == (0,)


def test_a_state_booking_an_unknown_lane_is_rejected() -> None:
    request = validate_request(two_day_show())
    plan = run(request, EXACT)
    with pytest.raises(RequestError) as caught:
        validate_state({"as_of_day": 1, "stock": [], "lanes_booked_today": ["A-C-air"]}, request)
    [error] = caught.value.errors
    assert error.path == "$.lanes_booked_today[0]" and "A-C-air" in error.reason
    twice = {"as_of_day": 1, "stock": [], "lanes_booked_today": ["A-B-air", "A-B-air"]}
    with pytest.raises(RequestError) as caught:
        validate_state(twice, request)
    [error] = caught.value.errors
    assert error.path == "$.lanes_booked_today[1]" and "listed twice" in error.reason
    bad = {
        **plan,
        "lane_uses": [
            {"lane": "nowhere", "ship_day": "today"},
            {"lane": ["A-B-air"], "ship_day": 0},
        ],
    }
    with pytest.raises(RequestError) as caught:
        validate_plan(bad, request)
    fields = {e.path for e in caught.value.errors}
    assert fields == {"$.lane_uses[0].lane", "$.lane_uses[0].ship_day", "$.lane_uses[1].lane"}


def test_a_replan_on_day_0_books_nothing_by_default() -> None:
    """The plan was made on day 0: its day-0 flights are not booked yet, so an unchanged
    state replans at the plan's own cost (380 + 470 = 850), day 0's $20 fee included."""
    request = validate_request(two_day_show())
    plan = run(request, EXACT)
    state = validate_state({}, request, plan)
    assert apply_state(request, plan, state).lanes[0].booked_days == ()
    assert plan["objective"] == pytest.approx(850)
    assert replan(request, plan, state, EXACT)["objective"] == pytest.approx(850)


def test_a_plan_without_lane_uses_books_the_lanes_it_transfers_on() -> None:
    request = validate_request(two_day_show())
    plan = run(request, EXACT)
    transfer = {"sku": "x", "lane": "A-B-air", "ship_day": 1, "quantity": 5}
    older = {"transfers": [transfer], "orders": [], "allocations": []}
    state = validate_state({"as_of_day": 1, "stock": []}, request, older)
    assert apply_state(request, older, state).lanes[0].booked_days == (0,)
    assert apply_state(request, plan, state).lanes[0].booked_days == (0,)  # from lane_uses
