"""An independent checker for plans: does a plan obey the request and docs/plan-format.md?

Why it exists: the optimisation model and the code that turns solver values into a plan are
complex enough to hide bugs (an off-by-one lead time, a constraint indexed over the wrong set,
a cost term dropped from the objective, a rounding step that breaks stock balance). This module
is a second, deliberately independent derivation of every rule and every cost, written from the
request and the plan JSON alone. It does not import pyomo, the model, the solvers or
:mod:`planner.prepare`; the few default rules it needs (lost-sale penalty, salvage value, demand
buckets, promise eligibility, and a promotion event's rules: live channels, tier capacity
shares, cover days, the next inbound batch of a presale) are re-implemented here on purpose, so
that a mistake in one derivation is caught by the other instead of being shared by both.

:func:`check_plan` returns human-readable violations; an empty list means the plan is valid.
Every message names the SKU / warehouse / lane / supplier / channel / day / scenario involved.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from planner.schema import (
    Channel,
    ChannelKind,
    Event,
    EventTier,
    Fulfilment,
    Lane,
    PlanRequest,
    SafetyStock,
    Sku,
    Supplier,
    Warehouse,
)
from planner.uncertainty import expand_scenarios

PLAN_STATUSES = ("optimal", "feasible")
NO_PLAN_STATUSES = ("infeasible", "time_limit_no_solution", "error")
COST_KEYS = (
    "transfer_fixed",
    "transfer",
    "order_fixed",
    "purchase",
    "fulfilment",
    "holding",
    "lost_sales",
    "salvage",
)
FIRST_STAGE_COSTS = ("transfer_fixed", "transfer", "order_fixed", "purchase")
SECOND_STAGE_COSTS = ("fulfilment", "holding", "lost_sales", "presale_discount", "salvage")
# cost lines a plan may leave out when they are zero (plans from before events existed)
OPTIONAL_COSTS = ("presale_discount",)

Row = dict[str, Any]
StockKey = tuple[str, str, str]  # (scenario, sku, warehouse)
DemandKey = tuple[str, str, str, int]  # (scenario, sku, channel, day)

_STR, _NUM, _DAY, _OPT_NUM = "str", "num", "day", "num|null"
ROW_FIELDS: dict[str, dict[str, str]] = {
    "transfers": {
        "sku": _STR, "from": _STR, "to": _STR, "mode": _STR, "lane": _STR, "quantity": _NUM,
        "ship_day": _DAY, "arrive_day": _DAY, "unit_cost": _NUM, "cost": _NUM,
    },
    "lane_uses": {
        "lane": _STR, "from": _STR, "to": _STR, "mode": _STR, "ship_day": _DAY, "units": _NUM,
        "capacity": _OPT_NUM, "fixed_cost": _NUM,
    },
    "orders": {
        "supplier": _STR, "sku": _STR, "warehouse": _STR, "quantity": _NUM, "order_day": _DAY,
        "arrive_day": _DAY, "unit_cost": _NUM, "cost": _NUM,
    },
    "order_days": {"supplier": _STR, "order_day": _DAY, "units": _NUM, "fixed_cost": _NUM},
    "stock_levels": {
        "sku": _STR, "warehouse": _STR, "initial": _NUM, "in_transit": _NUM, "orders_in": _NUM,
        "transfers_in": _NUM, "transfers_out": _NUM, "available": _NUM,
        "expected_served": _NUM, "expected_leftover": _NUM,
    },
    "allocations": {
        "sku": _STR, "warehouse": _STR, "channel": _STR, "scenario": _STR, "day": _DAY,
        "quantity": _NUM, "unit_cost": _NUM, "cost": _NUM,
    },
    "order_shipments": {
        "sku": _STR, "channel": _STR, "scenario": _STR, "from": _STR, "to": _STR, "mode": _STR,
        "lane": _STR, "quantity": _NUM, "ship_day": _DAY, "deliver_day": _DAY,
    },
    "lost_sales": {
        "sku": _STR, "channel": _STR, "scenario": _STR, "day": _DAY, "quantity": _NUM,
        "unit_penalty": _NUM, "cost": _NUM,
    },
    "substitutions": {
        "sku": _STR, "substitute": _STR, "warehouse": _STR, "channel": _STR, "scenario": _STR,
        "day": _DAY, "quantity": _NUM, "unit_cost": _NUM, "cost": _NUM,
    },
    "presales": {
        "sku": _STR, "warehouse": _STR, "channel": _STR, "scenario": _STR, "day": _DAY,
        "batch_day": _DAY, "quantity": _NUM, "unit_cost": _NUM, "unit_discount": _NUM,
        "cost": _NUM,
    },
    "locks": {"sku": _STR, "warehouse": _STR, "units": _NUM, "stock": _NUM,
              "share_of_stock": _NUM},
    "scenarios": {
        "name": _STR, "probability": _NUM, "demand": _NUM, "served": _NUM, "lost": _NUM,
        "fill_rate": _OPT_NUM, "cost": _NUM,
    },
}  # fmt: skip
KPI_FIELDS = {
    "expected_demand": _NUM,
    "expected_served": _NUM,
    "expected_fill_rate": _OPT_NUM,
    "expected_lost_units": _NUM,
    "transfer_units": _NUM,
    "order_units": _NUM,
    "days_of_supply": _OPT_NUM,
}
PLAN_LISTS = (
    "transfers",
    "lane_uses",
    "orders",
    "order_days",
    "allocations",
    "order_shipments",
    "lost_sales",
    "substitutions",
    "presales",
)


# --------------------------------------------------------------------------------------------
# Default rules, re-derived from the request (deliberately not imported from planner.prepare)
# --------------------------------------------------------------------------------------------


def resolved_lost_sale_penalty(sku: Sku, request: PlanRequest) -> float:
    """The SKU's own penalty, else the policy's, else the SKU's price."""
    if sku.lost_sale_penalty is not None:
        return sku.lost_sale_penalty
    if request.policy.lost_sale_penalty is not None:
        return request.policy.lost_sale_penalty
    return sku.price


def resolved_salvage_value(sku: Sku, request: PlanRequest) -> float:
    """The SKU's own salvage value, else policy.salvage_fraction * unit_cost."""
    if sku.salvage_value is not None:
        return sku.salvage_value
    return request.policy.salvage_fraction * sku.unit_cost


def demand_by_day(request: PlanRequest) -> dict[DemandKey, float]:
    """Demand per (scenario, sku, channel, day); a bucket row is spread evenly over its days."""
    demand: dict[DemandKey, float] = defaultdict(float)
    for scenario in request.scenarios:
        for row in scenario.demand:
            last = row.day if row.end_day is None else row.end_day
            n_days = last - row.day + 1
            for day in range(row.day, last + 1):
                demand[scenario.name, row.sku, row.channel, day] += row.quantity / n_days
    return dict(demand)


def supplier_unit_cost(supplier: Supplier, sku: Sku) -> float:
    return supplier.unit_costs.get(sku.id, sku.unit_cost)


def supplier_makes(supplier: Supplier, sku_id: str) -> bool:
    return supplier.skus is None or sku_id in supplier.skus


# ---- a promotion event (request.event): its rules, re-derived from the schema's docs --------

# (locked, emergency) share of supplier capacity usable on event days, by event tier
EVENT_CAPACITY_SHARES = {
    EventTier.everyday: (1.0, 0.0),
    EventTier.themed: (0.3, 0.0),
    EventTier.mega: (0.5, 0.2),
}


def event_live_channels(request: PlanRequest) -> set[str]:
    """The event's live channels: as listed, else every channel of kind live; none without
    an event."""
    event = request.event
    if event is None:
        return set()
    if event.live_channels is not None:
        return set(event.live_channels)
    return {c.id for c in request.channels if c.kind == ChannelKind.live}


def event_presale_channels(request: PlanRequest) -> set[str]:
    """Channels of kind presale; they sell only locked units, and only with an event."""
    if request.event is None:
        return set()
    return {c.id for c in request.channels if c.kind == ChannelKind.presale}


def lost_sale_premium(request: PlanRequest) -> dict[tuple[str, str], float]:
    """(sku, channel) -> extra cost of a lost live sale: live_priority_share x price."""
    event = request.event
    if event is None:
        return {}
    return {
        (sku.id, c): event.live_priority_share * sku.price
        for sku in request.skus
        for c in event_live_channels(request)
    }


def presale_discount(request: PlanRequest) -> dict[str, float]:
    """sku -> price cut of one unit sold on presale: discount_share x price."""
    event = request.event
    if event is None or event.presale is None:
        return {}
    return {sku.id: event.presale.discount_share * sku.price for sku in request.skus}


def usable_capacity_share(event: Event) -> float:
    """Share of a supplier's daily capacity an order may use on an event day."""
    locked, emergency = EVENT_CAPACITY_SHARES[event.tier]
    if event.capacity_lock_share is not None:
        locked = event.capacity_lock_share
    if event.emergency_capacity_share is not None:
        emergency = event.emergency_capacity_share
    return locked + emergency


