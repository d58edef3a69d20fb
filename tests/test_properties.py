"""Property tests: random small requests, solved end to end, re-verified by the plan checker.

Each generated request is valid by construction (it goes through ``validate_request``).
Scenario probabilities are multiples of 1/8, so they are exact in binary and sum to exactly 1.
Runs are derandomized, so CI sees the same examples every time.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from planner.checker import check_plan
from planner.pipeline import run
from planner.schema import PlanRequest
from planner.validation import validate_request
from solvers import SolveOptions

OPTIONS = SolveOptions(mip_gap=1e-9)  # in-process: tiny models, no time limit needed
TOL = 1e-6
PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

MODES = ("truck", "air", "sea")
HOLDING = (0.0, 0.0, 0.1, 0.5)
SALVAGE_FRACTIONS = (0.0, 0.0, 0.5, 1.0, -0.5)


def close(a: float, b: float, tol: float = TOL) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


@st.composite
def probabilities(draw: st.DrawFn, n: int) -> list[float]:
    """n probabilities, each a positive multiple of 1/8, summing to exactly 1."""
    eighths: list[int] = []
    left = 8
    for i in range(n - 1):
        share = draw(st.integers(1, left - (n - 1 - i)))
        eighths.append(share)
        left -= share
    eighths.append(left)
    return [e / 8 for e in eighths]


def _supplier(draw: st.DrawFn, ident: str, horizon: int, skus: list[Any], warehouses: list[str]):
    """A supplier; its prices are at least the SKU's unit cost, so salvage never pays."""
    sku_ids = [row["id"] for row in skus]
    made = draw(st.none() | st.lists(st.sampled_from(sku_ids), min_size=1, unique=True))
    min_order = draw(st.sampled_from((0, 0, 2, 6)))
    supplier: dict[str, Any] = {
        "id": ident,
        "deliver_to": draw(st.lists(st.sampled_from(warehouses), min_size=1, unique=True)),
        "lead_days": draw(st.sampled_from((0, 0, 1, 2))),
        "min_order": min_order,
        "order_fixed_cost": draw(st.sampled_from((0.0, 0.0, 3.0))),
    }
    if made is not None:
        supplier["skus"] = made
    if draw(st.booleans()):
        k = draw(st.sampled_from(made or sku_ids))
        own = next(row["unit_cost"] for row in skus if row["id"] == k)
        supplier["unit_costs"] = {k: own + draw(st.integers(0, 3))}
    if draw(st.booleans()):
        supplier["capacity_per_day"] = draw(st.integers(min_order, min_order + 10))
    if draw(st.booleans()):
        first = draw(st.integers(0, horizon - 1))
        last = draw(st.integers(first, horizon - 1))
        window = {"start_day": first, "end_day": last, "capacity": draw(st.integers(0, 15))}
        supplier["capacity_windows"] = [window]
    return supplier


