"""What a promotion team needs from an event plan, beyond transfers and stock levels.

Read from a solved model of a request with an ``event`` (rules (13)-(20) of
:mod:`models.network_plan`):

- ``locks``: presale locks per SKU x warehouse, as units and as a share of the stock there;
- ``channel_pools``: per SKU x warehouse, the live pool, the pool other channels share, the
  emergency buffer, and what each is expected to sell;
- ``supplier_reservations``: supplier capacity locked on event days (themed 30%, mega 50% plus
  20% emergency) and how much of it the plan uses;
- ``release_schedule``: when to release unpaid presale reservations (15 min, 1 h, 4 h);
- ``offers``: storefront offers per SKU x warehouse ("indonesia: 200 left, 1-3 days");
- ``presale_switches``: SKUs switched to presale, and the inbound batch they are locked on.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pyomo.environ as pyo
from scipy.stats import binom

from models.data import NetworkData
from planner.schema import Event, Fulfilment, PlanRequest, Presale

EPS = 1e-6


def _val(var: Any) -> float:
    v = pyo.value(var, exception=False)
    return 0.0 if v is None or abs(v) < 1e-9 else float(v)


def promotion_sections(
    request: PlanRequest, data: NetworkData, model: pyo.ConcreteModel, plan: dict[str, Any]
) -> dict[str, Any]:
    event = request.event
    assert event is not None
    available = {(r["sku"], r["warehouse"]): r["available"] for r in plan["stock_levels"]}
    return {
        "event": {
            "name": event.name,
            "tier": event.tier.value,
            "start_day": event.start_day,
            "end_day": event.end_day,
            "live_channels": list(data.live_channels),
            "presale_channels": list(data.presale_channels),
            "emergency_buffer_share": data.emergency_buffer_share,
            "live_pool_share": data.live_pool_share,
            "transfer_cost_cap_share": data.transfer_cost_cap_share,
            "transfer_cost": plan["costs"]["transfer"] + plan["costs"]["transfer_fixed"],
            "transfer_cost_cap": _transfer_cap(data, plan),
        },
        "locks": _locks(data, model, available),
        "channel_pools": _channel_pools(data, model, plan, available),
        "supplier_reservations": _supplier_reservations(data, plan),
        "release_schedule": release_schedule(event.presale) if event.presale else [],
        "offers": _offers(request, data, model, available),
        "presale_switches": _presale_switches(data, plan),
    }


def _expected(data: NetworkData, rows: list[dict[str, Any]], *keys: str) -> dict[tuple, float]:
    out: dict[tuple, float] = defaultdict(float)
    for r in rows:
        out[tuple(r[k] for k in keys)] += data.probability[r["scenario"]] * r["quantity"]
    return out


def _transfer_cap(data: NetworkData, plan: dict[str, Any]) -> float | None:
    """kappa x expected gross margin of what the plan sells (the right side of (16))."""
    if data.transfer_cost_cap_share is None:
        return None
    margin = sum(
        data.probability[r["scenario"]] * data.gross_margin.get(r["sku"], 0.0) * r["quantity"]
        for r in plan["allocations"]
    )
    margin += sum(
        data.probability[r["scenario"]]
        * data.gross_margin.get(r["substitute"], 0.0)
        * r["quantity"]
        for r in plan["substitutions"]
    )
    margin += sum(
        data.probability[r["scenario"]]
        * max(0.0, data.gross_margin.get(r["sku"], 0.0) - r["unit_discount"])
        * r["quantity"]
        for r in plan["presales"]
    )
    return data.transfer_cost_cap_share * margin


def _locks(
    data: NetworkData, model: pyo.ConcreteModel, available: dict[tuple[str, str], float]
) -> list[dict[str, Any]]:
    presale = set(data.presale_channels)
    sold: dict[tuple[str, str], float] = defaultdict(float)
    for s, k, w, c, _t in model.serve:
        if c in presale:
            sold[k, w] += data.probability[s] * _val(model.serve[s, k, w, c, _t])
    rows = []
    for k, w in model.lock:
        units = _val(model.lock[k, w])
        stock = available.get((k, w), 0.0)
        if units <= EPS and stock <= EPS:
            continue
        rows.append(
            {
                "sku": k,
                "warehouse": w,
                "units": units,
                "share_of_stock": units / stock if stock > EPS else 0.0,
                "max_share": data.max_lock_share,
                "stock": stock,
                "expected_presale_sold": sold[k, w],
            }
        )
    return rows


def _channel_pools(
    data: NetworkData,
    model: pyo.ConcreteModel,
    plan: dict[str, Any],
    available: dict[tuple[str, str], float],
) -> list[dict[str, Any]]:
    live, presale = set(data.live_channels), set(data.presale_channels)
    sold = _expected(data, plan["allocations"], "sku", "warehouse", "channel")
    for (k, w, c), q in _expected(
        data, plan["substitutions"], "substitute", "warehouse", "channel"
    ).items():
        sold[k, w, c] += q
    by_kind: dict[tuple[str, str, str], float] = defaultdict(float)
    for (k, w, c), q in sold.items():
        by_kind[k, w, "presale" if c in presale else "live" if c in live else "other"] += q
    known: dict[tuple[str, str], float] = defaultdict(float)
    for (k, w), q in data.initial_stock.items():
        known[k, w] += q
    for (k, w, _t), q in data.inbound.items():
        known[k, w] += q
    sigma = data.live_pool_share if data.live_channels else None
    rows = []
    for (k, w), stock in sorted(available.items()):
        if stock <= EPS:
            continue
        locked = _val(model.lock[k, w]) if (k, w) in model.lock else 0.0
        sellable = stock - locked
        rows.append(
            {
                "sku": k,
                "warehouse": w,
                "stock": stock,
                "locked": locked,
                "emergency_buffer": data.emergency_buffer_share * known.get((k, w), 0.0),
                "live_pool": sellable if sigma is None else sigma * sellable,
                "everyday_pool": sellable if sigma is None else (1 - sigma) * sellable,
                "live_may_use_everyday_pool": True,
                "expected_live_sold": by_kind[k, w, "live"],
                "expected_everyday_sold": by_kind[k, w, "other"],
                "expected_presale_sold": by_kind[k, w, "presale"],
            }
        )
    return rows


def _supplier_reservations(data: NetworkData, plan: dict[str, Any]) -> list[dict[str, Any]]:
    if not data.event_days:
        return []
    planned: dict[tuple[str, int], float] = defaultdict(float)
    for o in plan["orders"]:
        planned[o["supplier"], o["order_day"]] += o["quantity"]
    rows = []
    for p in data.suppliers:
        if p.capacity_per_day is None:
            continue
        for t in data.event_days:
            if t + p.lead_days >= data.horizon_days:
                continue
            locked = data.capacity_lock_share * p.capacity_per_day
            emergency = data.emergency_capacity_share * p.capacity_per_day
            rows.append(
                {
                    "supplier": p.id,
                    "day": t,
                    "capacity": p.capacity_per_day,
                    "locked_share": data.capacity_lock_share,
                    "locked_units": locked,
                    "emergency_share": data.emergency_capacity_share,
                    "emergency_units": emergency,
                    "planned_units": planned[p.id, t],
                    "emergency_used": max(0.0, planned[p.id, t] - locked),
                }
            )
    return rows


def release_schedule(presale: Presale) -> list[dict[str, Any]]:
    """Staged release of unpaid presale reservations.

    With R units reserved and F_j the share paid by stage j (the curve's last share is the
    share that ever pays), U_j = R (1 - F_j) units are still unpaid at stage j and each of
    them still pays with probability pi_j = (F_last - F_j) / (1 - F_j). The units their
    payers need stay locked at the chosen confidence (the binomial quantile of U_j draws of
    pi_j); the rest are released. At the last stage pi = 0: everything unpaid is released.
    """
    curve = presale.payment_curve
    if not curve:
        return []
    final = curve[-1].paid_share
    rows = []
    for r in presale.reservations:
        released_so_far = 0.0
        for stage in curve:
            unpaid = r.units * (1 - stage.paid_share)
            still_pays = (final - stage.paid_share) / (1 - stage.paid_share) if unpaid > 0 else 0.0
            n = math.floor(unpaid + 1e-9)
            keep = float(binom.ppf(presale.release_confidence, n, still_pays)) if n > 0 else 0.0
            keep = min(keep, unpaid)
            cumulative = max(released_so_far, unpaid - keep)
            rows.append(
                {
                    "sku": r.sku,
                    "after_minutes": stage.after_minutes,
                    "reserved": r.units,
                    "unpaid": unpaid,
                    "still_pay_probability": still_pays,
                    "keep_locked": unpaid - cumulative,
                    "release_units": cumulative - released_so_far,
                    "released_total": cumulative,
                }
            )
            released_so_far = cumulative
    return rows


def _window(fulfilments: list[Fulfilment]) -> tuple[int, int]:
    low = min(f.delivery_days for f in fulfilments)
    high = max(f.delivery_days_max or f.delivery_days for f in fulfilments)
    return low, max(low, high)


def _offers(
    request: PlanRequest,
    data: NetworkData,
    model: pyo.ConcreteModel,
    available: dict[tuple[str, str], float],
) -> list[dict[str, Any]]:
    """Per SKU x warehouse serving the live channels: units the storefront may show now (on
    hand on day 0, less presale locks and the emergency buffer), what the plan brings there
    later, and the delivery window."""
    event: Event | None = request.event
    assert event is not None
    live = set(data.live_channels)
    fulfil: dict[str, list[Fulfilment]] = defaultdict(list)
    for ch in request.channels:
        if ch.id in live:
            for f in ch.fulfilment:
                fulfil[f.warehouse].append(f)
    peak: dict[str, float] = defaultdict(float)  # largest scenario live demand per SKU
    by_scenario: dict[tuple[str, str], float] = defaultdict(float)
    for (s, k, c, _t), q in data.demand.items():
        if c in live:
            by_scenario[s, k] += q
    for (_s, k), q in by_scenario.items():
        peak[k] = max(peak[k], q)
    rows = []
    for (k, w), stock in sorted(available.items()):
        on_hand = data.initial_stock.get((k, w), 0.0) + data.inbound.get((k, w, 0), 0.0)
        if w not in fulfil or on_hand <= EPS:
            continue
        locked = _val(model.lock[k, w]) if (k, w) in model.lock else 0.0
        units = math.floor(
            max(0.0, on_hand - min(locked, on_hand) - data.emergency_buffer_share * on_hand) + 1e-6
        )
        if units <= 0:
            continue
        low, high = _window(fulfil[w])
        plenty = units >= peak.get(k, 0.0)
        label = "plenty" if plenty else f"{units:,} left"
        days = f"{low}-{high} days" if high > low else f"{low} days"
        rows.append(
            {
                "sku": k,
                "warehouse": w,
                "units": units,
                "plenty": plenty,
                "arriving_later": max(0.0, stock - on_hand),
                "delivery_days": [low, high],
                "text": f"{w}: {label}, {days}",
            }
        )
    return rows


def _presale_switches(data: NetworkData, plan: dict[str, Any]) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str, int | None], dict[str, Any]] = {}
    for r in plan["presales"]:
        key = (r["sku"], r["warehouse"], r["batch_day"])
        row = rows.setdefault(
            key,
            {
                "sku": r["sku"],
                "warehouse": r["warehouse"],
                "batch_day": r["batch_day"],
                "first_order_day": r["day"],
                "expected_units": 0.0,
                "scenarios": set(),
            },
        )
        row["expected_units"] += data.probability[r["scenario"]] * r["quantity"]
        row["first_order_day"] = min(row["first_order_day"], r["day"])
        row["scenarios"].add(r["scenario"])
    out = []
    for row in rows.values():
        row["scenarios"] = sorted(row["scenarios"])
        out.append(row)
    return sorted(out, key=lambda r: (r["sku"], r["warehouse"]))