def event_safety_rules(request: PlanRequest) -> list[SafetyStock]:
    """An everyday-tier event keeps cover_days of cover at every warehouse."""
    event = request.event
    if event is None or event.tier != EventTier.everyday or event.cover_days <= 0:
        return []
    return [SafetyStock(warehouse=w.id, days=event.cover_days) for w in request.warehouses]


# --------------------------------------------------------------------------------------------
# Shared facts: the request indexed, plus the plan's physical stock re-simulated
# --------------------------------------------------------------------------------------------


@dataclass
class Facts:
    request: PlanRequest
    plan: Mapping[str, Any]
    tol: float
    horizon: int = 0
    skus: dict[str, Sku] = field(default_factory=dict)
    warehouses: dict[str, Warehouse] = field(default_factory=dict)
    lanes: dict[str, Lane] = field(default_factory=dict)
    suppliers: dict[str, Supplier] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    probability: dict[str, float] = field(default_factory=dict)
    demand: dict[DemandKey, float] = field(default_factory=dict)
    penalty: dict[str, float] = field(default_factory=dict)
    salvage: dict[str, float] = field(default_factory=dict)
    # event rules (all empty without request.event)
    live: set[str] = field(default_factory=set)
    presale_channels: set[str] = field(default_factory=set)
    premium: dict[tuple[str, str], float] = field(default_factory=dict)  # (sku, channel)
    discount: dict[str, float] = field(default_factory=dict)  # sku -> presale price cut
    # stock[(scenario, sku, warehouse)][day] = end-of-day stock
    stock: dict[StockKey, list[float]] = field(default_factory=dict)

    def rows(self, key: str) -> list[Row]:
        return list(self.plan.get(key) or [])

    def close(self, got: float, want: float) -> bool:
        return abs(got - want) <= self.tol * max(1.0, abs(want))

    def within(self, value: float, limit: float) -> bool:
        return value <= limit + self.tol * max(1.0, abs(limit))

    def positive(self, value: float) -> bool:
        """More than numerical noise."""
        return value > self.tol


def build_facts(request: PlanRequest, plan: Mapping[str, Any], tol: float) -> Facts:
    facts = Facts(
        request=request,
        plan=plan,
        tol=tol,
        horizon=request.horizon_days,
        skus={s.id: s for s in request.skus},
        warehouses={w.id: w for w in request.warehouses},
        lanes={lane.key: lane for lane in request.lanes},
        suppliers={p.id: p for p in request.suppliers},
        channels={c.id: c for c in request.channels},
        probability={s.name: s.probability for s in request.scenarios},
        demand=demand_by_day(request),
        penalty={s.id: resolved_lost_sale_penalty(s, request) for s in request.skus},
        salvage={s.id: resolved_salvage_value(s, request) for s in request.skus},
        live=event_live_channels(request),
        presale_channels=event_presale_channels(request),
        premium=lost_sale_premium(request),
        discount=presale_discount(request),
    )
    facts.stock = end_of_day_stock(facts)
    return facts


def lost_penalty(facts: Facts, sku: str, channel: str) -> float:
    """A lost unit's penalty: the SKU's, plus the live-priority premium in a live channel."""
    return facts.penalty[sku] + facts.premium.get((sku, channel), 0.0)


def next_batch_day(facts: Facts, sku: str, warehouse: str, day: int) -> int | None:
    """The first day after `day` an inbound batch of the SKU can reach the warehouse inside
    the horizon: stock in transit arriving then, or the first delivery an order could make
    (an order placed on day 0 arrives after the supplier's lead days)."""
    h = facts.horizon
    days = [
        row.arrival_day
        for row in facts.request.in_transit
        if row.sku == sku and row.warehouse == warehouse and row.quantity > 0
        and day < row.arrival_day < h
    ]  # fmt: skip
    leads = [
        p.lead_days
        for p in facts.suppliers.values()
        if supplier_makes(p, sku) and warehouse in p.deliver_to and p.lead_days < h
    ]
    if leads and max(day + 1, min(leads)) < h:
        days.append(max(day + 1, min(leads)))
    return min(days) if days else None


def presale_stock_day(facts: Facts, row: Row) -> int:
    """The day a presale takes its units from the warehouse: the batch the request allows
    (the row's own batch_day when the request allows none; that row is reported)."""
    batch = next_batch_day(facts, row["sku"], row["warehouse"], row["day"])
    return row["batch_day"] if batch is None else batch


def transfer_arrival(facts: Facts, t: Row) -> int:
    """Where the request says the transfer arrives: ship_day + the lane's lead days."""
    lane = facts.lanes.get(t["lane"])
    return t["ship_day"] + lane.lead_days if lane else t["arrive_day"]


def order_arrival(facts: Facts, o: Row) -> int:
    supplier = facts.suppliers.get(o["supplier"])
    return o["order_day"] + supplier.lead_days if supplier else o["arrive_day"]


def first_stage_flows(facts: Facts) -> dict[tuple[str, str], list[float]]:
    """Net stock change per (sku, warehouse) and day from everything that is not an allocation.

    Transfers move along their lane (origin, destination and lead from the request when the
    lane exists); anything arriving outside the horizon never arrives.
    """
    h = facts.horizon
    net: dict[tuple[str, str], list[float]] = {
        (k, w): [0.0] * h for k in facts.skus for w in facts.warehouses
    }

    def add(sku: str, warehouse: str, day: int, qty: float) -> None:
        if (sku, warehouse) in net and 0 <= day < h:
            net[sku, warehouse][day] += qty

    for row in facts.request.stock:
        add(row.sku, row.warehouse, 0, row.quantity)
    for row in facts.request.in_transit:
        add(row.sku, row.warehouse, row.arrival_day, row.quantity)
    for t in facts.rows("transfers"):
        lane = facts.lanes.get(t["lane"])
        origin, destination = (lane.from_, lane.to) if lane else (t["from"], t["to"])
        add(t["sku"], origin, t["ship_day"], -t["quantity"])
        add(t["sku"], destination, transfer_arrival(facts, t), t["quantity"])
    for o in facts.rows("orders"):
        add(o["sku"], o["warehouse"], order_arrival(facts, o), o["quantity"])
    return net


def end_of_day_stock(facts: Facts) -> dict[StockKey, list[float]]:
    """End-of-day stock for every scenario, SKU, warehouse and day, simulated from the plan."""
    net = first_stage_flows(facts)
    served: dict[StockKey, list[float]] = {
        (s, k, w): [0.0] * facts.horizon for s in facts.probability for (k, w) in net
    }

    def take(s: str, k: str, w: str, day: int, qty: float) -> None:
        if (s, k, w) in served and 0 <= day < facts.horizon:
            served[s, k, w][day] += qty

    for a in facts.rows("allocations"):
        take(a["scenario"], a["sku"], a["warehouse"], a["day"], a["quantity"])
    for x in facts.rows("substitutions"):  # the substitute's stock serves the SKU's demand
        take(x["scenario"], x["substitute"], x["warehouse"], x["day"], x["quantity"])
    for x in facts.rows("presales"):  # taken on `day`, leaves the warehouse on the batch day
        take(x["scenario"], x["sku"], x["warehouse"], presale_stock_day(facts, x), x["quantity"])
    stock: dict[StockKey, list[float]] = {}
    for (s, k, w), out in served.items():
        level, levels = 0.0, []
        for day in range(facts.horizon):
            level += net[k, w][day] - out[day]
            levels.append(level)
        stock[s, k, w] = levels
    return stock


def served_by_key(facts: Facts) -> dict[DemandKey, float]:
    served: dict[DemandKey, float] = defaultdict(float)
    for a in facts.rows("allocations"):
        served[a["scenario"], a["sku"], a["channel"], a["day"]] += a["quantity"]
    return dict(served)


def substituted_by_key(facts: Facts) -> dict[DemandKey, float]:
    """Demand of (scenario, sku, channel, day) met by a substitute SKU."""
    out: dict[DemandKey, float] = defaultdict(float)
    for x in facts.rows("substitutions"):
        out[x["scenario"], x["sku"], x["channel"], x["day"]] += x["quantity"]
    return dict(out)


def presold_by_key(facts: Facts) -> dict[DemandKey, float]:
    """Demand of (scenario, sku, channel, day) taken on presale."""
    out: dict[DemandKey, float] = defaultdict(float)
    for x in facts.rows("presales"):
        out[x["scenario"], x["sku"], x["channel"], x["day"]] += x["quantity"]
    return dict(out)


def met_by_key(facts: Facts) -> dict[DemandKey, float]:
    """Demand met in any way: served from the SKU's stock, by a substitute, or on presale."""
    out: dict[DemandKey, float] = defaultdict(float)
    for part in (served_by_key(facts), substituted_by_key(facts), presold_by_key(facts)):
        for key, qty in part.items():
            out[key] += qty
    return dict(out)


def sales_by_stock(facts: Facts) -> dict[tuple[str, str, str, str], float]:
    """Units of (scenario, sku, warehouse) stock sold to each channel, by allocation or as a
    substitute; presales are left out (see :func:`check_presale_locks`)."""
    out: dict[tuple[str, str, str, str], float] = defaultdict(float)
    for a in facts.rows("allocations"):
        out[a["scenario"], a["sku"], a["warehouse"], a["channel"]] += a["quantity"]
    for x in facts.rows("substitutions"):
        out[x["scenario"], x["substitute"], x["warehouse"], x["channel"]] += x["quantity"]
    return dict(out)