@st.composite
def plan_requests(draw: st.DrawFn, serve_all: bool | None = None) -> dict[str, Any]:
    """A small, valid plan request as JSON; ``serve_all`` fixes policy.serve_all_demand."""
    horizon = draw(st.integers(1, 5))
    day = st.integers(0, horizon - 1)
    skus = [f"K{i}" for i in range(draw(st.integers(1, 3)))]
    warehouses = [f"W{i}" for i in range(draw(st.integers(2, 4)))]
    channels = [f"C{i}" for i in range(draw(st.integers(1, 3)))]

    if serve_all is None:
        serve_all = draw(st.sampled_from((False, False, True)))
    policy: dict[str, Any] = {
        "salvage_fraction": draw(st.sampled_from(SALVAGE_FRACTIONS)),
        "serve_all_demand": serve_all,
    }
    if draw(st.booleans()):
        policy["lost_sale_penalty"] = draw(st.integers(1, 40))

    sku_rows = []
    for k in skus:
        unit_cost = draw(st.integers(0, 10))
        row: dict[str, Any] = {"id": k, "unit_cost": unit_cost, "price": draw(st.integers(1, 30))}
        if draw(st.booleans()):
            row["lost_sale_penalty"] = draw(st.integers(0, 40))
        if draw(st.integers(0, 3)) == 0:  # never above the purchase cost (validation's rule)
            row["salvage_value"] = draw(st.integers(-2, unit_cost))
        sku_rows.append(row)

    # half the time all stock sits in a central warehouse with lanes out, so plans transfer
    central = warehouses[-1] if draw(st.booleans()) else None
    stock = [
        {"sku": k, "warehouse": w, "quantity": draw(st.integers(0, 12))}
        for k in skus
        for w in warehouses
        if (central is None and draw(st.booleans())) or w == central
    ]
    in_transit = [
        {
            "sku": draw(st.sampled_from(skus)),
            "warehouse": draw(st.sampled_from(warehouses)),
            "quantity": draw(st.integers(0, 8)),
            "arrival_day": draw(day),
        }
        for _ in range(draw(st.integers(0, 2)))
    ]

    warehouse_rows = []
    for w in warehouses:
        row = {"id": w, "holding_cost": draw(st.sampled_from(HOLDING))}
        if draw(st.integers(0, 2)) == 0:
            # mostly room for what is already there, sometimes (1 in 6) not even that
            held = sum(r["quantity"] for r in [*stock, *in_transit] if r["warehouse"] == w)
            low = 0 if draw(st.integers(0, 5)) == 0 else held
            row["capacity"] = draw(st.integers(low, low + 15))
        warehouse_rows.append(row)

    lanes = []
    pairs = [(a, b) for a in warehouses for b in warehouses if a != b]
    for a, b in draw(st.lists(st.sampled_from(pairs), max_size=5, unique=True)):
        lane: dict[str, Any] = {
            "from": a,
            "to": b,
            "mode": draw(st.sampled_from(MODES)),
            "lead_days": draw(st.sampled_from((0, 0, 1, 2))),
            "unit_cost": draw(st.sampled_from((0.0, 0.5, 1.0, 2.0))),
            "fixed_cost": draw(st.sampled_from((0.0, 0.0, 1.0, 5.0))),
        }
        if draw(st.booleans()):
            lane["id"] = f"L{len(lanes)}"
        if draw(st.booleans()):
            lane["capacity"] = draw(st.integers(0, 10))
        lanes.append(lane)
    if central is not None:
        for w in warehouses[:-1]:
            lane = {
                "id": f"from-central-{w}",
                "from": central,
                "to": w,
                "lead_days": draw(st.sampled_from((0, 0, 1, 2))),
                "unit_cost": draw(st.sampled_from((0.0, 0.5, 1.0))),
                "fixed_cost": draw(st.sampled_from((0.0, 1.0, 5.0))),
            }
            if draw(st.booleans()):
                lane["capacity"] = draw(st.integers(0, 10))
            lanes.append(lane)

    suppliers = [
        _supplier(draw, f"P{i}", horizon, sku_rows, warehouses)
        for i in range(draw(st.sampled_from((0, 1, 1, 2))))
    ]

    channel_rows = []
    for c in channels:
        promise = draw(st.integers(0, 3))
        serving = draw(st.lists(st.sampled_from(warehouses), min_size=1, unique=True))
        channel_rows.append(
            {
                "id": c,
                "promise_days": promise,
                "fulfilment": [
                    {
                        "warehouse": w,
                        "delivery_days": draw(st.integers(0, promise + 1)),
                        "unit_cost": draw(st.sampled_from((0.0, 0.5, 1.0))),
                    }
                    for w in serving
                ],
            }
        )

    scenarios = []
    for i, p in enumerate(draw(probabilities(draw(st.integers(1, 3))))):
        demand = []
        for _ in range(draw(st.integers(1, 5))):
            first = draw(day)
            row = {
                "sku": draw(st.sampled_from(skus)),
                "channel": draw(st.sampled_from(channels)),
                "day": first,
                "quantity": draw(st.integers(1, 12)),
            }
            if draw(st.booleans()):
                row["end_day"] = draw(st.integers(first, horizon - 1))
            demand.append(row)
        scenarios.append({"name": f"S{i}", "probability": p, "demand": demand})

    return {
        "name": "property",
        "horizon_days": horizon,
        "warehouses": warehouse_rows,
        "suppliers": suppliers,
        "skus": sku_rows,
        "stock": stock,
        "in_transit": in_transit,
        "lanes": lanes,
        "channels": channel_rows,
        "scenarios": scenarios,
        "policy": policy,
    }


def solve(data: dict[str, Any]) -> tuple[PlanRequest, dict[str, Any]]:
    request = validate_request(data)
    return request, run(request, OPTIONS)


def doing_nothing_fits(request: PlanRequest) -> bool:
    """Stock on hand plus in transit fits every warehouse even if nothing moves or sells.

    Stock cannot be thrown away, so without this even the plan that does nothing breaks a
    warehouse capacity and the request is infeasible although lost sales are allowed.
    """
    held: dict[str, float] = {w.id: 0.0 for w in request.warehouses}
    for row in [*request.stock, *request.in_transit]:
        held[row.warehouse] += row.quantity
    return all(w.capacity is None or held[w.id] <= w.capacity for w in request.warehouses)


