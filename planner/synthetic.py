"""Reproducible synthetic plan requests by size, for benchmarks and stress tests.

``synthetic_request(skus, warehouses, channels, scenarios, seed=...)`` builds a network shaped
like the seeds' cases: a home warehouse holding most stock and a factory behind it, overseas
warehouses near the customers, air and sea lanes in both directions between every pair
(air: fast, dear, a booking fee per shipping day; sea: slow, cheap, a bigger fee), channels
with 2-7 day promises that only some warehouses meet, and demand scenarios from low to high.
The same arguments always give the same request.
"""

from __future__ import annotations

import random
from typing import Any


def parse_size(text: str) -> tuple[int, int, int, int]:
    """'100x5x4x3' -> (skus, warehouses, channels, scenarios)."""
    parts = text.lower().split("x")
    if len(parts) != 4 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(
            f"size {text!r} must be SKUSxWAREHOUSESxCHANNELSxSCENARIOS, e.g. 100x5x4x3"
        )
    skus, warehouses, channels, scenarios = (int(p) for p in parts)
    if warehouses < 2:
        raise ValueError("a network needs at least 2 warehouses")
    return skus, warehouses, channels, scenarios


def synthetic_request(
    skus: int,
    warehouses: int,
    channels: int,
    scenarios: int,
    horizon_days: int = 14,
    seed: int = 0,
) -> dict[str, Any]:
    rng = random.Random(seed)
    wh_ids = ["home"] + [f"wh{i:02d}" for i in range(1, warehouses)]
    sku_ids = [f"sku{i:05d}" for i in range(skus)]
    channel_ids = [f"ch{i:02d}" for i in range(channels)]

    warehouse_rows = [
        {
            "id": w,
            "kind": "home" if w == "home" else "overseas",
            "holding_cost": round(rng.uniform(0.01, 0.05), 3),
        }
        for w in wh_ids
    ]
    sku_rows = []
    for k in sku_ids:
        cost = round(rng.uniform(2, 30), 2)
        sku_rows.append(
            {
                "id": k,
                "unit_cost": cost,
                "price": round(cost * rng.uniform(1.8, 3.5), 2),
                "tier": rng.choice(["A", "B", "B", "C"]),
            }
        )

    lanes = []
    for a in wh_ids:
        for b in wh_ids:
            if a == b:
                continue
            air_days, sea_days = rng.randint(1, 3), rng.randint(5, 9)
            lanes.append(
                {
                    "from": a,
                    "to": b,
                    "mode": "air",
                    "lead_days": air_days,
                    "unit_cost": round(rng.uniform(1.5, 4.0), 2),
                    "fixed_cost": round(rng.uniform(40, 120)),
                }
            )
            lanes.append(
                {
                    "from": a,
                    "to": b,
                    "mode": "sea",
                    "lead_days": sea_days,
                    "unit_cost": round(rng.uniform(0.3, 1.0), 2),
                    "fixed_cost": round(rng.uniform(150, 400)),
                }
            )

    channel_rows = []
    for c in channel_ids:
        promise = rng.randint(2, 7)
        local = rng.sample(wh_ids[1:], k=max(1, len(wh_ids[1:]) // 2))
        channel_rows.append(
            {
                "id": c,
                "kind": rng.choice(["live", "marketplace", "own_site"]),
                "promise_days": promise,
                "fulfilment": [
                    {
                        "warehouse": w,
                        "delivery_days": rng.randint(1, promise)
                        if w in local
                        else promise + rng.randint(2, 6),
                        "unit_cost": round(rng.uniform(0.3, 1.5), 2),
                    }
                    for w in wh_ids
                ],
            }
        )

    mean_daily = {(k, c): rng.uniform(0.5, 12) for k in sku_ids for c in channel_ids}
    stock = []
    for k in sku_ids:
        total = sum(mean_daily[k, c] for c in channel_ids) * horizon_days
        stock.append(
            {"sku": k, "warehouse": "home", "quantity": round(total * rng.uniform(0.4, 0.9))}
        )
        for w in rng.sample(wh_ids[1:], k=min(2, len(wh_ids) - 1)):
            stock.append(
                {"sku": k, "warehouse": w, "quantity": round(total * rng.uniform(0.0, 0.3))}
            )

    levels = (
        [0.7 + 0.8 * i / max(1, scenarios - 1) for i in range(scenarios)]
        if scenarios > 1
        else [1.0]
    )
    weights = [1.0 / (1 + abs(i - (scenarios - 1) / 2)) for i in range(scenarios)]
    probabilities = [w / sum(weights) for w in weights]
    probabilities[-1] = 1.0 - sum(probabilities[:-1])
    half = horizon_days // 2
    scenario_rows = []
    for i, level in enumerate(levels):
        demand = []
        for (k, c), mean in mean_daily.items():
            for start, end in ((0, half - 1), (half, horizon_days - 1)):
                q = round(mean * level * (end - start + 1) * rng.uniform(0.8, 1.2))
                if q > 0:
                    demand.append(
                        {"sku": k, "channel": c, "day": start, "end_day": end, "quantity": q}
                    )
        scenario_rows.append({"name": f"s{i}", "probability": probabilities[i], "demand": demand})

    return {
        "name": f"synthetic-{skus}x{warehouses}x{channels}x{scenarios}-seed{seed}",
        "horizon_days": horizon_days,
        "warehouses": warehouse_rows,
        "suppliers": [
            {
                "id": "factory",
                "deliver_to": ["home"],
                "lead_days": 4,
                "capacity_per_day": max(400, round(sum(mean_daily.values()) * 0.5)),
                "min_order": 200,
                "order_fixed_cost": 150,
            }
        ],
        "skus": sku_rows,
        "stock": stock,
        "lanes": lanes,
        "channels": channel_rows,
        "scenarios": scenario_rows,
        "policy": {"salvage_fraction": 0.3},
        "notes": "synthetic (planner.synthetic): shapes follow SEEDS.md, numbers are random",
    }