def net_supply(facts: Facts) -> dict[tuple[str, str], float]:
    """N_kw: units of the SKU at the warehouse over the horizon (stock, arrivals, transfers
    in, less transfers out): what the plan makes available there."""
    return {key: math.fsum(flows) for key, flows in first_stage_flows(facts).items()}


def lost_by_key(facts: Facts) -> dict[DemandKey, float]:
    lost: dict[DemandKey, float] = defaultdict(float)
    for row in facts.rows("lost_sales"):
        lost[row["scenario"], row["sku"], row["channel"], row["day"]] += row["quantity"]
    return dict(lost)


def lane_day_units(facts: Facts) -> dict[tuple[str, int], float]:
    units: dict[tuple[str, int], float] = defaultdict(float)
    for t in facts.rows("transfers"):
        units[t["lane"], t["ship_day"]] += t["quantity"]
    return dict(units)


OrderLoad = dict[tuple[str, str, int], dict[tuple[str, str], float]]


def order_lane_loads(facts: Facts) -> OrderLoad:
    """(scenario, lane, ship day) -> {(sku, channel): units}: the plan's allocations,
    substitutions and presales whose fulfilment travels a lane (the stock's SKU; a presale
    ships on its batch day)."""
    loads: OrderLoad = defaultdict(lambda: defaultdict(float))
    rows = [(x, x["sku"], x["day"]) for x in facts.rows("allocations")]
    rows += [(x, x["substitute"], x["day"]) for x in facts.rows("substitutions")]
    rows += [(x, x["sku"], x["batch_day"]) for x in facts.rows("presales")]
    for x, sku, day in rows:
        route = _route(facts, x["channel"], x["warehouse"])
        if route is not None and route.lane is not None and facts.positive(x["quantity"]):
            loads[x["scenario"], route.lane, day][sku, x["channel"]] += x["quantity"]
    return loads


def lane_days_used(facts: Facts) -> dict[tuple[str, int], tuple[float, float]]:
    """(lane, day) -> (units transferred, most order units carried in any scenario), for
    every lane and day that ships anything: the days that pay the lane's booking fee."""
    transferred = lane_day_units(facts)
    flown: dict[tuple[str, int], float] = defaultdict(float)
    for (_s, key, day), by_sku in order_lane_loads(facts).items():
        flown[key, day] = max(flown[key, day], math.fsum(by_sku.values()))
    days = {k for k, u in transferred.items() if facts.positive(u)}
    days |= {k for k, u in flown.items() if facts.positive(u)}
    return {k: (transferred.get(k, 0.0), flown.get(k, 0.0)) for k in days}


def supplier_day_units(facts: Facts) -> dict[tuple[str, int], float]:
    units: dict[tuple[str, int], float] = defaultdict(float)
    for o in facts.rows("orders"):
        units[o["supplier"], o["order_day"]] += o["quantity"]
    return dict(units)


# --------------------------------------------------------------------------------------------
# Plan shape
# --------------------------------------------------------------------------------------------


def _type_ok(value: Any, kind: str) -> bool:
    if kind == _STR:
        return isinstance(value, str)
    if kind == _DAY:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _OPT_NUM and value is None:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fields_problems(where: str, row: Any, fields: Mapping[str, str]) -> Iterable[str]:
    if not isinstance(row, Mapping):
        yield f"{where}: expected an object, got {type(row).__name__}"
        return
    for name, kind in fields.items():
        if name not in row:
            yield f"{where}: missing field {name!r}"
        elif not _type_ok(row[name], kind):
            yield f"{where}: field {name!r} = {row[name]!r} is not a {kind}"


def check_shape(plan: Mapping[str, Any]) -> list[str]:
    """Every list, row and field the rules below read exists with the right type."""
    problems: list[str] = []
    for key, fields in ROW_FIELDS.items():
        rows = plan.get(key)
        if rows is None:
            if key in ("stock_levels", "scenarios"):
                problems.append(f"plan has no {key!r} list")
            continue
        if not isinstance(rows, list):
            problems.append(f"plan[{key!r}] is not a list")
            continue
        for i, row in enumerate(rows):
            problems.extend(_fields_problems(f"{key}[{i}]", row, fields))
    costs = plan.get("costs")
    cost_fields = dict.fromkeys((*COST_KEYS, "total"), _NUM)
    problems.extend(_fields_problems("costs", costs, cost_fields))
    for name in OPTIONAL_COSTS:
        if isinstance(costs, Mapping) and name in costs and not _type_ok(costs[name], _NUM):
            problems.append(f"costs: field {name!r} = {costs[name]!r} is not a num")
    problems.extend(_fields_problems("kpis", plan.get("kpis"), KPI_FIELDS))
    if not _type_ok(plan.get("objective"), _NUM):
        problems.append(f"objective {plan.get('objective')!r} is not a number")
    return problems


# --------------------------------------------------------------------------------------------
# Transfers and lanes
# --------------------------------------------------------------------------------------------


def _whole_units(facts: Facts, qty: float) -> bool:
    return qty >= -facts.tol and abs(qty - round(qty)) <= facts.tol


def _transfer_name(i: int, t: Row) -> str:
    return (
        f"transfer #{i} (sku {t['sku']}, lane {t['lane']}: {t['from']}->{t['to']} "
        f"by {t['mode']}, ship day {t['ship_day']})"
    )


def check_transfers_use_lanes(facts: Facts) -> Iterable[str]:
    """A transfer names an existing lane, and its from/to/mode/days/costs are the lane's."""
    h = facts.horizon
    for i, t in enumerate(facts.rows("transfers")):
        name = _transfer_name(i, t)
        if t["sku"] not in facts.skus:
            yield f"{name}: unknown sku {t['sku']!r}"
        if not _whole_units(facts, t["quantity"]):
            yield f"{name}: quantity {t['quantity']} is not a whole non-negative number of units"
        if not 0 <= t["ship_day"] < h:
            yield f"{name}: ship day {t['ship_day']} is outside the horizon (0..{h - 1})"
        lane = facts.lanes.get(t["lane"])
        if lane is None:
            yield f"{name}: no lane {t['lane']!r} exists in the request"
            continue
        yield from _lane_ends_problems(name, t, lane)
        arrive = t["ship_day"] + lane.lead_days
        if t["arrive_day"] != arrive:
            yield (
                f"{name}: arrive_day {t['arrive_day']} != ship_day {t['ship_day']} "
                f"+ lead {lane.lead_days} = {arrive}"
            )
        if arrive > h - 1:
            yield f"{name}: arrives on day {arrive}, after the horizon's last day {h - 1}"
        if not facts.close(t["unit_cost"], lane.unit_cost):
            yield f"{name}: unit_cost {t['unit_cost']} != lane unit cost {lane.unit_cost}"
        if not facts.close(t["cost"], t["quantity"] * lane.unit_cost):
            yield f"{name}: cost {t['cost']} != quantity x unit cost"


def _lane_ends_problems(name: str, row: Row, lane: Lane) -> Iterable[str]:
    """A plan row naming a lane repeats the lane's ends and mode."""
    for attr, want in (("from", lane.from_), ("to", lane.to), ("mode", lane.mode.value)):
        if row[attr] != want:
            yield f"{name}: {attr} is {row[attr]!r} but lane {lane.key} has {want!r}"


def check_lane_capacity(facts: Facts) -> Iterable[str]:
    """Units shipped on a lane on a day (all SKUs together, transfers plus the orders it
    carries in each scenario) stay within the lane's capacity."""
    for (key, day), (units, flown) in sorted(lane_days_used(facts).items()):
        lane = facts.lanes.get(key)
        if (
            lane is not None
            and lane.capacity is not None
            and not facts.within(units + flown, lane.capacity)
        ):
            orders = f" + {flown:g} order units" if flown > 0 else ""
            yield (
                f"lane {key} ({lane.from_}->{lane.to}) ships {units} units{orders} on day "
                f"{day}, over its capacity {lane.capacity}"
            )


def check_order_shipments(facts: Facts) -> Iterable[str]:
    """order_shipments lists exactly the orders the allocations fly along a lane (the
    fulfilment's lane), with the lane's ends and mode and the fulfilment's delivery day."""
    want = order_lane_loads(facts)
    got: OrderLoad = defaultdict(lambda: defaultdict(float))
    for i, x in enumerate(facts.rows("order_shipments")):
        name = (
            f"order_shipments[{i}] (scenario {x['scenario']}, sku {x['sku']}, lane {x['lane']}, "
            f"ship day {x['ship_day']})"
        )
        got[x["scenario"], x["lane"], x["ship_day"]][x["sku"], x["channel"]] += x["quantity"]
        lane = facts.lanes.get(x["lane"])
        if lane is None:
            yield f"{name}: no lane {x['lane']!r} exists in the request"
            continue
        yield from _lane_ends_problems(name, x, lane)
        route = _route(facts, x["channel"], lane.from_)
        if route is None or route.lane != lane.key:
            yield f"{name}: channel {x['channel']} has no fulfilment along lane {lane.key}"
        elif x["deliver_day"] != x["ship_day"] + route.delivery_days:
            yield (
                f"{name}: deliver_day {x['deliver_day']} != ship day + the fulfilment's "
                f"{route.delivery_days} delivery days"
            )
    for key in sorted(want.keys() | got.keys()):
        for item in sorted(want.get(key, {}).keys() | got.get(key, {}).keys()):
            w, g = want.get(key, {}).get(item, 0.0), got.get(key, {}).get(item, 0.0)
            if not facts.close(g, w):
                yield (
                    f"order_shipments: scenario {key[0]}, lane {key[1]}, day {key[2]}, sku "
                    f"{item[0]} for {item[1]}: {g:g} units listed, the allocations fly {w:g}"
                )


