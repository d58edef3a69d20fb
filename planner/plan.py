"""Solved model -> plan JSON (see docs/plan-format.md), with costs and KPIs.

Costs are recomputed from the plan's own decisions (transfers and orders rounded to whole
units, fixed costs for the lanes and order days actually used; holding and salvage from the
solver's end-of-day stock), so ``costs.total`` is the cost of what the plan tells the planner
to do; the solver's own figure is kept as ``solver.reported_objective``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pyomo.environ as pyo

from models.data import NetworkData
from models.network_plan import next_batch_day, next_batch_days
from solvers import SolutionKind, SolveOptions, SolveResult, Termination

EPS = 1e-9  # values below this are solver noise, not decisions


def plan_status(result: SolveResult) -> str:
    if result.solution is SolutionKind.optimal:
        return "optimal"
    if result.solution is SolutionKind.feasible:
        return "feasible"
    if result.termination is Termination.infeasible:
        return "infeasible"
    if result.termination in (Termination.time_limit, Termination.interrupted):
        return "time_limit_no_solution"
    return "error"


def _val(var: Any) -> float:
    v = pyo.value(var, exception=False)
    return 0.0 if v is None or abs(v) < EPS else float(v)


def _units(var: Any) -> int:
    return round(_val(var))


def solver_section(result: SolveResult, options: SolveOptions) -> dict[str, Any]:
    return {
        "name": result.solver,
        "version": result.version,
        "termination": result.termination.value,
        "seconds": round(result.seconds, 6),
        "time_limit": options.time_limit,
        "mip_gap": options.mip_gap,
        "reported_objective": result.objective,
    }


def model_section(result: SolveResult) -> dict[str, int]:
    size = result.size
    return {
        "variables": size.variables,
        "integer_variables": size.integer_variables,
        "binary_variables": size.binary_variables,
        "constraints": size.constraints,
        "nonzeros": size.nonzeros,
    }


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    if objective is None or bound is None:
        return None
    return max(0.0, (objective - bound) / max(1e-9, abs(objective)))


def extract_plan(data: NetworkData, model: pyo.ConcreteModel) -> dict[str, Any]:
    """The decisions and their costs, read from a model whose variables hold a solution."""
    m = model
    lanes = {lane.key: lane for lane in data.lanes}
    suppliers = {p.id: p for p in data.suppliers}
    probability = data.probability

    transfers: list[dict[str, Any]] = []
    lane_units: dict[tuple[str, int], int] = defaultdict(int)
    for k, key, t in m.ship:
        q = _units(m.ship[k, key, t])
        if q <= 0:
            continue
        lane = lanes[key]
        lane_units[key, t] += q
        transfers.append(
            {
                "sku": k,
                "from": lane.origin,
                "to": lane.destination,
                "mode": lane.mode,
                "lane": key,
                "quantity": q,
                "ship_day": t,
                "arrive_day": t + lane.lead_days,
                "unit_cost": lane.unit_cost,
                "cost": q * lane.unit_cost,
            }
        )
    orders: list[dict[str, Any]] = []
    supplier_units: dict[tuple[str, int], int] = defaultdict(int)
    for pid, k, w, t in m.order:
        q = _units(m.order[pid, k, w, t])
        if q <= 0:
            continue
        p = suppliers[pid]
        supplier_units[pid, t] += q
        orders.append(
            {
                "supplier": pid,
                "sku": k,
                "warehouse": w,
                "quantity": q,
                "order_day": t,
                "arrive_day": t + p.lead_days,
                "unit_cost": p.unit_cost[k],
                "cost": q * p.unit_cost[k],
            }
        )
    order_days = [
        {
            "supplier": pid,
            "order_day": t,
            "units": units,
            "fixed_cost": suppliers[pid].order_fixed_cost,
        }
        for (pid, t), units in sorted(
            supplier_units.items(), key=lambda item: (item[0][1], item[0][0])
        )
    ]

    allocations: list[dict[str, Any]] = []
    served_by: dict[tuple[str, str, str], float] = defaultdict(float)  # (s, k, w)
    served_in: dict[str, float] = defaultdict(float)
    fulfilment = 0.0
    for s, k, w, c, t in m.serve:
        q = _val(m.serve[s, k, w, c, t])
        if q <= 0:
            continue
        unit = data.fulfilment_cost[c, w]
        allocations.append(
            {
                "sku": k,
                "warehouse": w,
                "channel": c,
                "scenario": s,
                "day": t,
                "quantity": q,
                "unit_cost": unit,
                "cost": q * unit,
            }
        )
        served_by[s, k, w] += q
        served_in[s] += q
        fulfilment += probability[s] * q * unit

    substitutions: list[dict[str, Any]] = []
    for s, k, j, w, c, t in m.substitute:
        q = _val(m.substitute[s, k, j, w, c, t])
        if q <= 0:
            continue
        unit = data.fulfilment_cost[c, w]
        substitutions.append(
            {
                "sku": k,
                "substitute": j,
                "warehouse": w,
                "channel": c,
                "scenario": s,
                "day": t,
                "quantity": q,
                "unit_cost": unit,
                "cost": q * unit,
            }
        )
        served_by[s, j, w] += q
        served_in[s] += q
        fulfilment += probability[s] * q * unit

    presales: list[dict[str, Any]] = []
    discount = 0.0
    batches = next_batch_days(data) if len(m.presold) else {}
    for s, k, w, c, t in m.presold:
        q = _val(m.presold[s, k, w, c, t])
        if q <= 0:
            continue
        unit = data.fulfilment_cost[c, w]
        cut = data.presale_discount.get(k, 0.0)
        presales.append(
            {
                "sku": k,
                "warehouse": w,
                "channel": c,
                "scenario": s,
                "day": t,
                "batch_day": next_batch_day(batches, k, w, t, data.horizon_days),
                "quantity": q,
                "unit_cost": unit,
                "unit_discount": cut,
                "cost": q * (unit + cut),
            }
        )
        served_by[s, k, w] += q
        served_in[s] += q
        fulfilment += probability[s] * q * unit
        discount += probability[s] * q * cut

    order_shipments = _order_shipments(data, allocations, substitutions, presales)
    order_units: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for x in order_shipments:
        by_scenario = order_units[x["lane"], x["ship_day"]]
        by_scenario[x["scenario"]] = by_scenario.get(x["scenario"], 0.0) + x["quantity"]
    lane_uses = [
        {
            "lane": key,
            "from": lanes[key].origin,
            "to": lanes[key].destination,
            "mode": lanes[key].mode,
            "ship_day": t,
            "units": lane_units.get((key, t), 0),
            "order_units": max(order_units.get((key, t), {}).values(), default=0.0),
            "capacity": lanes[key].capacity,
            "fixed_cost": lanes[key].fee(t),
            "booked": t in lanes[key].booked_days,
        }
        for key, t in sorted(lane_units.keys() | order_units.keys(), key=lambda i: (i[1], i[0]))
    ]

    lost_sales: list[dict[str, Any]] = []
    lost_in: dict[str, float] = defaultdict(float)
    lost_cost = 0.0
    for s, k, c, t in m.lost:
        q = _val(m.lost[s, k, c, t])
        if q <= 0:
            continue
        penalty = data.lost_sale_penalty[k] + data.lost_sale_premium.get((k, c), 0.0)
        lost_sales.append(
            {
                "sku": k,
                "channel": c,
                "scenario": s,
                "day": t,
                "quantity": q,
                "unit_penalty": penalty,
                "cost": q * penalty,
            }
        )
        lost_in[s] += q
        lost_cost += probability[s] * q * penalty

    holding_in: dict[str, float] = defaultdict(float)
    leftover: dict[tuple[str, str, str], float] = {}
    last = data.horizon_days - 1
    for s, k, w, t in m.stock:
        q = _val(m.stock[s, k, w, t])
        holding_in[s] += data.holding_cost[w] * q
        if t == last:
            leftover[s, k, w] = q
    salvage_in = {
        s: -sum(
            data.salvage_value[k] * leftover.get((s, k, w), 0.0)
            for k in data.skus
            for w in data.warehouses
        )
        for s in data.scenarios
    }

    costs = {
        "transfer_fixed": sum(u["fixed_cost"] for u in lane_uses),
        "transfer": sum(x["cost"] for x in transfers),
        "order_fixed": sum(o["fixed_cost"] for o in order_days),
        "purchase": sum(o["cost"] for o in orders),
        "fulfilment": fulfilment,
        "holding": sum(probability[s] * holding_in[s] for s in data.scenarios),
        "lost_sales": lost_cost,
        "presale_discount": discount,
        "salvage": sum(probability[s] * salvage_in[s] for s in data.scenarios),
    }
    costs["total"] = math.fsum(costs.values())
    first_stage = (
        costs["transfer_fixed"] + costs["transfer"] + costs["order_fixed"] + costs["purchase"]
    )

    demand_in: dict[str, float] = defaultdict(float)
    for (s, _k, _c, _t), q in data.demand.items():
        demand_in[s] += q
    scenario_rows = []
    for s in data.scenarios:
        second = (
            sum(x["cost"] for x in allocations if x["scenario"] == s)
            + sum(x["cost"] for x in substitutions if x["scenario"] == s)
            + sum(x["cost"] for x in presales if x["scenario"] == s)
            + holding_in[s]
            + sum(x["cost"] for x in lost_sales if x["scenario"] == s)
            + salvage_in[s]
        )
        scenario_rows.append(
            {
                "name": s,
                "probability": probability[s],
                "demand": demand_in[s],
                "served": served_in[s],
                "lost": lost_in[s],
                "fill_rate": served_in[s] / demand_in[s] if demand_in[s] > 0 else 1.0,
                "cost": first_stage + second,
            }
        )

    service = _service(data, lost_sales)
    stock_levels = _stock_levels(data, transfers, orders, served_by, leftover, service)
    expected_demand = sum(probability[s] * demand_in[s] for s in data.scenarios)
    expected_served = sum(probability[s] * served_in[s] for s in data.scenarios)
    available = sum(row["available"] for row in stock_levels)
    daily_demand = expected_demand / data.horizon_days
    kpis = {
        "expected_demand": expected_demand,
        "expected_served": expected_served,
        "expected_fill_rate": expected_served / expected_demand if expected_demand > 0 else 1.0,
        "expected_lost_units": sum(probability[s] * lost_in[s] for s in data.scenarios),
        "days_of_supply": available / daily_demand if daily_demand > 0 else None,
        "transfer_units": sum(x["quantity"] for x in transfers),
        "order_units": sum(o["quantity"] for o in orders),
    }
    return {
        "transfers": sorted(transfers, key=lambda x: (x["ship_day"], x["lane"], x["sku"])),
        "lane_uses": lane_uses,
        "orders": sorted(
            orders, key=lambda o: (o["order_day"], o["supplier"], o["sku"], o["warehouse"])
        ),
        "order_days": order_days,
        "stock_levels": stock_levels,
        "allocations": allocations,
        "order_shipments": order_shipments,
        "lost_sales": lost_sales,
        "substitutions": substitutions,
        "presales": presales,
        "scenarios": scenario_rows,
        "service": list(service.values()),
        "costs": costs,
        "kpis": kpis,
    }


ORDER_NOISE = 1e-6  # a flown quantity at most this is solver noise, not a flight (no fee)


def _order_shipments(
    data: NetworkData,
    allocations: list[dict[str, Any]],
    substitutions: list[dict[str, Any]],
    presales: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Orders flown along a lane to their customers (21), per scenario: a view of the
    allocations, substitutions and presales whose fulfilment names a lane."""
    lanes = {lane.key: lane for lane in data.lanes}
    out: list[dict[str, Any]] = []
    rows = [(x, x["sku"], x["day"]) for x in allocations]
    rows += [(x, x["substitute"], x["day"]) for x in substitutions]
    rows += [(x, x["sku"], x["batch_day"]) for x in presales]
    for x, sku, ship_day in rows:
        key = data.order_lane.get((x["channel"], x["warehouse"]))
        if key is None or x["quantity"] <= ORDER_NOISE:
            continue
        lane = lanes[key]
        out.append(
            {
                "sku": sku,
                "channel": x["channel"],
                "scenario": x["scenario"],
                "from": lane.origin,
                "to": lane.destination,
                "mode": lane.mode,
                "lane": key,
                "quantity": x["quantity"],
                "ship_day": ship_day,
                "deliver_day": ship_day + data.delivery_days[x["channel"], x["warehouse"]],
            }
        )
    return sorted(out, key=lambda x: (x["ship_day"], x["lane"], x["sku"], x["scenario"]))


