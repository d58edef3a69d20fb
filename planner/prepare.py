"""Request -> model data: resolve defaults and business rules into plain parameters."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from models.data import LaneData, NetworkData, SupplierData
from planner.schema import ChannelKind, EventTier, PlanRequest, SafetyStock, Sku, Tier


def lost_sale_penalty(sku: Sku, request: PlanRequest) -> float:
    """A lost unit costs its own penalty, else the policy's, else its price (lost revenue).

    With the price as penalty the objective equals cost minus revenue plus a constant, so the
    plan maximises expected profit.
    """
    if sku.lost_sale_penalty is not None:
        return sku.lost_sale_penalty
    if request.policy.lost_sale_penalty is not None:
        return request.policy.lost_sale_penalty
    return sku.price


def salvage_value(sku: Sku, request: PlanRequest) -> float:
    if sku.salvage_value is not None:
        return sku.salvage_value
    return request.policy.salvage_fraction * sku.unit_cost


def spread_demand(request: PlanRequest) -> dict[tuple[str, str, str, int], float]:
    """Demand per (scenario, sku, channel, day); bucket rows are spread evenly over their days."""
    demand: dict[tuple[str, str, str, int], float] = defaultdict(float)
    for sc in request.scenarios:
        for row in sc.demand:
            last = row.day if row.end_day is None else row.end_day
            days = range(row.day, last + 1)
            for t in days:
                demand[sc.name, row.sku, row.channel, t] += row.quantity / len(days)
    return {key: q for key, q in demand.items() if q > 0}


def eligible_warehouses(request: PlanRequest) -> dict[str, tuple[str, ...]]:
    """Warehouses whose delivery days meet each channel's promise."""
    return {
        ch.id: tuple(f.warehouse for f in ch.fulfilment if f.delivery_days <= ch.promise_days)
        for ch in request.channels
    }


TIER_THRESHOLDS = ((0.08, Tier.A), (0.03, Tier.B))  # conversion rate > 8% A, >= 3% B, else C


def sku_tier(sku: Sku) -> Tier | None:
    """The given tier, else derived from the conversion rate (> 8% A, 3-8% B, < 3% C)."""
    if sku.tier is not None:
        return sku.tier
    if sku.conversion_rate is None:
        return None
    for threshold, tier in TIER_THRESHOLDS:
        if sku.conversion_rate > threshold or (tier is Tier.B and sku.conversion_rate >= threshold):
            return tier
    return Tier.C


def service_targets(request: PlanRequest) -> tuple[dict[str, float], dict[str, float]]:
    """Fill-rate and no-stock-out targets per SKU, from its tier's service level."""
    fill, no_stockout = {}, {}
    for sku in request.skus:
        tier = sku_tier(sku)
        target = request.policy.service_levels.get(tier) if tier is not None else None
        if target is None:
            continue
        if target.fill_rate is not None:
            fill[sku.id] = target.fill_rate
        if target.no_stockout_probability is not None:
            no_stockout[sku.id] = target.no_stockout_probability
    return fill, no_stockout


def safety_floors(
    request: PlanRequest,
    demand: dict[tuple[str, str, str, int], float],
    eligible: dict[str, tuple[str, ...]],
) -> dict[tuple[str, str], float]:
    """G_kw: days of cover x the warehouse's expected daily sales of the SKU.

    A warehouse's daily sales of k: the expected daily demand of k in every channel it may
    serve, shared equally among the warehouses that may serve that channel.
    """
    probability = {s.name: s.probability for s in request.scenarios}
    rate: dict[tuple[str, str], float] = defaultdict(float)
    for (s, k, c, _t), q in demand.items():
        for w in eligible[c]:
            rate[k, w] += probability[s] * q / request.horizon_days / len(eligible[c])
    hot = {s.id for s in request.skus if s.hot_signal}
    floors: dict[tuple[str, str], float] = {}
    for rule in [*request.policy.safety_stock, *event_cover_rules(request)]:
        for k in [rule.sku] if rule.sku else [s.id for s in request.skus]:
            days = (
                rule.hot_signal_days if k in hot and rule.hot_signal_days is not None else rule.days
            )
            units = days * rate.get((k, rule.warehouse), 0.0)
            if units > 0:
                floors[k, rule.warehouse] = max(floors.get((k, rule.warehouse), 0.0), units)
    return floors


def event_cover_rules(request: PlanRequest) -> list[SafetyStock]:
    """Everyday-tier events keep `cover_days` of cover at every warehouse (SEEDS.md section 5)."""
    event = request.event
    if event is None or event.tier is not EventTier.everyday or event.cover_days <= 0:
        return []
    return [SafetyStock(warehouse=w.id, days=event.cover_days) for w in request.warehouses]


TIER_CAPACITY_SHARES = {  # (locked, emergency) share of supplier capacity on event days
    EventTier.everyday: (1.0, 0.0),
    EventTier.themed: (0.3, 0.0),
    EventTier.mega: (0.5, 0.2),
}


def live_channels(request: PlanRequest) -> tuple[str, ...]:
    event = request.event
    if event is not None and event.live_channels is not None:
        return tuple(event.live_channels)
    return tuple(c.id for c in request.channels if c.kind is ChannelKind.live)