def check_lane_uses(facts: Facts) -> Iterable[str]:
    """lane_uses: exactly one per lane and ship day that ships anything, with the lane's data."""
    shipped = lane_days_used(facts)
    seen: set[tuple[str, int]] = set()
    for i, use in enumerate(facts.rows("lane_uses")):
        key = (use["lane"], use["ship_day"])
        name = f"lane_uses[{i}] (lane {use['lane']}, ship day {use['ship_day']})"
        if key in seen:
            yield f"{name}: duplicate entry for this lane and day"
        seen.add(key)
        if key not in shipped:
            yield f"{name}: nothing ships on this lane on this day"
            continue
        units, flown = shipped[key]
        if not facts.close(use["units"], units):
            yield f"{name}: units {use['units']} != units transferred {units}"
        if "order_units" in use and not facts.close(use["order_units"], flown):
            yield f"{name}: order_units {use['order_units']} != most orders carried {flown}"
        lane = facts.lanes.get(use["lane"])
        if lane is None:
            continue  # reported with the transfers
        yield from _lane_ends_problems(name, use, lane)
        fee = lane.fee_on(use["ship_day"])
        if not facts.close(use["fixed_cost"], fee):
            yield f"{name}: fixed_cost {use['fixed_cost']} != the lane's fee that day {fee}"
        if "booked" in use and use["booked"] != (use["ship_day"] in lane.booked_days):
            yield f"{name}: booked is {use['booked']} but the lane's booked days are " + str(
                list(lane.booked_days)
            )
        if (use["capacity"] is None) != (lane.capacity is None) or (
            lane.capacity is not None and not facts.close(use["capacity"], lane.capacity)
        ):
            yield f"{name}: capacity {use['capacity']} != lane capacity {lane.capacity}"
    for lane_key, day in sorted(shipped.keys() - seen):
        yield f"lane {lane_key} ships on day {day} but has no lane_uses entry"


# --------------------------------------------------------------------------------------------
# Supplier orders
# --------------------------------------------------------------------------------------------


def _order_name(i: int, o: Row) -> str:
    return (
        f"order #{i} (supplier {o['supplier']}, sku {o['sku']}, to {o['warehouse']}, "
        f"order day {o['order_day']})"
    )


def check_orders(facts: Facts) -> Iterable[str]:
    """A supplier that makes the SKU delivers it to that warehouse, on time, at its price."""
    h = facts.horizon
    for i, o in enumerate(facts.rows("orders")):
        name = _order_name(i, o)
        if not _whole_units(facts, o["quantity"]):
            yield f"{name}: quantity {o['quantity']} is not a whole non-negative number of units"
        if not 0 <= o["order_day"] < h:
            yield f"{name}: order day {o['order_day']} is outside the horizon (0..{h - 1})"
        supplier = facts.suppliers.get(o["supplier"])
        sku = facts.skus.get(o["sku"])
        if supplier is None or sku is None:
            what = "supplier" if supplier is None else "sku"
            yield f"{name}: unknown {what} {o[what]!r}"
            continue
        if not supplier_makes(supplier, sku.id):
            yield f"{name}: supplier {supplier.id} does not make sku {sku.id}"
        if o["warehouse"] not in supplier.deliver_to:
            yield f"{name}: supplier {supplier.id} does not deliver to {o['warehouse']}"
        arrive = o["order_day"] + supplier.lead_days
        if o["arrive_day"] != arrive:
            yield (
                f"{name}: arrive_day {o['arrive_day']} != order_day {o['order_day']} "
                f"+ lead {supplier.lead_days} = {arrive}"
            )
        if arrive > h - 1:
            yield f"{name}: arrives on day {arrive}, after the horizon's last day {h - 1}"
        price = supplier_unit_cost(supplier, sku)
        if not facts.close(o["unit_cost"], price):
            yield f"{name}: unit_cost {o['unit_cost']} != supplier's price {price}"
        if not facts.close(o["cost"], o["quantity"] * price):
            yield f"{name}: cost {o['cost']} != quantity x unit cost = {o['quantity'] * price}"


def check_supplier_capacity(facts: Facts) -> Iterable[str]:
    """capacity_per_day per supplier and order day; each capacity window over its order days."""
    units = supplier_day_units(facts)
    for (sid, day), qty in sorted(units.items()):
        supplier = facts.suppliers.get(sid)
        if supplier is None or supplier.capacity_per_day is None:
            continue
        if not facts.within(qty, supplier.capacity_per_day):
            yield (
                f"supplier {sid} ships {qty} units ordered on day {day}, over its "
                f"capacity_per_day {supplier.capacity_per_day}"
            )
    for supplier in facts.suppliers.values():
        for win in supplier.capacity_windows:
            qty = sum(
                u for (sid, day), u in units.items()
                if sid == supplier.id and win.start_day <= day <= win.end_day
            )  # fmt: skip
            if not facts.within(qty, win.capacity):
                yield (
                    f"supplier {supplier.id} ships {qty} units in days "
                    f"{win.start_day}..{win.end_day}, over the window capacity {win.capacity}"
                )


def check_min_order(facts: Facts) -> Iterable[str]:
    """An order day with any units orders at least min_order (per supplier and day)."""
    for (sid, day), qty in sorted(supplier_day_units(facts).items()):
        supplier = facts.suppliers.get(sid)
        if supplier is None or not facts.positive(qty):
            continue
        if qty < supplier.min_order - facts.tol * max(1.0, supplier.min_order):
            yield (
                f"supplier {sid} gets {qty} units ordered on day {day}, below its "
                f"min_order {supplier.min_order}"
            )


def check_order_days(facts: Facts) -> Iterable[str]:
    """order_days: exactly one per supplier and day that orders anything, with its fixed cost."""
    ordered = {k: u for k, u in supplier_day_units(facts).items() if facts.positive(u)}
    seen: set[tuple[str, int]] = set()
    for i, od in enumerate(facts.rows("order_days")):
        key = (od["supplier"], od["order_day"])
        name = f"order_days[{i}] (supplier {od['supplier']}, order day {od['order_day']})"
        if key in seen:
            yield f"{name}: duplicate entry for this supplier and day"
        seen.add(key)
        if key not in ordered:
            yield f"{name}: no order is placed with this supplier on this day"
            continue
        if not facts.close(od["units"], ordered[key]):
            yield f"{name}: units {od['units']} != units ordered {ordered[key]}"
        supplier = facts.suppliers.get(od["supplier"])
        if supplier is not None and not facts.close(od["fixed_cost"], supplier.order_fixed_cost):
            yield (
                f"{name}: fixed_cost {od['fixed_cost']} != supplier order_fixed_cost "
                f"{supplier.order_fixed_cost}"
            )
    for sid, day in sorted(ordered.keys() - seen):
        yield f"supplier {sid} gets an order on day {day} but has no order_days entry"


# --------------------------------------------------------------------------------------------
# Demand: allocations and lost sales
# --------------------------------------------------------------------------------------------


def _alloc_name(i: int, a: Row) -> str:
    return (
        f"allocation #{i} (scenario {a['scenario']}, sku {a['sku']}, {a['warehouse']} -> "
        f"channel {a['channel']}, day {a['day']})"
    )


def check_allocations(facts: Facts) -> Iterable[str]:
    """Served from a warehouse that meets the channel's promise, non-negative, at its cost."""
    for i, a in enumerate(facts.rows("allocations")):
        name = _alloc_name(i, a)
        if a["quantity"] < -facts.tol:
            yield f"{name}: negative quantity {a['quantity']}"
        if a["scenario"] not in facts.probability:
            yield f"{name}: unknown scenario {a['scenario']!r}"
        if a["sku"] not in facts.skus:
            yield f"{name}: unknown sku {a['sku']!r}"
        if a["warehouse"] not in facts.warehouses:
            yield f"{name}: unknown warehouse {a['warehouse']!r}"
        if not 0 <= a["day"] < facts.horizon:
            yield f"{name}: day {a['day']} is outside the horizon (0..{facts.horizon - 1})"
        channel = facts.channels.get(a["channel"])
        if channel is None:
            yield f"{name}: unknown channel {a['channel']!r}"
            continue
        route = next((f for f in channel.fulfilment if f.warehouse == a["warehouse"]), None)
        if route is None:
            yield f"{name}: channel {channel.id} has no fulfilment from {a['warehouse']}"
            continue
        if route.delivery_days > channel.promise_days:
            yield (
                f"{name}: promise broken: {a['warehouse']} delivers in {route.delivery_days} "
                f"days, channel {channel.id} promises {channel.promise_days}"
            )
        if not facts.close(a["unit_cost"], route.unit_cost):
            yield f"{name}: unit_cost {a['unit_cost']} != fulfilment cost {route.unit_cost}"
        if not facts.close(a["cost"], a["quantity"] * route.unit_cost):
            yield f"{name}: cost {a['cost']} != quantity x unit cost"