def assert_sound(request: PlanRequest, plan: dict[str, Any]) -> None:
    """The plan is what the model promises: a checked plan, or no plan only if infeasible."""
    assert plan["status"] in ("optimal", "infeasible"), plan["message"]
    if not request.policy.serve_all_demand and doing_nothing_fits(request):
        # lost sales are allowed, so doing nothing (losing every sale) is a plan
        assert plan["status"] == "optimal", plan["message"]
    event(f"status {plan['status']}")
    for key in ("transfers", "orders", "allocations", "lost_sales"):
        event(f"{key}: {'some' if plan[key] else 'none'}")
    violations = check_plan(request, plan, TOL)
    assert violations == [], "\n".join(violations)
    if plan["status"] == "optimal":
        objective = plan["objective"]
        assert close(plan["costs"]["total"], objective)
        assert plan["best_bound"] is not None
        assert plan["best_bound"] <= objective + TOL * max(1.0, abs(objective))


@settings(PROPERTY_SETTINGS, max_examples=300)
@given(plan_requests())
def test_solved_plans_pass_the_checker(data: dict[str, Any]) -> None:
    request, plan = solve(data)
    assert_sound(request, plan)
    if plan["allocations"]:  # the checker is not vacuous on real plans: one extra unit served
        tampered = copy.deepcopy(plan)
        tampered["allocations"][0]["quantity"] += 1
        assert any("flow not conserved" in v for v in check_plan(request, tampered, TOL))


@PROPERTY_SETTINGS
@given(plan_requests(serve_all=False))
def test_serving_all_demand_is_a_restriction(data: dict[str, Any]) -> None:
    """serve_all_demand only removes plans: it never lowers the optimum, and it changes
    nothing when the unrestricted optimum already loses no sale."""
    free_request, free = solve(data)
    strict_data = copy.deepcopy(data)
    strict_data["policy"]["serve_all_demand"] = True
    strict_request, strict = solve(strict_data)
    assert_sound(free_request, free)
    assert_sound(strict_request, strict)
    if strict["status"] == "optimal":
        assert free["status"] == "optimal", free["message"]
        slack = TOL * max(1.0, abs(strict["objective"]))
        assert free["objective"] <= strict["objective"] + slack
    if free["status"] == "optimal" and not free["lost_sales"]:
        assert strict["status"] == "optimal", strict["message"]
        assert close(strict["objective"], free["objective"])


def _salvage(request: PlanRequest, sku: str) -> float:
    item = next(s for s in request.skus if s.id == sku)
    if item.salvage_value is not None:
        return item.salvage_value
    return request.policy.salvage_fraction * item.unit_cost


@PROPERTY_SETTINGS
@given(plan_requests(), st.data())
def test_more_stock_never_costs_more(data: dict[str, Any], draw: st.DataObject) -> None:
    """Adding initial stock never raises the optimal objective (or makes a plan impossible).

    It holds where the extra units can sit unused at no cost: the warehouse has no capacity
    limit (units cannot be thrown away, so a full warehouse could overflow) and no holding
    cost, and the SKU's salvage value is >= 0. Then every plan of the original request is
    still a plan, at the same cost less the salvage credit on the extra units, so the optimum
    cannot rise. The request is adjusted to meet those conditions at warehouse W0.
    """
    sku = draw.draw(st.sampled_from([row["id"] for row in data["skus"]]), label="sku")
    extra = draw.draw(st.integers(1, 10), label="extra")
    w0 = data["warehouses"][0]
    w0.pop("capacity", None)
    w0["holding_cost"] = 0.0
    if _salvage(validate_request(data), sku) < 0:
        next(row for row in data["skus"] if row["id"] == sku)["salvage_value"] = 0
    more = copy.deepcopy(data)
    row = next((r for r in more["stock"] if r["sku"] == sku and r["warehouse"] == "W0"), None)
    if row is None:
        more["stock"].append({"sku": sku, "warehouse": "W0", "quantity": extra})
    else:
        row["quantity"] += extra

    before_request, before = solve(data)
    after_request, after = solve(more)
    assert _salvage(after_request, sku) >= 0
    assert_sound(before_request, before)
    assert_sound(after_request, after)
    if before["status"] == "optimal":
        assert after["status"] == "optimal", after["message"]
        slack = TOL * max(1.0, abs(before["objective"]))
        assert after["objective"] <= before["objective"] + slack, (
            before["objective"],
            after["objective"],
        )


def test_probabilities_strategy_sums_to_one() -> None:
    @settings(max_examples=50, derandomize=True, database=None)
    @given(st.integers(1, 3).flatmap(probabilities))
    def check(ps: list[float]) -> None:
        assert math.fsum(ps) == 1.0 and sum(ps) == 1.0
        assert all(p > 0 for p in ps)

    check()
