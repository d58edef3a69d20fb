"""The rules of thumb planners use today, as a plan, so every plan can be compared with them.

SEEDS.md, sections 1 and 5: stock 100% of the conservative forecast, 70% of the optimistic
and 30% of the aggressive ("tiered stock"); place it 40 / 30 / 30 across warehouses (or the
request's own shares); give 60% of stock to the live channel and keep 40% for the rest.

How the rules become a plan:
1. Tiered quantity per SKU: scenarios sorted by the SKU's total demand, D(1) <= D(2) <= ...;
   Q = w1 D(1) + w2 (D(2) - D(1)) + w3 (D(3) - D(2)) + ..., weights (1.0, 0.7, 0.3), the last
   weight repeating for more scenarios.
2. Placement: target_kw = Q_k x share_w; default shares: equal over the warehouses that can
   serve any channel within its promise.
3. Execution, as a planner would: order the network's shortfall from the cheapest supplier
   into the warehouses short of their target (day 0, within daily capacity, at least the
   minimum order); then move surplus stock on hand (not stock still in transit or on order)
   to the warehouses still short on the cheapest direct lane that arrives within the horizon
   (day 0, within lane capacity).
4. Channel split: in each scenario, live channels may take at most 60% of a warehouse's stock
   of a SKU and the others at most 40% (a pool per warehouse and SKU).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from planner.prepare import eligible_warehouses, spread_demand
from planner.schema import ChannelKind, PlanRequest

TIER_WEIGHTS = (1.0, 0.7, 0.3)
LIVE_SHARE = 0.6


@dataclass
class FirstStage:
    """Transfers and orders of a plan: what a replay fixes before demand is known."""

    transfers: list[dict[str, Any]] = field(default_factory=list)  # sku, lane, ship_day, quantity
    orders: list[dict[str, Any]] = field(
        default_factory=list
    )  # supplier, sku, warehouse, order_day, quantity

    @classmethod
    def of_plan(cls, plan: dict[str, Any]) -> FirstStage:
        return cls(
            transfers=[
                {k: x[k] for k in ("sku", "lane", "ship_day", "quantity")}
                for x in plan.get("transfers") or []
            ],
            orders=[
                {k: o[k] for k in ("supplier", "sku", "warehouse", "order_day", "quantity")}
                for o in plan.get("orders") or []
            ],
        )


def tiered_quantity(levels: list[float], weights: tuple[float, ...] = TIER_WEIGHTS) -> float:
    """Q = sum_i w_i (D(i) - D(i-1)) over the sorted scenario demands D(i)."""
    total, previous = 0.0, 0.0
    for i, level in enumerate(sorted(levels)):
        weight = weights[min(i, len(weights) - 1)]
        total += weight * (level - previous)
        previous = level
    return total


def rule_of_thumb_targets(request: PlanRequest) -> dict[tuple[str, str], float]:
    """target_kw: tiered quantity of each SKU placed by the placement shares."""
    demand = spread_demand(request)
    per_scenario: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (s, k, _c, _t), q in demand.items():
        per_scenario[k][s] += q
    eligible = eligible_warehouses(request)
    serving = [w.id for w in request.warehouses if any(w.id in e for e in eligible.values())]
    shares = {w: 1.0 / len(serving) for w in serving} if serving else {}
    targets: dict[tuple[str, str], float] = {}
    for sku in request.skus:
        levels = [per_scenario[sku.id].get(s.name, 0.0) for s in request.scenarios]
        quantity = tiered_quantity(levels)
        for w, share in shares.items():
            targets[sku.id, w] = quantity * share
    return targets


def rule_of_thumb_first_stage(request: PlanRequest) -> FirstStage:
    """Orders and transfers that bring stock to the rule-of-thumb targets (steps 2-3)."""
    targets = rule_of_thumb_targets(request)
    position: dict[tuple[str, str], float] = defaultdict(float)  # counts toward targets
    on_hand: dict[tuple[str, str], float] = defaultdict(float)  # may ship on day 0
    for row in request.stock:
        position[row.sku, row.warehouse] += row.quantity
        on_hand[row.sku, row.warehouse] += row.quantity
    for row in request.in_transit:
        position[row.sku, row.warehouse] += row.quantity
    plan = FirstStage()
    supplier_left = {
        p.id: (p.capacity_per_day if p.capacity_per_day is not None else float("inf"))
        for p in request.suppliers
    }
    sku_cost = {s.id: s.unit_cost for s in request.skus}
    warehouses = [w.id for w in request.warehouses]

    for sku in request.skus:
        k = sku.id
        shortfall = sum(targets.get((k, w), 0.0) for w in warehouses) - sum(
            position[k, w] for w in warehouses
        )
        short_at = sorted(
            (w for w in warehouses if targets.get((k, w), 0.0) > position[k, w]),
            key=lambda w: position[k, w] - targets[k, w],
        )
        for w in short_at:
            if shortfall <= 0:
                break
            options = sorted(
                (p.unit_costs.get(k, sku_cost[k]), p.id)
                for p in request.suppliers
                if w in p.deliver_to
                and (p.skus is None or k in p.skus)
                and p.lead_days <= request.horizon_days - 1
            )
            for _cost, pid in options:
                p = next(p for p in request.suppliers if p.id == pid)
                need = min(shortfall, targets[k, w] - position[k, w])
                quantity = int(min(max(need, p.min_order), supplier_left[pid]) + 0.999999)
                quantity = int(min(quantity, supplier_left[pid]))
                if quantity <= 0 or quantity < p.min_order:
                    continue
                plan.orders.append(
                    {
                        "supplier": pid,
                        "sku": k,
                        "warehouse": w,
                        "order_day": 0,
                        "quantity": quantity,
                    }
                )
                supplier_left[pid] -= quantity
                position[k, w] += quantity
                shortfall -= quantity
                break

    lane_left = {
        lane.key: lane.capacity if lane.capacity is not None else float("inf")
        for lane in request.lanes
    }
    for sku in request.skus:
        k = sku.id
        for w in warehouses:
            need = targets.get((k, w), 0.0) - position[k, w]
            if need < 1:
                continue
            lanes = sorted(
                (lane.unit_cost, lane.key, lane)
                for lane in request.lanes
                if lane.to == w and lane.lead_days <= request.horizon_days - 1
            )
            for _cost, key, lane in lanes:
                surplus = position[k, lane.from_] - targets.get((k, lane.from_), 0.0)
                quantity = int(min(need, surplus, on_hand[k, lane.from_], lane_left[key]))
                if quantity <= 0:
                    continue
                plan.transfers.append({"sku": k, "lane": key, "ship_day": 0, "quantity": quantity})
                lane_left[key] -= quantity
                position[k, lane.from_] -= quantity
                on_hand[k, lane.from_] -= quantity
                position[k, w] += quantity
                need -= quantity
                if need < 1:
                    break
    return plan


def live_channels(request: PlanRequest) -> set[str]:
    return {c.id for c in request.channels if c.kind is ChannelKind.live}