def check_lost_sale_rows(facts: Facts) -> Iterable[str]:
    """Lost sales are non-negative, priced at the SKU's penalty, absent under serve_all_demand."""
    for i, row in enumerate(facts.rows("lost_sales")):
        name = (
            f"lost_sales[{i}] (scenario {row['scenario']}, sku {row['sku']}, "
            f"channel {row['channel']}, day {row['day']})"
        )
        if row["quantity"] < -facts.tol:
            yield f"{name}: negative quantity {row['quantity']}"
        if facts.request.policy.serve_all_demand and facts.positive(row["quantity"]):
            yield f"{name}: {row['quantity']} units lost although policy.serve_all_demand is set"
        if row["sku"] not in facts.penalty:
            yield f"{name}: unknown sku {row['sku']!r}"
            continue
        penalty = lost_penalty(facts, row["sku"], row["channel"])
        if not facts.close(row["unit_penalty"], penalty):
            premium = facts.premium.get((row["sku"], row["channel"]), 0.0)
            what = f" (with the live-priority premium {premium})" if premium else ""
            yield (
                f"{name}: unit_penalty {row['unit_penalty']} != the sku's penalty {penalty}{what}"
            )
        if not facts.close(row["cost"], row["quantity"] * penalty):
            yield f"{name}: cost {row['cost']} != quantity x penalty"


def check_flow_conservation(facts: Facts) -> Iterable[str]:
    """allocations + substitutions + presales + lost_sales = demand for every scenario, SKU,
    channel and day."""
    served, lost = served_by_key(facts), lost_by_key(facts)
    substituted, presold = substituted_by_key(facts), presold_by_key(facts)
    keys = facts.demand.keys() | served.keys() | lost.keys() | substituted.keys() | presold.keys()
    for key in sorted(keys):
        want = facts.demand.get(key, 0.0)
        parts = [d.get(key, 0.0) for d in (served, substituted, presold, lost)]
        if not facts.close(math.fsum(parts), want):
            s, k, c, t = key
            got_served, got_sub, got_pre, got_lost = parts
            yield (
                f"flow not conserved (scenario {s}, sku {k}, channel {c}, day {t}): "
                f"served {got_served} + substituted {got_sub} + presold {got_pre} "
                f"+ lost {got_lost} != demand {want}"
            )


def _route(facts: Facts, channel: str, warehouse: str) -> Fulfilment | None:
    ch = facts.channels.get(channel)
    if ch is None:
        return None
    return next((f for f in ch.fulfilment if f.warehouse == warehouse), None)


def _substitution_name(i: int, x: Row) -> str:
    return (
        f"substitution #{i} (scenario {x['scenario']}, sku {x['sku']} served with "
        f"{x['substitute']} from {x['warehouse']} -> channel {x['channel']}, day {x['day']})"
    )


def check_substitutions(facts: Facts) -> Iterable[str]:
    """A substitution follows a policy.substitutes rule, ships from a warehouse meeting the
    channel's promise at its fulfilment cost, and takes at most the rule's share of the
    SKU's demand (per scenario, SKU, substitute, channel and day, over all warehouses)."""
    share = {(x.sku, x.substitute): x.share for x in facts.request.policy.substitutes}
    taken: dict[tuple[str, str, str, str, int], float] = defaultdict(float)
    for i, x in enumerate(facts.rows("substitutions")):
        name = _substitution_name(i, x)
        if x["quantity"] < -facts.tol:
            yield f"{name}: negative quantity {x['quantity']}"
        if x["scenario"] not in facts.probability:
            yield f"{name}: unknown scenario {x['scenario']!r}"
        for what in ("sku", "substitute"):
            if x[what] not in facts.skus:
                yield f"{name}: unknown {what} {x[what]!r}"
        if x["warehouse"] not in facts.warehouses:
            yield f"{name}: unknown warehouse {x['warehouse']!r}"
        if not 0 <= x["day"] < facts.horizon:
            yield f"{name}: day {x['day']} is outside the horizon (0..{facts.horizon - 1})"
        if (x["sku"], x["substitute"]) not in share:
            yield (
                f"{name}: policy.substitutes has no rule letting {x['substitute']} serve {x['sku']}"
            )
        taken[x["scenario"], x["sku"], x["substitute"], x["channel"], x["day"]] += x["quantity"]
        channel = facts.channels.get(x["channel"])
        if channel is None:
            yield f"{name}: unknown channel {x['channel']!r}"
            continue
        route = _route(facts, x["channel"], x["warehouse"])
        if route is None:
            yield f"{name}: channel {channel.id} has no fulfilment from {x['warehouse']}"
            continue
        if route.delivery_days > channel.promise_days:
            yield (
                f"{name}: promise broken: {x['warehouse']} delivers in {route.delivery_days} "
                f"days, channel {channel.id} promises {channel.promise_days}"
            )
        if not facts.close(x["unit_cost"], route.unit_cost):
            yield f"{name}: unit_cost {x['unit_cost']} != fulfilment cost {route.unit_cost}"
        if not facts.close(x["cost"], x["quantity"] * route.unit_cost):
            yield f"{name}: cost {x['cost']} != quantity x unit cost"
    for (s, k, j, c, t), qty in sorted(taken.items()):
        if (k, j) not in share:
            continue
        limit = share[k, j] * facts.demand.get((s, k, c, t), 0.0)
        if not facts.within(qty, limit):
            yield (
                f"substitute share exceeded (scenario {s}, sku {k}, substitute {j}, channel "
                f"{c}, day {t}): {qty} units substituted, over {share[k, j]} x demand = {limit}"
            )


def _presale_name(i: int, x: Row) -> str:
    return (
        f"presale #{i} (scenario {x['scenario']}, sku {x['sku']}, {x['warehouse']} -> channel "
        f"{x['channel']}, day {x['day']}, batch day {x['batch_day']})"
    )


def check_presales(facts: Facts) -> Iterable[str]:
    """Live demand taken on presale: the event switches the SKU to presale, the SKU is
    presale-eligible, the channel is live, the units leave the warehouse on the next inbound
    batch day after the order and reach the customer within switch_ship_days of it; priced
    at the fulfilment cost plus the presale discount."""
    event = facts.request.event
    switch = None if event is None or event.presale is None else event.presale.switch_ship_days
    for i, x in enumerate(facts.rows("presales")):
        name = _presale_name(i, x)
        if x["quantity"] < -facts.tol:
            yield f"{name}: negative quantity {x['quantity']}"
        if x["scenario"] not in facts.probability:
            yield f"{name}: unknown scenario {x['scenario']!r}"
        if not 0 <= x["day"] < facts.horizon:
            yield f"{name}: day {x['day']} is outside the horizon (0..{facts.horizon - 1})"
        if switch is None:
            yield f"{name}: the request's event has no presale switch (switch_ship_days)"
        sku = facts.skus.get(x["sku"])
        if sku is None:
            yield f"{name}: unknown sku {x['sku']!r}"
            continue
        if x["warehouse"] not in facts.warehouses:
            yield f"{name}: unknown warehouse {x['warehouse']!r}"
            continue
        if not sku.presale_eligible:
            yield f"{name}: sku {sku.id} is not presale_eligible"
        if x["channel"] not in facts.live:
            yield f"{name}: channel {x['channel']} is not a live channel of the event"
        batch = next_batch_day(facts, sku.id, x["warehouse"], x["day"])
        if batch is None:
            yield f"{name}: no inbound batch reaches {x['warehouse']} after day {x['day']}"
        elif x["batch_day"] != batch:
            yield f"{name}: batch_day {x['batch_day']} != the next inbound batch day {batch}"
        route = _route(facts, x["channel"], x["warehouse"])
        if route is None:
            yield f"{name}: channel {x['channel']} has no fulfilment from {x['warehouse']}"
            continue
        ships = x["batch_day"] if batch is None else batch
        if switch is not None and ships + route.delivery_days - x["day"] > switch:
            yield (
                f"{name}: reaches the customer {ships + route.delivery_days - x['day']} days "
                f"after the order, over switch_ship_days {switch}"
            )
        cut = facts.discount.get(sku.id, 0.0)
        if not facts.close(x["unit_cost"], route.unit_cost):
            yield f"{name}: unit_cost {x['unit_cost']} != fulfilment cost {route.unit_cost}"
        if not facts.close(x["unit_discount"], cut):
            yield f"{name}: unit_discount {x['unit_discount']} != the presale discount {cut}"
        if not facts.close(x["cost"], x["quantity"] * (route.unit_cost + cut)):
            yield f"{name}: cost {x['cost']} != quantity x (unit cost + unit discount)"


# --------------------------------------------------------------------------------------------
# Stock
# --------------------------------------------------------------------------------------------


