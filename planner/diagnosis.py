"""Explain an infeasible request in planner terms.

First choice: solve the elastic twin of the model (every hard rule with a named, heavily
priced slack) and report each rule it had to break, where and by how much, plus the plan it
found: the cheapest repair. Fallback when that solve yields nothing: direct checks of the
rules against the data (a promise no warehouse meets, demand above every unit that could
exist, a warehouse that starts over capacity).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyomo.environ as pyo

from models.data import NetworkData
from models.network_plan import build_network_plan
from planner.plan import extract_plan
from solvers import SolveOptions, get_solver
from solvers.matrix import compile_pyomo, load_solution

SLACK_EPS = 1e-6


def diagnose(data: NetworkData, solver: str, options: SolveOptions) -> dict[str, Any]:
    """The diagnosis of an infeasible request: broken rules and the cheapest repair."""
    model = build_network_plan(data, elastic=True)
    matrix = compile_pyomo(model)
    result = get_solver(solver).solve(matrix, options)
    if not result.has_solution:
        return {"method": "direct checks", "findings": quick_diagnosis(data), "repair": None}
    load_solution(model, matrix, result.x)
    findings = elastic_findings(data, model)
    if not findings:  # the elastic optimum breaks nothing: only numerical trouble left
        findings = quick_diagnosis(data)
    repair = extract_plan(data, model)
    return {
        "method": "elastic",
        "findings": findings,
        "repair": {
            "message": _repair_message(repair),
            "transfers": repair["transfers"],
            "orders": repair["orders"],
            "costs": repair["costs"],
        },
    }


def _repair_message(repair: dict[str, Any]) -> str:
    transfers = sorted(repair["transfers"], key=lambda x: -x["quantity"])
    if not transfers and not repair["orders"]:
        return "no transfer or order helps: the rules above must be relaxed"
    parts = [
        f"{x['mode']} transfer {x['from']} -> {x['to']} of {x['quantity']:,} x {x['sku']} "
        f"(day {x['ship_day']}), ${x['cost'] + 0:,.0f}"
        for x in transfers[:3]
    ]
    parts += [
        f"order {o['quantity']:,} x {o['sku']} from {o['supplier']} (day {o['order_day']})"
        for o in repair["orders"][:3]
    ]
    first = repair["costs"]["transfer"] + repair["costs"]["transfer_fixed"]
    return "cheapest repair: " + "; ".join(parts) + f" (transfer cost ${first:,.0f})"


def _slacks(var: pyo.Var) -> dict[Any, float]:
    out = {}
    for index in var:
        value = pyo.value(var[index], exception=False)
        if value is not None and value > SLACK_EPS:
            out[index] = float(value)
    return out


def elastic_findings(data: NetworkData, m: pyo.ConcreteModel) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = []

    late: dict[tuple[str, str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (s, k, w, c, _t), q in _slacks(m.serve_late).items():
        late[c, k, w][s] += q
    for (c, k, w), by_scenario in sorted(late.items()):
        s, q = max(by_scenario.items(), key=lambda item: item[1])
        findings.append(
            {
                "rule": "promise_respected",
                "channel": c,
                "sku": k,
                "warehouse": w,
                "scenario": s,
                "units": q,
                "message": f"channel {c}, SKU {k}: {q:,.0f} units cannot meet the "
                f"{data.promise_days[c]}-day promise (scenario {s}); the stock that can serve them "
                f"is at {w} ({data.delivery_days[c, w]} days)",
            }
        )

    if data.serve_all_demand:
        lost: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for (s, k, c, _t), q in _slacks(m.lost).items():
            lost[c, k][s] += q
        for (c, k), by_scenario in sorted(lost.items()):
            s, q = max(by_scenario.items(), key=lambda item: item[1])
            findings.append(
                {
                    "rule": "serve_all_demand",
                    "channel": c,
                    "sku": k,
                    "scenario": s,
                    "units": q,
                    "message": f"channel {c}, SKU {k}: {q:,.0f} units of demand cannot be served "
                    f"by any warehouse in time (scenario {s})",
                }
            )

    for (key, t), q in sorted(_slacks(m.over_lane_capacity).items()):
        lane = next(lane for lane in data.lanes if lane.key == key)
        findings.append(
            {
                "rule": "lane_capacity",
                "lane": key,
                "day": t,
                "units": q,
                "message": f"lane {key} ({lane.mode}) must carry {q:,.0f} units above its capacity "
                f"of {lane.capacity:,.0f} on day {t}",
            }
        )

    worst_w: dict[str, tuple[float, str, int]] = {}
    for (s, w, t), q in _slacks(m.over_warehouse_capacity).items():
        if q > worst_w.get(w, (0.0, "", 0))[0]:
            worst_w[w] = (q, s, t)
    for w, (q, s, t) in sorted(worst_w.items()):
        findings.append(
            {
                "rule": "warehouse_capacity",
                "warehouse": w,
                "day": t,
                "scenario": s,
                "units": q,
                "message": f"warehouse {w} must hold {q:,.0f} units above its capacity of "
                f"{data.warehouse_capacity[w]:,.0f} (day {t}, scenario {s})",
            }
        )

    for (pid, t), q in sorted(_slacks(m.over_supplier_daily).items()):
        findings.append(
            {
                "rule": "supplier_daily_capacity",
                "supplier": pid,
                "day": t,
                "units": q,
                "message": f"supplier {pid} must ship {q:,.0f} units above its daily capacity "
                f"on day {t}",
            }
        )
    suppliers = {p.id: p for p in data.suppliers}
    for (pid, i), q in sorted(_slacks(m.over_supplier_window).items()):
        start, end, cap = suppliers[pid].capacity_windows[i]
        findings.append(
            {
                "rule": "supplier_window_capacity",
                "supplier": pid,
                "window": [start, end],
                "units": q,
                "message": f"supplier {pid} must ship {q:,.0f} units above its capacity of "
                f"{cap:,.0f} in days {start}-{end}",
            }
        )
    for (pid, t), q in sorted(_slacks(m.short_of_minimum_order).items()):
        findings.append(
            {
                "rule": "minimum_order",
                "supplier": pid,
                "day": t,
                "units": q,
                "message": f"supplier {pid}: the order on day {t} is {q:,.0f} units short of the "
                f"minimum order of {suppliers[pid].min_order:,.0f}",
            }
        )
    for k, q in sorted(_slacks(m.short_of_fill_rate).items()):
        findings.append(
            {
                "rule": "fill_rate_target",
                "sku": k,
                "units": q,
                "message": f"SKU {k}: the {data.fill_rate_target[k]:.1%} fill-rate target is "
                f"out of reach by {q:,.0f} expected units",
            }
        )
    for k, q in sorted(_slacks(m.short_of_no_stockout).items()):
        findings.append(
            {
                "rule": "no_stockout_chance",
                "sku": k,
                "probability": q,
                "message": f"SKU {k}: no stock-out with probability "
                f"{data.no_stockout_target[k]:.1%} is out of reach by {q:.1%}",
            }
        )
    worst_floor: dict[tuple[str, str], float] = {}
    for (_s, k, w), q in _slacks(m.short_of_safety_stock).items():
        worst_floor[k, w] = max(worst_floor.get((k, w), 0.0), q)
    for (k, w), q in sorted(worst_floor.items()):
        findings.append(
            {
                "rule": "safety_stock_floor",
                "sku": k,
                "warehouse": w,
                "units": q,
                "message": f"SKU {k} at {w}: the safety stock of {data.safety_floor[k, w]:,.0f} "
                f"units cannot be kept; {q:,.0f} short at the end of the plan",
            }
        )
    findings.extend(_event_findings(data, m))
    return findings


def _event_findings(data: NetworkData, m: pyo.ConcreteModel) -> list[dict[str, Any]]:
    """Event rules the elastic twin had to break (rules (13)-(18) of the model)."""
    findings: list[dict[str, Any]] = []
    worst: dict[tuple[str, str], float] = {}
    for (_s, k, w), q in _slacks(m.short_of_emergency_buffer).items():
        worst[k, w] = max(worst.get((k, w), 0.0), q)
    for (k, w), q in sorted(worst.items()):
        findings.append(
            {
                "rule": "emergency_buffer",
                "sku": k,
                "warehouse": w,
                "units": q,
                "message": f"SKU {k} at {w}: the {data.emergency_buffer_share:.0%} emergency "
                f"buffer must be cut by {q:,.0f} units to meet the other rules",
            }
        )
    for (k, w), q in sorted(_slacks(m.over_presale_lock_share).items()):
        findings.append(
            {
                "rule": "presale_lock_share",
                "sku": k,
                "warehouse": w,
                "units": q,
                "message": f"SKU {k} at {w}: presale orders need {q:,.0f} locked units above "
                f"the {data.max_lock_share:.0%} lock share",
            }
        )
    pool: dict[tuple[str, str], float] = {}
    for (_s, k, w), q in _slacks(m.over_live_pool).items():
        pool[k, w] = max(pool.get((k, w), 0.0), q)
    for (k, w), q in sorted(pool.items()):
        findings.append(
            {
                "rule": "live_pool_reserved",
                "sku": k,
                "warehouse": w,
                "units": q,
                "message": f"SKU {k} at {w}: the other channels need {q:,.0f} units of the "
                f"stock reserved for the live channels ({data.live_pool_share:.0%})",
            }
        )
    for _i, q in _slacks(m.over_transfer_cost_cap).items():
        findings.append(
            {
                "rule": "transfer_cost_cap",
                "cost": q,
                "message": f"transfers must cost ${q:,.0f} more than the "
                f"{data.transfer_cost_cap_share:.0%} share of expected gross margin allows",
            }
        )
    for (pid, t), q in sorted(_slacks(m.over_locked_capacity).items()):
        findings.append(
            {
                "rule": "supplier_capacity_lock",
                "supplier": pid,
                "day": t,
                "units": q,
                "message": f"supplier {pid}: {q:,.0f} units above the capacity locked for the "
                f"event on day {t}",
            }
        )
    return findings


def quick_diagnosis(data: NetworkData) -> list[dict[str, Any]]:
    findings = _unreachable_promises(data) + _supply_shortfalls(data) + _overfull_warehouses(data)
    if not findings:
        findings.append(
            {
                "rule": "unknown",
                "message": "the hard rules conflict (capacities, lead times or timing of stock) "
                "in a way the direct checks cannot name",
            }
        )
    return findings


def _unreachable_promises(data: NetworkData) -> list[dict[str, Any]]:
    if not data.serve_all_demand:
        return []
    units: dict[tuple[str, str, str], float] = defaultdict(float)
    for (s, k, c, _t), q in data.demand.items():
        if not data.eligible[c]:
            units[s, c, k] += q
    worst: dict[tuple[str, str], float] = defaultdict(float)  # largest over scenarios
    for (_s, c, k), q in units.items():
        worst[c, k] = max(worst[c, k], q)
    findings = []
    for (c, k), q in sorted(worst.items()):
        options = sorted((days, w) for (c2, w), days in data.delivery_days.items() if c2 == c)
        fastest = f"; fastest is {options[0][1]} ({options[0][0]} days)" if options else ""
        findings.append(
            {
                "rule": "promise_respected",
                "channel": c,
                "sku": k,
                "units": q,
                "message": f"channel {c}, SKU {k}: {q:,.0f} units must be served but no warehouse "
                f"meets the {data.promise_days[c]}-day promise{fastest}",
            }
        )
    return findings


def _supply_shortfalls(data: NetworkData) -> list[dict[str, Any]]:
    if not data.serve_all_demand:
        return []
    existing: dict[str, float] = defaultdict(float)
    for (k, _w), q in data.initial_stock.items():
        existing[k] += q
    for (k, _w, _t), q in data.inbound.items():
        existing[k] += q
    unlimited = {k for p in data.suppliers if p.capacity_per_day is None for k in p.skus}
    supplied: dict[str, float] = defaultdict(float)
    for p in data.suppliers:
        if p.capacity_per_day is not None:
            days = max(0, data.horizon_days - p.lead_days)
            for k in p.skus:
                supplied[k] = supplied[k] + p.capacity_per_day * days
    demand: dict[tuple[str, str], float] = defaultdict(float)
    for (s, k, _c, _t), q in data.demand.items():
        demand[s, k] += q
    findings = []
    for (s, k), q in sorted(demand.items()):
        if k in unlimited:
            continue
        most = existing[k] + supplied[k]
        if q > most + 1e-6:
            findings.append(
                {
                    "rule": "serve_all_demand",
                    "scenario": s,
                    "sku": k,
                    "units": q - most,
                    "message": f"scenario {s}, SKU {k}: demand {q:,.0f} exceeds the {most:,.0f} "
                    f"units on hand, in transit and orderable by {q - most:,.0f}",
                }
            )
    return findings


def _overfull_warehouses(data: NetworkData) -> list[dict[str, Any]]:
    """Stock that starts above a warehouse's capacity must leave or sell on day 0."""
    findings = []
    for w in data.warehouses:
        cap = data.warehouse_capacity[w]
        if cap is None:
            continue
        start = sum(q for (k, w2), q in data.initial_stock.items() if w2 == w) + sum(
            q for (k, w2, t), q in data.inbound.items() if w2 == w and t == 0
        )
        if start > cap + 1e-6:
            findings.append(
                {
                    "rule": "warehouse_capacity",
                    "warehouse": w,
                    "units": start - cap,
                    "message": f"warehouse {w} starts day 0 with {start:,.0f} units, "
                    f"{start - cap:,.0f} above its capacity of {cap:,.0f}; "
                    "the excess must ship out or sell on day 0",
                }
            )
    return findings
