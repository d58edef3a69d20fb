"""Each promotion rule of SEEDS.md sections 1 and 5, on 1-3 SKUs, shown to bind.

Every test solves the same small request twice, without and with the rule (all other event
rules switched off by `quiet_event`), and checks the plan against a hand computation.
Prices are 20, unit costs 5, salvage 0, so a lost unit costs its price (20) and a unit left
over is worth nothing: without a rule the plan sells every unit it can.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from conftest import solve

from planner.checker import check_plan
from planner.promotion import release_schedule
from planner.schema import Presale
from planner.validation import RequestError, validate_request

LIVE = {
    "id": "live",
    "kind": "live",
    "promise_days": 3,
    "fulfilment": [{"warehouse": "W", "delivery_days": 2, "unit_cost": 1}],
}
MARKET = {
    "id": "market",
    "kind": "marketplace",
    "promise_days": 5,
    "fulfilment": [{"warehouse": "W", "delivery_days": 3, "unit_cost": 0}],
}
PRESALE = {
    "id": "presale",
    "kind": "presale",
    "promise_days": 7,
    "fulfilment": [{"warehouse": "W", "delivery_days": 2, "unit_cost": 0}],
}


def quiet_event(**rules: Any) -> dict[str, Any]:
    """An event with every rule off; `rules` switches on the one under test."""
    event: dict[str, Any] = {
        "name": "show",
        "tier": "everyday",
        "cover_days": 0,
        "emergency_buffer_share": 0,
        "live_pool_share": None,
        "live_priority_share": 0,
        "transfer_cost_cap_share": None,
        "transfer_cost_share": {},
    }
    event.update(rules)
    return event


def shop(demand: list[dict[str, Any]], units: dict[str, float], **changes: Any) -> dict[str, Any]:
    """One warehouse W holding `units` of each SKU; channels live, market, presale; one
    scenario."""
    request: dict[str, Any] = {
        "name": "shop",
        "horizon_days": 5,
        "warehouses": [{"id": "W"}],
        "skus": [{"id": k, "unit_cost": 5, "price": 20, "presale_eligible": True} for k in units],
        "stock": [{"sku": k, "warehouse": "W", "quantity": q} for k, q in units.items() if q],
        "channels": [LIVE, MARKET, PRESALE],
        "scenarios": [{"name": "base", "probability": 1, "demand": demand}],
    }
    request.update(copy.deepcopy(changes))
    return request


def planned(request: dict[str, Any]) -> dict[str, Any]:
    plan = solve(request)
    assert plan["status"] == "optimal", plan["message"]
    problems = check_plan(validate_request(request), plan)
    assert problems == [], problems[:5]
    return plan


def sold(plan: dict[str, Any], channel: str | None = None, sku: str | None = None) -> float:
    return sum(
        a["quantity"]
        for a in plan["allocations"]
        if (channel is None or a["channel"] == channel) and (sku is None or a["sku"] == sku)
    )


def lost(plan: dict[str, Any], sku: str | None = None) -> float:
    return sum(x["quantity"] for x in plan["lost_sales"] if sku is None or x["sku"] == sku)


def demand(sku: str, channel: str, quantity: float, day: int = 1) -> dict[str, Any]:
    return {"sku": sku, "channel": channel, "day": day, "quantity": quantity}


# ---- presale locks ---------------------------------------------------------------------------


def test_presale_lock_is_at_most_its_share_of_the_stock() -> None:
    # 100 units at W, presale orders for 80. Without an event all 80 ship. With a lock share of
    # at most 0.3 the presale channel sells only locked units: L <= 0.3 x 100 = 30, so 30 sell
    # and 50 are lost; the lock is reported as 30 units = 30% of the stock (a ratio).
    orders = [demand("p", "presale", 80)]
    assert sold(planned(shop(orders, {"p": 100})), "presale") == pytest.approx(80)
    plan = planned(shop(orders, {"p": 100}, event=quiet_event(presale={"max_lock_share": 0.3})))
    assert sold(plan, "presale") == pytest.approx(30)
    assert lost(plan) == pytest.approx(50)
    [lock] = plan["locks"]
    assert (lock["sku"], lock["warehouse"]) == ("p", "W")
    assert lock["units"] == pytest.approx(30)
    assert lock["share_of_stock"] == pytest.approx(0.3)


def test_locked_units_are_not_sold_by_other_channels() -> None:
    # 100 units; presale orders 30 at price 20, live orders 100. Locks up to 50%. Both pay the
    # same, so any split of the 100 units is optimal without the lock rule; with it, the 30
    # presale units must be locked (presale sells only locked units) and live may sell only
    # the 70 unlocked ones: live 70, presale 30.
    orders = [demand("p", "presale", 30), demand("p", "live", 100)]
    plan = planned(shop(orders, {"p": 100}, event=quiet_event(presale={"max_lock_share": 0.5})))
    assert sold(plan, "presale") == pytest.approx(30)
    assert sold(plan, "live") == pytest.approx(70)
    assert plan["locks"][0]["units"] >= 30 - 1e-6


# ---- emergency buffer ------------------------------------------------------------------------


def test_emergency_buffer_keeps_a_tenth_of_the_stock() -> None:
    # 100 units, live demand 100. Without the buffer all 100 sell; with 10% never allocated,
    # stock stays >= 0.1 x 100 = 10 every day: 90 sell, 10 lost.
    orders = [demand("x", "live", 100)]
    assert sold(planned(shop(orders, {"x": 100}))) == pytest.approx(100)
    plan = planned(shop(orders, {"x": 100}, event=quiet_event(emergency_buffer_share=0.1)))
    assert sold(plan) == pytest.approx(90)
    assert lost(plan) == pytest.approx(10)
    [pool] = plan["channel_pools"]
    assert pool["emergency_buffer"] == pytest.approx(10)


# ---- live pool -------------------------------------------------------------------------------


def test_live_pool_keeps_sixty_percent_for_the_live_channel() -> None:
    # 100 units, only marketplace demand (100). With a 60% live pool the other channels share
    # at most 40% of the stock: 40 sell although nothing else wants the rest.
    orders = [demand("x", "market", 100)]
    assert sold(planned(shop(orders, {"x": 100}))) == pytest.approx(100)
    plan = planned(shop(orders, {"x": 100}, event=quiet_event(live_pool_share=0.6)))
    assert sold(plan, "market") == pytest.approx(40)
    [pool] = plan["channel_pools"]
    assert pool["live_pool"] == pytest.approx(60)
    assert pool["everyday_pool"] == pytest.approx(40)


def test_live_channel_may_sell_the_whole_stock() -> None:
    # The pool only reserves: live demand 100 alone sells all 100 units.
    plan = planned(
        shop([demand("x", "live", 100)], {"x": 100}, event=quiet_event(live_pool_share=0.6))
    )
    assert sold(plan, "live") == pytest.approx(100)


# ---- channel priority ------------------------------------------------------------------------


def test_marketplace_yields_to_the_live_channel() -> None:
    # 10 units; live and marketplace each want 10 at the same price. The marketplace ships for
    # $0 a unit, live for $1, so without priority the marketplace gets all 10 (saves $10).
    # With a live priority of 25% of the price a lost live sale costs 25 against 20 for the
    # marketplace: serving live gains 5 - 1 = 4 per unit over the marketplace.
    orders = [demand("x", "live", 10), demand("x", "market", 10)]
    plain = planned(shop(orders, {"x": 10}))
    assert sold(plain, "market") == pytest.approx(10)
    plan = planned(shop(orders, {"x": 10}, event=quiet_event(live_priority_share=0.25)))
    assert sold(plan, "live") == pytest.approx(10)
    assert sold(plan, "market") == pytest.approx(0)
    [row] = plan["lost_sales"]
    assert row["unit_penalty"] == pytest.approx(20)  # the marketplace's loss, no premium


# ---- release of unpaid presale reservations --------------------------------------------------


def test_release_schedule_from_payment_probability() -> None:
    # 1000 units reserved; 60% paid by 15 min, 75% by 1 h, 85% by 4 h (the last share is all
    # that ever pays). At 15 min 400 are unpaid and each still pays with (0.85-0.6)/0.4 =
    # 0.625: at 90% confidence at most 262 of them pay (binomial(400, 0.625) has mean 250, sd
    # 9.68; 250 + 1.2816 x 9.68 = 262.4), so about 138 are released. At 1 h 250 unpaid, each
    # pays with 0.1/0.25 = 0.4 (mean 100, sd 7.75, keep ~110): release up to 140 in all. At
    # 4 h nobody pays any more: all 150 unpaid are released.
    rows = release_schedule(Presale(reservations=[{"sku": "p", "units": 1000}]))
    assert [r["after_minutes"] for r in rows] == [15, 60, 240]
    assert rows[0]["unpaid"] == pytest.approx(400)
    assert rows[0]["still_pay_probability"] == pytest.approx(0.625)
    assert 136 <= rows[0]["release_units"] <= 139
    assert 138 <= rows[1]["released_total"] <= 142
    assert rows[2]["released_total"] == pytest.approx(150)
    assert sum(r["release_units"] for r in rows) == pytest.approx(150)
    # Buyers who pay less release more, earlier: 30% / 40% / 50% paid -> at 15 min 700 unpaid,
    # each pays with 0.2 / 0.7 = 0.286 (mean 200, sd 11.95, keep ~215): ~485 released.
    slow = release_schedule(
        Presale(
            reservations=[{"sku": "p", "units": 1000}],
            payment_curve=[
                {"after_minutes": 15, "paid_share": 0.3},
                {"after_minutes": 60, "paid_share": 0.4},
                {"after_minutes": 240, "paid_share": 0.5},
            ],
        )
    )
    assert 480 <= slow[0]["release_units"] <= 490
    assert slow[2]["released_total"] == pytest.approx(500)


# ---- switch to presale on the next inbound batch ---------------------------------------------


def test_sold_out_sku_switches_to_presale_on_the_next_batch() -> None:
    # 100 units at W, 50 more in transit arriving on day 3; live wants 130 on day 1. With a
    # 10% buffer, day-1 stock must stay >= 10: 90 sell from stock. Without presale 40 are lost.
    # With the switch, the other 40 are taken on presale from the batch of day 3 (it reaches
    # the customer on day 3 + 2 = 5, 4 days after the order, within 7); day-3 stock is then
    # 10 + 50 - 40 = 20 >= the buffer 0.1 x 150 = 15.
    request = shop(
        [demand("b", "live", 130)],
        {"b": 100},
        in_transit=[{"sku": "b", "warehouse": "W", "quantity": 50, "arrival_day": 3}],
    )
    plain = planned({**request, "event": quiet_event(emergency_buffer_share=0.1)})
    assert sold(plain) == pytest.approx(90)
    assert lost(plain) == pytest.approx(40)
    plan = planned(
        {**request, "event": quiet_event(emergency_buffer_share=0.1, presale={"max_lock_share": 0})}
    )
    assert sold(plan) == pytest.approx(90)
    assert lost(plan) == pytest.approx(0)
    [row] = plan["presales"]
    assert (row["day"], row["batch_day"], row["quantity"]) == (1, 3, pytest.approx(40))
    [switch] = plan["presale_switches"]
    assert (switch["sku"], switch["warehouse"], switch["batch_day"]) == ("b", "W", 3)


# ---- event tiers -----------------------------------------------------------------------------


def test_everyday_tier_keeps_seven_days_of_cover() -> None:
    # 14 days, live demand 10 a day (140), 150 units. Without the rule all 140 sell. An everyday
    # event keeps 7 days of cover = 7 x 10 = 70 units at the end: only 80 sell.
    request = shop(
        [{"sku": "x", "channel": "live", "day": 0, "end_day": 13, "quantity": 140}],
        {"x": 150},
        horizon_days=14,
    )
    assert sold(planned(request)) == pytest.approx(140)
    plan = planned({**request, "event": quiet_event(tier="everyday", cover_days=7)})
    assert sold(plan) == pytest.approx(80)
    assert plan["stock_levels"][0]["safety_floor"] == pytest.approx(70)


@pytest.mark.parametrize(("tier", "sells"), [("everyday", 900), ("themed", 300), ("mega", 700)])
def test_event_tier_locks_supplier_capacity(tier: str, sells: float) -> None:
    # No stock; a factory (1000 a day, 1-day lead) can deliver for live demand of 900 on day 1
    # only from an order on day 0, an event day. Themed locks 30% of its capacity (300 units),
    # mega 50% plus 20% emergency (700), everyday none (all 900).
    request = shop(
        [demand("x", "live", 900)],
        {"x": 0},
        suppliers=[
            {"id": "factory", "deliver_to": ["W"], "lead_days": 1, "capacity_per_day": 1000}
        ],
        event=quiet_event(tier=tier, start_day=0, duration_days=3),
    )
    plan = planned(request)
    assert sold(plan) == pytest.approx(sells)
    reservation = plan["supplier_reservations"][0]
    assert reservation["day"] == 0
    if tier == "mega":
        assert (reservation["locked_units"], reservation["emergency_units"]) == (500, 200)
        assert reservation["emergency_used"] == pytest.approx(200)


# ---- transfer cost cap -----------------------------------------------------------------------


def two_warehouses(**event: Any) -> dict[str, Any]:
    """x (margin 15) sits at A; live is served only from B, by a $4 air lane (1 day).
    y (margin 15) sells 2 units at B from stock. Demand of x: 6 on day 1."""
    request = shop(
        [demand("x", "live", 6), demand("y", "live", 2)],
        {"y": 2},
        horizon_days=3,
        warehouses=[{"id": "A"}, {"id": "W"}],
        stock=[
            {"sku": "x", "warehouse": "A", "quantity": 10},
            {"sku": "y", "warehouse": "W", "quantity": 2},
        ],
        skus=[
            {"id": "x", "unit_cost": 5, "price": 20, "tier": "A"},
            {"id": "y", "unit_cost": 5, "price": 20, "tier": "A"},
        ],
        lanes=[{"from": "A", "to": "W", "mode": "air", "lead_days": 1, "unit_cost": 4}],
    )
    if event:
        request["event"] = quiet_event(**event)
    return request


def test_transfer_cost_is_capped_by_a_share_of_gross_margin() -> None:
    # Without a cap all 6 units of x fly ($4 each, saving a lost sale of 20). The cap is a
    # share of the expected gross margin of what sells: y's 2 units (15 each) and the q units
    # of x that fly. At 20%: 4q <= 0.2 x 15 x (2 + q) = 6 + 3q -> q <= 6, all fly. At 10%:
    # 4q <= 3 + 1.5q -> q <= 1.2, and in whole units 1 unit flies.
    assert sum(t["quantity"] for t in planned(two_warehouses())["transfers"]) == 6
    at_20 = planned(two_warehouses(transfer_cost_cap_share=0.2))
    assert sum(t["quantity"] for t in at_20["transfers"]) == 6
    plan = planned(two_warehouses(transfer_cost_cap_share=0.1))
    assert sum(t["quantity"] for t in plan["transfers"]) == 1
    assert plan["event"]["transfer_cost"] <= plan["event"]["transfer_cost_cap"] + 1e-6


# ---- response tiers --------------------------------------------------------------------------


@pytest.mark.parametrize(("tier", "flies"), [("A", 6), ("B", 0), ("C", 0)])
def test_response_tier_decides_who_may_pay_for_fast_transfers(tier: str, flies: int) -> None:
    # x needs the $4 air lane to reach W in time. Tier A pays any lane; B at most 15% of its
    # price 20 = $3 a unit ("medium"); C never transfers (existing stock only).
    request = two_warehouses(transfer_cost_share={"B": 0.15, "C": 0})
    request["skus"][0]["tier"] = tier
    plan = planned(request)
    assert sum(t["quantity"] for t in plan["transfers"] if t["sku"] == "x") == flies


def test_tier_b_transfers_by_sea_but_tier_c_never() -> None:
    # Same, with a sea lane (2 days, $1 <= $3) and demand on day 2 so sea arrives in time: B
    # ships by sea, C still keeps its stock where it is.
    for tier, moved in (("B", 6), ("C", 0)):
        request = two_warehouses(transfer_cost_share={"B": 0.15, "C": 0})
        request["skus"][0]["tier"] = tier
        request["lanes"].append(
            {"from": "A", "to": "W", "mode": "sea", "lead_days": 2, "unit_cost": 1}
        )
        request["scenarios"][0]["demand"][0]["day"] = 2
        plan = planned(request)
        assert sum(t["quantity"] for t in plan["transfers"]) == moved
        assert all(t["mode"] == "sea" for t in plan["transfers"])


# ---- substitutes -----------------------------------------------------------------------------


def test_substitute_absorbs_its_share_of_a_sold_out_skus_demand() -> None:
    # x has no stock and 10 orders; y (20 units, no demand of its own) may take 50% of x's
    # demand: 5 orders are served with y, 5 are lost. Without the rule all 10 are lost.
    orders = [demand("x", "live", 10)]
    assert lost(planned(shop(orders, {"x": 0, "y": 20}))) == pytest.approx(10)
    plan = planned(
        shop(
            orders,
            {"x": 0, "y": 20},
            policy={"substitutes": [{"sku": "x", "substitute": "y", "share": 0.5}]},
        )
    )
    [row] = plan["substitutions"]
    assert (row["sku"], row["substitute"], row["quantity"]) == ("x", "y", pytest.approx(5))
    assert lost(plan) == pytest.approx(5)


# ---- storefront offers -----------------------------------------------------------------------


def test_storefront_offers_per_warehouse_with_delivery_window() -> None:
    # SEEDS section 1: "Korea direct mail: plenty, 5-7 days; Indonesia: 200 left, 1-3 days".
    request = shop(
        [demand("blush", "live", 1000)],
        {"blush": 0},
        warehouses=[{"id": "korea"}, {"id": "indonesia"}],
        stock=[
            {"sku": "blush", "warehouse": "korea", "quantity": 5000},
            {"sku": "blush", "warehouse": "indonesia", "quantity": 200},
        ],
        channels=[
            {
                "id": "live",
                "kind": "live",
                "promise_days": 7,
                "fulfilment": [
                    {"warehouse": "indonesia", "delivery_days": 1, "delivery_days_max": 3},
                    {"warehouse": "korea", "delivery_days": 5, "delivery_days_max": 7},
                ],
            }
        ],
        event=quiet_event(),
    )
    offers = {o["warehouse"]: o for o in planned(request)["offers"]}
    assert offers["korea"]["text"] == "korea: plenty, 5-7 days"
    assert offers["indonesia"]["text"] == "indonesia: 200 left, 1-3 days"
    assert offers["indonesia"]["units"] == 200


# ---- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"event": quiet_event(live_channels=["tv"])}, "$.event.live_channels[0]"),
        ({"event": quiet_event(start_day=9)}, "$.event.start_day"),
        ({"event": quiet_event(duration_days=9)}, "$.event.duration_days"),
        (
            {
                "event": quiet_event(
                    presale={
                        "payment_curve": [
                            {"after_minutes": 15, "paid_share": 0.6},
                            {"after_minutes": 60, "paid_share": 0.5},
                        ]
                    }
                )
            },
            "$.event.presale.payment_curve[1].paid_share",
        ),
        (
            {"policy": {"substitutes": [{"sku": "x", "substitute": "x", "share": 0.5}]}},
            "$.policy.substitutes[0].substitute",
        ),
    ],
)
def test_bad_event_is_rejected_naming_the_field(change: dict[str, Any], path: str) -> None:
    with pytest.raises(RequestError) as err:
        validate_request(shop([demand("x", "live", 1)], {"x": 1}, **change))
    assert path in [e.path for e in err.value.errors]


def test_presale_demand_for_a_sku_that_cannot_presell_is_rejected() -> None:
    request = shop([demand("x", "presale", 1)], {"x": 1})
    request["skus"][0]["presale_eligible"] = False
    with pytest.raises(RequestError) as err:
        validate_request(request)
    assert err.value.errors[0].path == "$.scenarios[0].demand[0].sku"


# ---- diagnosis -------------------------------------------------------------------------------


def test_an_emergency_buffer_that_breaks_serve_all_demand_is_named() -> None:
    # 100 units, live demand 100, every unit must be served, 10% never allocated: no plan.
    # The diagnosis names the buffer (10 units at W), not "demand cannot be served in time".
    request = shop(
        [demand("x", "live", 100)],
        {"x": 100},
        policy={"serve_all_demand": True},
        event=quiet_event(emergency_buffer_share=0.1),
    )
    plan = solve(request)
    assert plan["status"] == "infeasible"
    [finding] = plan["diagnosis"]["findings"]
    assert (finding["rule"], finding["sku"], finding["warehouse"]) == ("emergency_buffer", "x", "W")
    assert finding["units"] == pytest.approx(10)


def test_a_live_pool_that_breaks_serve_all_demand_is_named() -> None:
    # Marketplace demand 100 must be served from 100 units of which 60% are kept for live.
    request = shop(
        [demand("x", "market", 100)],
        {"x": 100},
        policy={"serve_all_demand": True},
        event=quiet_event(live_pool_share=0.6),
    )
    plan = solve(request)
    assert plan["status"] == "infeasible"
    [finding] = plan["diagnosis"]["findings"]
    assert (finding["rule"], finding["units"]) == ("live_pool_reserved", pytest.approx(60))