def check_stock_never_negative(facts: Facts) -> Iterable[str]:
    """End-of-day stock is >= 0 for every scenario, SKU, warehouse and day."""
    for (s, k, w), levels in sorted(facts.stock.items()):
        noise = facts.tol * max(1.0, *(abs(level) for level in levels))
        for day, level in enumerate(levels):
            if level < -noise:
                yield (
                    f"negative stock: sku {k} at {w} ends day {day} with {level} units "
                    f"in scenario {s}"
                )
                break  # the first day is enough; later days repeat the same shortfall


def check_warehouse_capacity(facts: Facts) -> Iterable[str]:
    """Sum over SKUs of end-of-day stock stays within the warehouse's capacity."""
    for w, warehouse in facts.warehouses.items():
        if warehouse.capacity is None:
            continue
        for s in facts.probability:
            for day in range(facts.horizon):
                held = sum(facts.stock[s, k, w][day] for k in facts.skus)
                if not facts.within(held, warehouse.capacity):
                    yield (
                        f"warehouse {w} holds {held} units at the end of day {day} in "
                        f"scenario {s}, over its capacity {warehouse.capacity}"
                    )


def expected_stock_levels(facts: Facts) -> dict[tuple[str, str], dict[str, float]]:
    """What each stock_levels entry must say, per (sku, warehouse)."""
    out: dict[tuple[str, str], dict[str, float]] = {
        (k, w): dict.fromkeys(ROW_FIELDS["stock_levels"], 0.0)
        for k in facts.skus for w in facts.warehouses
    }  # fmt: skip
    for k, w in out:
        del out[k, w]["sku"], out[k, w]["warehouse"]

    def add(k: str, w: str, field_name: str, qty: float) -> None:
        if (k, w) in out:
            out[k, w][field_name] += qty

    for row in facts.request.stock:
        add(row.sku, row.warehouse, "initial", row.quantity)
    for row in facts.request.in_transit:
        add(row.sku, row.warehouse, "in_transit", row.quantity)
    for o in facts.rows("orders"):
        add(o["sku"], o["warehouse"], "orders_in", o["quantity"])
    for t in facts.rows("transfers"):
        add(t["sku"], t["to"], "transfers_in", t["quantity"])
        add(t["sku"], t["from"], "transfers_out", t["quantity"])
    for a in facts.rows("allocations"):
        p = facts.probability.get(a["scenario"], 0.0)
        add(a["sku"], a["warehouse"], "expected_served", p * a["quantity"])
    for x in facts.rows("substitutions"):  # served from the substitute's stock
        p = facts.probability.get(x["scenario"], 0.0)
        add(x["substitute"], x["warehouse"], "expected_served", p * x["quantity"])
    for x in facts.rows("presales"):
        p = facts.probability.get(x["scenario"], 0.0)
        add(x["sku"], x["warehouse"], "expected_served", p * x["quantity"])
    for (s, k, w), levels in facts.stock.items():
        add(k, w, "expected_leftover", facts.probability[s] * levels[-1])
    for v in out.values():
        v["available"] = (
            v["initial"] + v["in_transit"] + v["orders_in"] + v["transfers_in"]
            - v["transfers_out"]
        )  # fmt: skip
    return out


def check_stock_levels(facts: Facts) -> Iterable[str]:
    """stock_levels agree with the request's stock and the plan's transfers/orders/allocations."""
    want = expected_stock_levels(facts)
    seen: set[tuple[str, str]] = set()
    for i, row in enumerate(facts.rows("stock_levels")):
        key = (row["sku"], row["warehouse"])
        name = f"stock_levels[{i}] (sku {row['sku']}, warehouse {row['warehouse']})"
        if key in seen:
            yield f"{name}: duplicate entry"
        seen.add(key)
        if key not in want:
            yield f"{name}: unknown sku or warehouse"
            continue
        if not facts.close(
            row["available"],
            row["initial"] + row["in_transit"] + row["orders_in"] + row["transfers_in"]
            - row["transfers_out"],
        ):  # fmt: skip
            yield (
                f"{name}: available {row['available']} != its own initial + in_transit "
                "+ orders_in + transfers_in - transfers_out"
            )
        for field_name, value in want[key].items():
            if not facts.close(row[field_name], value):
                yield f"{name}: {field_name} {row[field_name]} != {value}"
    for k, w in sorted(want.keys() - seen):
        if any(facts.positive(abs(v)) for v in want[k, w].values()):
            yield f"stock_levels has no entry for sku {k} at {w}"


# --------------------------------------------------------------------------------------------
# Costs, scenarios and KPIs
# --------------------------------------------------------------------------------------------


def first_stage_costs(facts: Facts) -> dict[str, float]:
    """Transfer and order costs: the same in every scenario."""
    costs = dict.fromkeys(FIRST_STAGE_COSTS, 0.0)
    for key, day in lane_days_used(facts):
        lane = facts.lanes.get(key)
        if lane is not None:
            costs["transfer_fixed"] += lane.fee_on(day)
    for t in facts.rows("transfers"):
        lane = facts.lanes.get(t["lane"])
        if lane is not None:
            costs["transfer"] += t["quantity"] * lane.unit_cost
    for (sid, _day), units in supplier_day_units(facts).items():
        supplier = facts.suppliers.get(sid)
        if supplier is not None and facts.positive(units):
            costs["order_fixed"] += supplier.order_fixed_cost
    for o in facts.rows("orders"):
        supplier, sku = facts.suppliers.get(o["supplier"]), facts.skus.get(o["sku"])
        if supplier is not None and sku is not None:
            costs["purchase"] += o["quantity"] * supplier_unit_cost(supplier, sku)
    return costs


def scenario_costs(facts: Facts) -> dict[str, dict[str, float]]:
    """Second-stage costs of each scenario, not weighted by its probability."""
    costs = {s: dict.fromkeys(SECOND_STAGE_COSTS, 0.0) for s in facts.probability}
    fulfil = {
        (c.id, f.warehouse): f.unit_cost for c in facts.channels.values() for f in c.fulfilment
    }
    for key in ("allocations", "substitutions", "presales"):
        for a in facts.rows(key):
            if a["scenario"] in costs:
                route_cost = fulfil.get((a["channel"], a["warehouse"]), 0.0)
                costs[a["scenario"]]["fulfilment"] += a["quantity"] * route_cost
    for x in facts.rows("presales"):
        if x["scenario"] in costs:
            cut = facts.discount.get(x["sku"], 0.0)
            costs[x["scenario"]]["presale_discount"] += x["quantity"] * cut
    for (s, k, w), levels in facts.stock.items():
        costs[s]["holding"] += facts.warehouses[w].holding_cost * math.fsum(levels)
        costs[s]["salvage"] -= facts.salvage[k] * levels[-1]
    met = met_by_key(facts)
    for (s, k, c, t), qty in facts.demand.items():
        costs[s]["lost_sales"] += lost_penalty(facts, k, c) * (qty - met.get((s, k, c, t), 0.0))
    return costs


def expected_costs(facts: Facts) -> dict[str, float]:
    costs = first_stage_costs(facts)
    per_scenario = scenario_costs(facts)
    for name in SECOND_STAGE_COSTS:
        costs[name] = math.fsum(facts.probability[s] * c[name] for s, c in per_scenario.items())
    costs["total"] = math.fsum(costs[name] for name in (*COST_KEYS, *OPTIONAL_COSTS))
    return costs


def check_costs(facts: Facts) -> Iterable[str]:
    """Every cost line recomputed from the request and the plan; objective = total."""
    plan_costs = facts.plan["costs"]
    for name, value in expected_costs(facts).items():
        if name in OPTIONAL_COSTS and name not in plan_costs:
            if facts.positive(abs(value)):
                yield f"costs.{name} is missing but recomputes to {value}"
            continue
        if not facts.close(plan_costs[name], value):
            yield f"costs.{name} is {plan_costs[name]} but recomputes to {value}"
    parts = math.fsum(plan_costs.get(name, 0.0) for name in (*COST_KEYS, *OPTIONAL_COSTS))
    if not facts.close(plan_costs["total"], parts):
        yield f"costs.total {plan_costs['total']} != sum of the cost lines {parts}"
    if not facts.close(facts.plan["objective"], plan_costs["total"]):
        yield f"objective {facts.plan['objective']} != costs.total {plan_costs['total']}"


def _fill_rate_ok(facts: Facts, rate: float | None, served: float, demand: float) -> bool:
    if facts.positive(demand):
        return rate is not None and facts.close(rate, served / demand)
    return rate is None or facts.close(rate, 1.0)  # no demand: nothing to fill


def _scenario_totals(facts: Facts) -> dict[str, dict[str, float]]:
    totals = {s: {"demand": 0.0, "served": 0.0} for s in facts.probability}
    for (s, _k, _c, _t), qty in facts.demand.items():
        totals[s]["demand"] += qty
    for (s, _k, _c, _t), qty in met_by_key(facts).items():  # substitutes, presales too
        if s in totals:
            totals[s]["served"] += qty
    for v in totals.values():
        v["lost"] = v["demand"] - v["served"]
    return totals


