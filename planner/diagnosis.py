"""Explain an infeasible request in planner terms.

These are direct checks of the hard rules against the data (no solve): a promise no
warehouse can meet, or demand above every unit that could ever exist. They name the rule,
the place and the shortfall.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from models.data import NetworkData


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