def event_parameters(request: PlanRequest) -> dict[str, Any]:
    """The event's rules as model parameters (fields of NetworkData); none without an event."""
    event = request.event
    if event is None:
        return {}
    live = live_channels(request)
    presale_channels = tuple(c.id for c in request.channels if c.kind is ChannelKind.presale)
    locked, emergency = TIER_CAPACITY_SHARES[event.tier]
    if event.capacity_lock_share is not None:
        locked = event.capacity_lock_share
    if event.emergency_capacity_share is not None:
        emergency = event.emergency_capacity_share
    transfer_cost_limit: dict[str, float] = {}
    for sku in request.skus:
        tier = sku_tier(sku)
        if tier is not None and tier in event.transfer_cost_share:
            transfer_cost_limit[sku.id] = event.transfer_cost_share[tier] * sku.price
    eligible = tuple(s.id for s in request.skus if s.presale_eligible)
    presale = event.presale
    return {
        "emergency_buffer_share": event.emergency_buffer_share,
        "presale_channels": presale_channels,
        "lock_skus": eligible if presale is not None else (),
        "max_lock_share": presale.max_lock_share if presale is not None else 0.0,
        "live_channels": live,
        "live_pool_share": event.live_pool_share,
        "lost_sale_premium": {
            (s.id, c): event.live_priority_share * s.price
            for s in request.skus
            for c in live
            if event.live_priority_share * s.price > 0
        },
        "transfer_cost_cap_share": event.transfer_cost_cap_share,
        # a SKU sold at a loss adds nothing to the margin the transfer cap is a share of
        "gross_margin": {s.id: max(0.0, s.price - s.unit_cost) for s in request.skus},
        "transfer_cost_limit": transfer_cost_limit,
        "event_days": tuple(range(event.start_day, event.end_day + 1)),
        "capacity_lock_share": locked,
        "emergency_capacity_share": emergency,
        "switch_skus": eligible
        if presale is not None and presale.switch_ship_days is not None
        else (),
        "switch_ship_days": presale.switch_ship_days if presale is not None else None,
        "presale_discount": {
            s.id: presale.discount_share * s.price for s in request.skus if presale is not None
        },
    }


def network_data(request: PlanRequest) -> NetworkData:
    sku_ids = tuple(s.id for s in request.skus)
    sku_cost = {s.id: s.unit_cost for s in request.skus}
    initial: dict[tuple[str, str], float] = {}
    for row in request.stock:
        if row.quantity > 0:
            initial[row.sku, row.warehouse] = row.quantity
    demand = spread_demand(request)
    eligible = eligible_warehouses(request)
    fill, no_stockout = service_targets(request)
    inbound: dict[tuple[str, str, int], float] = defaultdict(float)
    for row in request.in_transit:
        if row.quantity > 0:
            inbound[row.sku, row.warehouse, row.arrival_day] += row.quantity
    return NetworkData(
        horizon_days=request.horizon_days,
        skus=sku_ids,
        warehouses=tuple(w.id for w in request.warehouses),
        channels=tuple(c.id for c in request.channels),
        scenarios=tuple(s.name for s in request.scenarios),
        lanes=tuple(
            LaneData(
                key=lane.key,
                origin=lane.from_,
                destination=lane.to,
                mode=lane.mode.value,
                lead_days=lane.lead_days,
                unit_cost=lane.unit_cost,
                fixed_cost=lane.fixed_cost,
                capacity=lane.capacity,
                booked_days=frozenset(lane.booked_days),
            )
            for lane in request.lanes
        ),
        suppliers=tuple(
            SupplierData(
                id=p.id,
                deliver_to=tuple(p.deliver_to),
                skus=tuple(p.skus) if p.skus is not None else sku_ids,
                lead_days=p.lead_days,
                unit_cost={k: p.unit_costs.get(k, sku_cost[k]) for k in (p.skus or sku_ids)},
                capacity_per_day=p.capacity_per_day,
                capacity_windows=tuple(
                    (w.start_day, w.end_day, w.capacity) for w in p.capacity_windows
                ),
                min_order=p.min_order,
                order_fixed_cost=p.order_fixed_cost,
            )
            for p in request.suppliers
        ),
        probability={s.name: s.probability for s in request.scenarios},
        initial_stock=initial,
        inbound=dict(inbound),
        demand=demand,
        eligible=eligible,
        fulfilment_cost={
            (ch.id, f.warehouse): f.unit_cost for ch in request.channels for f in ch.fulfilment
        },
        delivery_days={
            (ch.id, f.warehouse): f.delivery_days for ch in request.channels for f in ch.fulfilment
        },
        promise_days={ch.id: ch.promise_days for ch in request.channels},
        order_lane={
            (ch.id, f.warehouse): f.lane
            for ch in request.channels
            for f in ch.fulfilment
            if f.lane is not None
        },
        holding_cost={w.id: w.holding_cost for w in request.warehouses},
        warehouse_capacity={w.id: w.capacity for w in request.warehouses},
        lost_sale_penalty={s.id: lost_sale_penalty(s, request) for s in request.skus},
        salvage_value={s.id: salvage_value(s, request) for s in request.skus},
        serve_all_demand=request.policy.serve_all_demand,
        fill_rate_target=fill,
        no_stockout_target=no_stockout,
        safety_floor=safety_floors(request, demand, eligible),
        sku_tier={s.id: t.value for s in request.skus if (t := sku_tier(s)) is not None},
        substitutes=tuple((x.sku, x.substitute, x.share) for x in request.policy.substitutes),
        **event_parameters(request),
    )