def check_scenarios(facts: Facts) -> Iterable[str]:
    """One entry per scenario: its probability, demand, served, lost, fill rate and cost."""
    totals = _scenario_totals(facts)
    first = math.fsum(first_stage_costs(facts).values())
    second = scenario_costs(facts)
    rows = facts.rows("scenarios")
    names = [row["name"] for row in rows]
    if sorted(names) != sorted(facts.probability):
        yield f"scenarios list {names} does not match the request's {list(facts.probability)}"
    for row in rows:
        s = row["name"]
        if s not in facts.probability:
            continue
        name = f"scenario {s}"
        if not facts.close(row["probability"], facts.probability[s]):
            yield f"{name}: probability {row['probability']} != {facts.probability[s]}"
        for key in ("demand", "served", "lost"):
            if not facts.close(row[key], totals[s][key]):
                yield f"{name}: {key} {row[key]} != {totals[s][key]}"
        if not _fill_rate_ok(facts, row["fill_rate"], totals[s]["served"], totals[s]["demand"]):
            yield f"{name}: fill_rate {row['fill_rate']} != served / demand"
        cost = first + math.fsum(second[s].values())
        if not facts.close(row["cost"], cost):
            yield f"{name}: cost {row['cost']} != first-stage + its second-stage cost = {cost}"
    weighted = math.fsum(row["probability"] * row["cost"] for row in rows)
    total = facts.plan["costs"]["total"]
    # probabilities sum to 1 only within validation's tolerance: allow for the first stage
    slack = abs(1.0 - math.fsum(facts.probability.values())) * abs(first)
    if abs(weighted - total) > facts.tol * max(1.0, abs(total)) + slack:
        yield f"sum of probability x scenario cost {weighted} != costs.total {total}"


def check_kpis(facts: Facts) -> Iterable[str]:
    """Expected demand, served, lost, fill rate, days of supply; units transferred, ordered."""
    kpis = facts.plan["kpis"]
    totals = _scenario_totals(facts)
    p = facts.probability
    want = {
        "expected_demand": math.fsum(p[s] * v["demand"] for s, v in totals.items()),
        "expected_served": math.fsum(p[s] * v["served"] for s, v in totals.items()),
        "expected_lost_units": math.fsum(p[s] * v["lost"] for s, v in totals.items()),
        "transfer_units": math.fsum(t["quantity"] for t in facts.rows("transfers")),
        "order_units": math.fsum(o["quantity"] for o in facts.rows("orders")),
    }
    for key, value in want.items():
        if not facts.close(kpis[key], value):
            yield f"kpis.{key} is {kpis[key]} but recomputes to {value}"
    if not _fill_rate_ok(
        facts, kpis["expected_fill_rate"], want["expected_served"], want["expected_demand"]
    ):
        yield f"kpis.expected_fill_rate {kpis['expected_fill_rate']} != expected served / demand"
    available = math.fsum(v["available"] for v in expected_stock_levels(facts).values())
    daily_demand = want["expected_demand"] / facts.horizon
    supply = kpis["days_of_supply"]
    if facts.positive(daily_demand):
        if supply is None or not facts.close(supply, available / daily_demand):
            yield (
                f"kpis.days_of_supply {supply} != available stock {available} / expected "
                f"daily demand {daily_demand}"
            )
    elif supply is not None:
        yield f"kpis.days_of_supply is {supply} but there is no demand (expected null)"


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------------
# Service levels and safety stock (re-derived: tier thresholds, daily-sales rates)
# --------------------------------------------------------------------------------------------


def _tier(sku: Sku) -> str | None:
    if sku.tier is not None:
        return sku.tier.value
    if sku.conversion_rate is None:
        return None
    if sku.conversion_rate > 0.08:
        return "A"
    return "B" if sku.conversion_rate >= 0.03 else "C"


def check_service_levels(facts: Facts) -> Iterable[str]:
    """Each SKU meets its tier's fill-rate and no-stock-out targets across scenarios."""
    levels = facts.request.policy.service_levels
    lost = lost_by_key(facts)
    for k, sku in facts.skus.items():
        tier = _tier(sku)
        target = next((t for name, t in levels.items() if name.value == tier), None)
        if target is None:
            continue
        demand = sum(
            facts.probability[s] * q for (s, k2, _c, _t), q in facts.demand.items() if k2 == k
        )
        if demand <= 0:
            continue
        short = {s: 0.0 for s in facts.probability}
        for (s, k2, _c, _t), q in lost.items():
            if k2 == k:
                short[s] += q
        expected_lost = sum(facts.probability[s] * q for s, q in short.items())
        if target.fill_rate is not None and not facts.within(
            expected_lost, (1 - target.fill_rate) * demand
        ):
            yield (
                f"sku {k} (tier {tier}) fill rate {1 - expected_lost / demand:.6f} is below its "
                f"target {target.fill_rate}"
            )
        if target.no_stockout_probability is not None:
            safe = sum(facts.probability[s] for s, q in short.items() if q <= facts.tol)
            if safe < target.no_stockout_probability - facts.tol:
                yield (
                    f"sku {k} (tier {tier}) loses no sale with probability {safe:.6f}, below "
                    f"its target {target.no_stockout_probability}"
                )


def check_safety_stock(facts: Facts) -> Iterable[str]:
    """End-of-plan stock keeps each safety floor: days of cover x the warehouse's daily sales
    (a channel's expected daily demand shared equally by the warehouses meeting its promise)."""
    rules = [*facts.request.policy.safety_stock, *event_safety_rules(facts.request)]
    if not rules:
        return
    eligible = {
        c.id: [f.warehouse for f in c.fulfilment if f.delivery_days <= c.promise_days]
        for c in facts.channels.values()
    }
    rate: dict[tuple[str, str], float] = defaultdict(float)
    for (s, k, c, _t), q in facts.demand.items():
        for w in eligible[c]:
            rate[k, w] += facts.probability[s] * q / facts.horizon / len(eligible[c])
    last = facts.horizon - 1
    for rule in rules:
        for k in [rule.sku] if rule.sku else list(facts.skus):
            hot = facts.skus[k].hot_signal and rule.hot_signal_days is not None
            floor = (rule.hot_signal_days if hot else rule.days) * rate[k, rule.warehouse]
            for s in facts.probability:
                held = facts.stock[s, k, rule.warehouse][last]
                if held < floor - facts.tol * max(1.0, floor):
                    yield (
                        f"sku {k} at {rule.warehouse} ends the plan with {held} units in "
                        f"scenario {s}, below its safety stock {floor}"
                    )


# --------------------------------------------------------------------------------------------
# Promotion event rules (request.event), re-derived from the schema's descriptions
# --------------------------------------------------------------------------------------------


def plan_locks(facts: Facts) -> dict[tuple[str, str], float]:
    """Presale lock units per (sku, warehouse) from the plan's locks; none listed = 0."""
    locks: dict[tuple[str, str], float] = defaultdict(float)
    for row in facts.rows("locks"):
        locks[row["sku"], row["warehouse"]] += row["units"]
    return dict(locks)


def check_emergency_buffer(facts: Facts) -> Iterable[str]:
    """End-of-day stock keeps emergency_buffer_share of the stock known at the warehouse (on
    hand at the start plus stock in transit arrived so far), every day, in every scenario."""
    event = facts.request.event
    if event is None or event.emergency_buffer_share <= 0:
        return
    share = event.emergency_buffer_share
    known: dict[tuple[str, str], list[float]] = {
        key: [0.0] * facts.horizon for key in {(k, w) for (_s, k, w) in facts.stock}
    }
    for row in facts.request.stock:
        if (row.sku, row.warehouse) in known:
            known[row.sku, row.warehouse][0] += row.quantity
    for row in facts.request.in_transit:
        if (row.sku, row.warehouse) in known and 0 <= row.arrival_day < facts.horizon:
            known[row.sku, row.warehouse][row.arrival_day] += row.quantity
    for (s, k, w), levels in sorted(facts.stock.items()):
        running = 0.0
        for day, level in enumerate(levels):
            running += known[k, w][day]
            floor = share * running
            if level < floor - facts.tol * max(1.0, floor):
                yield (
                    f"emergency buffer broken: sku {k} at {w} ends day {day} with {level} units "
                    f"in scenario {s}, below {share} x {running} known units = {floor}"
                )
                break  # the first day is enough


