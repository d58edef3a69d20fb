"""What changed between two plans, and a fingerprint of a plan's decisions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from planner.schema import PreviousPlan

QUANTITY_TOLERANCE = 1e-6

KEYS: dict[str, tuple[str, ...]] = {
    "transfers": ("sku", "lane", "ship_day"),
    "orders": ("supplier", "sku", "warehouse", "order_day"),
    "allocations": ("sku", "warehouse", "channel", "scenario", "day"),
}


HASH_KEYS = {**KEYS, "lost_sales": ("sku", "channel", "scenario", "day")}


def plan_hash(plan: dict[str, Any]) -> str:
    """sha256 of the decisions (transfers, orders, allocations, lost sales), not of timings."""
    decisions = {
        name: sorted(
            [*_key(row, fields), round(float(row["quantity"]), 6)] for row in plan.get(name) or []
        )
        for name, fields in HASH_KEYS.items()
    }
    canonical = json.dumps(decisions, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _key(row: dict[str, Any], fields: Iterable[str]) -> tuple[Any, ...]:
    return tuple(row[f] for f in fields)


def _quantities(rows: Iterable[dict[str, Any]], fields: tuple[str, ...]) -> dict[tuple, float]:
    out: dict[tuple, float] = {}
    for row in rows:
        key = _key(row, fields)
        out[key] = out.get(key, 0.0) + float(row["quantity"])
    return {k: q for k, q in out.items() if q > QUANTITY_TOLERANCE}


def plan_changes(previous: PreviousPlan, plan: dict[str, Any]) -> dict[str, Any]:
    """Per kind of decision: lines added, removed and resized since the previous plan."""
    changes: dict[str, Any] = {}
    before_rows = {
        "transfers": [x.model_dump() for x in previous.transfers],
        "orders": [o.model_dump() for o in previous.orders],
        "allocations": [a.model_dump() for a in previous.allocations],
    }
    unchanged = True
    for name, fields in KEYS.items():
        before = _quantities(before_rows[name], fields)
        after = _quantities(plan.get(name) or [], fields)
        if name == "allocations" and not before_rows[name]:
            continue  # the previous plan did not say; nothing to compare
        added = [
            dict(zip(fields, k, strict=True), quantity=after[k]) for k in after if k not in before
        ]
        removed = [
            dict(zip(fields, k, strict=True), quantity=before[k]) for k in before if k not in after
        ]
        resized = [
            dict(zip(fields, k, strict=True), before=before[k], after=after[k])
            for k in after
            if k in before and abs(after[k] - before[k]) > QUANTITY_TOLERANCE
        ]
        changes[name] = {"added": added, "removed": removed, "resized": resized}
        unchanged = unchanged and not (added or removed or resized)
    changes["unchanged"] = unchanged
    return changes