def _service(data: NetworkData, lost_sales: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per SKU: tier, targets, and the fill rate and stock-out probability the plan achieves."""
    demand: dict[str, float] = defaultdict(float)
    for (s, k, _c, _t), q in data.demand.items():
        demand[k] += data.probability[s] * q
    lost: dict[str, float] = defaultdict(float)
    short_in: dict[tuple[str, str], float] = defaultdict(float)
    for row in lost_sales:
        lost[row["sku"]] += data.probability[row["scenario"]] * row["quantity"]
        short_in[row["scenario"], row["sku"]] += row["quantity"]
    out = {}
    for k in data.skus:
        stockout = sum(
            data.probability[s] for s in data.scenarios if short_in.get((s, k), 0.0) > 1e-6
        )
        out[k] = {
            "sku": k,
            "tier": data.sku_tier.get(k),
            "expected_demand": demand[k],
            "fill_rate": 1.0 - lost[k] / demand[k] if demand[k] > 0 else 1.0,
            "stockout_probability": stockout,
            "fill_rate_target": data.fill_rate_target.get(k),
            "no_stockout_target": data.no_stockout_target.get(k),
        }
    return out


def _stock_levels(
    data: NetworkData,
    transfers: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    served_by: dict[tuple[str, str, str], float],
    leftover: dict[tuple[str, str, str], float],
    service: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Per SKU x warehouse: what is there, what the plan moves, and what is expected to remain."""
    inflow: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (k, w), q in data.initial_stock.items():
        inflow[k, w]["initial"] += q
    for (k, w, _t), q in data.inbound.items():
        inflow[k, w]["in_transit"] += q
    for o in orders:
        inflow[o["sku"], o["warehouse"]]["orders_in"] += o["quantity"]
    for x in transfers:
        inflow[x["sku"], x["to"]]["transfers_in"] += x["quantity"]
        inflow[x["sku"], x["from"]]["transfers_out"] += x["quantity"]
    rows = []
    for k in data.skus:
        for w in data.warehouses:
            flows = inflow.get((k, w))
            served = sum(
                data.probability[s] * served_by.get((s, k, w), 0.0) for s in data.scenarios
            )
            if not flows and served <= 0:
                continue
            flows = flows or defaultdict(float)
            available = (
                flows["initial"]
                + flows["in_transit"]
                + flows["orders_in"]
                + flows["transfers_in"]
                - flows["transfers_out"]
            )
            rows.append(
                {
                    "sku": k,
                    "warehouse": w,
                    "tier": service[k]["tier"],
                    "initial": flows["initial"],
                    "in_transit": flows["in_transit"],
                    "orders_in": flows["orders_in"],
                    "transfers_in": flows["transfers_in"],
                    "transfers_out": flows["transfers_out"],
                    "available": available,
                    "expected_served": served,
                    "expected_leftover": sum(
                        data.probability[s] * leftover.get((s, k, w), 0.0) for s in data.scenarios
                    ),
                    "safety_floor": data.safety_floor.get((k, w), 0.0),
                    "sku_fill_rate": service[k]["fill_rate"],
                    "sku_stockout_probability": service[k]["stockout_probability"],
                }
            )
    return rows