def check_presale_locks(facts: Facts) -> Iterable[str]:
    """Locks: only presale-eligible SKUs of an event with presale, at most max_lock_share of
    the warehouse's stock over the horizon; presale channels sell only locked units, and the
    other channels (live orders taken on presale included) never sell them."""
    event = facts.request.event
    if event is None:
        return
    max_share = event.presale.max_lock_share if event.presale is not None else 0.0
    supply = net_supply(facts)
    seen: set[tuple[str, str]] = set()
    for i, row in enumerate(facts.rows("locks")):
        k, w = row["sku"], row["warehouse"]
        name = f"locks[{i}] (sku {k}, warehouse {w})"
        if (k, w) in seen:
            yield f"{name}: duplicate entry"
        seen.add((k, w))
        if (k, w) not in supply:
            yield f"{name}: unknown sku or warehouse"
            continue
        if row["units"] < -facts.tol:
            yield f"{name}: negative lock {row['units']}"
        if facts.positive(row["units"]) and (
            event.presale is None or not facts.skus[k].presale_eligible
        ):
            yield f"{name}: locks {row['units']} units of a SKU that may not be locked for presale"
        stock = supply[k, w]
        limit = max_share * stock
        if not facts.within(row["units"], limit):
            yield (
                f"{name}: lock {row['units']} units is over max_lock_share {max_share} x the "
                f"stock there {stock} = {limit}"
            )
        if not facts.close(row["stock"], stock):
            yield f"{name}: stock {row['stock']} != the stock there over the horizon {stock}"
        ratio = row["units"] / stock if stock > facts.tol else 0.0
        if not facts.close(row["share_of_stock"], ratio):
            yield f"{name}: share_of_stock {row['share_of_stock']} != units / stock = {ratio}"
    locks = plan_locks(facts)
    presale_sold: dict[StockKey, float] = defaultdict(float)
    other_sold: dict[StockKey, float] = defaultdict(float)
    for (s, k, w, c), qty in sales_by_stock(facts).items():
        (presale_sold if c in facts.presale_channels else other_sold)[s, k, w] += qty
    for x in facts.rows("presales"):  # live orders: never served from locked units
        other_sold[x["scenario"], x["sku"], x["warehouse"]] += x["quantity"]
    for (s, k, w), qty in sorted(presale_sold.items()):
        lock = locks.get((k, w), 0.0)
        if not facts.within(qty, lock):
            yield (
                f"presale channels sell {qty} units of sku {k} from {w} in scenario {s}, over "
                f"the presale lock {lock}"
            )
    for (s, k, w), qty in sorted(other_sold.items()):
        lock = locks.get((k, w), 0.0)
        if facts.positive(lock) and (k, w) in supply:
            limit = supply[k, w] - lock
            if not facts.within(qty, limit):
                yield (
                    f"locked units sold: other channels sell {qty} units of sku {k} from {w} in "
                    f"scenario {s}, over the stock {supply[k, w]} less the lock {lock} = {limit}"
                )


def check_live_pool(facts: Facts) -> Iterable[str]:
    """Channels neither live nor presale sell at most (1 - live_pool_share) of the unlocked
    stock of each SKU at each warehouse (the rest is the live channels' pool)."""
    event = facts.request.event
    if event is None or event.live_pool_share is None or not facts.live:
        return
    sigma = event.live_pool_share
    supply, locks = net_supply(facts), plan_locks(facts)
    other: dict[StockKey, float] = defaultdict(float)
    for (s, k, w, c), qty in sales_by_stock(facts).items():
        if c not in facts.live and c not in facts.presale_channels:
            other[s, k, w] += qty
    for (s, k, w), qty in sorted(other.items()):
        sellable = supply.get((k, w), 0.0) - locks.get((k, w), 0.0)
        limit = (1 - sigma) * sellable
        if not facts.within(qty, limit):
            yield (
                f"live pool broken: non-live channels sell {qty} units of sku {k} from {w} in "
                f"scenario {s}, over (1 - {sigma}) x unlocked stock {sellable} = {limit}"
            )


def expected_gross_margin(facts: Facts) -> float:
    """Expected (price - unit cost) of every unit sold, a SKU sold at a loss counting 0: a
    substitution earns the substitute's margin, a presale its margin less the presale discount
    (never below 0)."""
    margin = {k: max(0.0, sku.price - sku.unit_cost) for k, sku in facts.skus.items()}
    p = facts.probability
    total = [
        p.get(a["scenario"], 0.0) * margin.get(a["sku"], 0.0) * a["quantity"]
        for a in facts.rows("allocations")
    ]
    total += [
        p.get(x["scenario"], 0.0) * margin.get(x["substitute"], 0.0) * x["quantity"]
        for x in facts.rows("substitutions")
    ]
    total += [
        p.get(x["scenario"], 0.0)
        * max(0.0, margin.get(x["sku"], 0.0) - facts.discount.get(x["sku"], 0.0))
        * x["quantity"]
        for x in facts.rows("presales")
    ]
    return math.fsum(total)


def check_transfer_cost_cap(facts: Facts) -> Iterable[str]:
    """Transfers (unit costs, and the booking fees of every lane day used, orders flown
    along a lane included) cost at most transfer_cost_cap_share x the expected gross margin
    of what the plan sells; the plan's event section reports both sides."""
    event = facts.request.event
    if event is None:
        return
    kappa = event.transfer_cost_cap_share
    first = first_stage_costs(facts)
    cost = first["transfer"] + first["transfer_fixed"]
    cap = None if kappa is None else kappa * expected_gross_margin(facts)
    if cap is not None and not facts.within(cost, cap):
        yield (
            f"transfer cost cap broken: transfers cost {cost}, over {kappa} x expected gross "
            f"margin = {cap}"
        )
    section = facts.plan.get("event")
    if isinstance(section, Mapping):
        got = section.get("transfer_cost")
        if "transfer_cost" in section and not (_type_ok(got, _NUM) and facts.close(got, cost)):
            yield f"event.transfer_cost {got} != transfer + transfer_fixed = {cost}"
        got = section.get("transfer_cost_cap")
        if "transfer_cost_cap" in section and not (
            (got is None and cap is None)
            or (cap is not None and _type_ok(got, _NUM) and facts.close(got, cap))
        ):
            yield f"event.transfer_cost_cap {got} != {cap}"


def check_response_tiers(facts: Facts) -> Iterable[str]:
    """On an event a SKU moves only on lanes whose unit cost is at most its tier's share of
    its price (share 0: the SKU never transfers)."""
    event = facts.request.event
    if event is None:
        return
    shares = {tier.value: share for tier, share in event.transfer_cost_share.items()}
    for i, t in enumerate(facts.rows("transfers")):
        sku = facts.skus.get(t["sku"])
        tier = _tier(sku) if sku is not None else None
        if sku is None or tier is None or tier not in shares or not facts.positive(t["quantity"]):
            continue
        lane = facts.lanes.get(t["lane"])
        unit = lane.unit_cost if lane is not None else t["unit_cost"]
        limit = shares[tier] * sku.price
        if shares[tier] <= 0 or unit > limit + 1e-9:
            yield (
                f"{_transfer_name(i, t)}: sku {t['sku']} of tier {tier} may not pay {unit} a "
                f"unit on the event (its tier pays at most {limit:g})"
            )


def check_supplier_capacity_lock(facts: Facts) -> Iterable[str]:
    """On event days an order day uses only the locked plus the emergency share of the
    supplier's daily capacity (themed 30%, mega 50% + 20%, everyday all, unless set)."""
    event = facts.request.event
    if event is None:
        return
    usable = usable_capacity_share(event)
    if usable >= 1:
        return
    for (sid, day), units in sorted(supplier_day_units(facts).items()):
        supplier = facts.suppliers.get(sid)
        if supplier is None or supplier.capacity_per_day is None:
            continue
        if not event.start_day <= day <= event.end_day:
            continue
        limit = usable * supplier.capacity_per_day
        if not facts.within(units, limit):
            yield (
                f"supplier capacity lock broken: supplier {sid} gets {units} units ordered on "
                f"event day {day}, over {usable} x capacity_per_day "
                f"{supplier.capacity_per_day} = {limit}"
            )


RULES: tuple[Callable[[Facts], Iterable[str]], ...] = (
    check_transfers_use_lanes,
    check_lane_capacity,
    check_lane_uses,
    check_order_shipments,
    check_orders,
    check_supplier_capacity,
    check_min_order,
    check_order_days,
    check_allocations,
    check_lost_sale_rows,
    check_substitutions,
    check_presales,
    check_flow_conservation,
    check_stock_never_negative,
    check_warehouse_capacity,
    check_stock_levels,
    check_costs,
    check_scenarios,
    check_kpis,
    check_service_levels,
    check_safety_stock,
    check_emergency_buffer,
    check_presale_locks,
    check_live_pool,
    check_transfer_cost_cap,
    check_response_tiers,
    check_supplier_capacity_lock,
)


def check_no_plan(plan: Mapping[str, Any]) -> list[str]:
    """A status without a plan carries no decisions and no objective."""
    status = plan.get("status")
    problems = [
        f"status {status!r} has no plan but {key!r} has {len(plan[key])} rows"
        for key in PLAN_LISTS
        if plan.get(key)
    ]
    if plan.get("objective") is not None:
        problems.append(f"status {status!r} has no plan but objective is {plan['objective']!r}")
    return problems


def check_plan(request: PlanRequest, plan: dict[str, Any], tol: float = 1e-6) -> list[str]:
    """Every way ``plan`` breaks the request or docs/plan-format.md; [] when it is valid."""
    status = plan.get("status")
    if status in NO_PLAN_STATUSES:
        return check_no_plan(plan)
    if status not in PLAN_STATUSES:
        return [f"unknown status {status!r}"]
    problems = check_shape(plan)
    if problems:  # the rules below read these fields; report the shape first
        return problems
    request, _ = expand_scenarios(request)  # demand stated as tiers or distributions
    facts = build_facts(request, plan, tol)
    for rule in RULES:
        problems.extend(rule(facts))
    return problems
