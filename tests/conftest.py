"""Shared helpers: small requests built in code, solved through the real pipeline."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from planner.pipeline import run
from planner.validation import validate_request
from solvers import SolveOptions

REPO = Path(__file__).resolve().parents[1]
# No time limit: tiny instances solve in-process (a time limit runs the solve in a guarded
# worker process, which costs a process start per solve).
EXACT = SolveOptions(mip_gap=1e-9)


def solve(raw: dict[str, Any], options: SolveOptions = EXACT) -> dict[str, Any]:
    return run(validate_request(raw), options)


def two_warehouse_request(**changes: Any) -> dict[str, Any]:
    """Origin A holds 10 units of x; channel `live` (2-day promise) is served only from B.

    One air lane A -> B: 1 day, $2 per unit, $3 per shipping day. Price 20 (the lost-sale
    penalty). Demand of `live` on day 2, one scenario of 6 units.
    """
    base: dict[str, Any] = {
        "name": "two-warehouse",
        "horizon_days": 3,
        "warehouses": [{"id": "A"}, {"id": "B"}],
        "skus": [{"id": "x", "unit_cost": 5, "price": 20}],
        "stock": [{"sku": "x", "warehouse": "A", "quantity": 10}],
        "lanes": [
            {"from": "A", "to": "B", "mode": "air", "lead_days": 1, "unit_cost": 2, "fixed_cost": 3}
        ],
        "channels": [
            {
                "id": "live",
                "kind": "live",
                "promise_days": 2,
                "fulfilment": [
                    {"warehouse": "B", "delivery_days": 1, "unit_cost": 0},
                    {"warehouse": "A", "delivery_days": 6, "unit_cost": 0},
                ],
            }
        ],
        "scenarios": [
            {
                "name": "base",
                "probability": 1,
                "demand": [{"sku": "x", "channel": "live", "day": 2, "quantity": 6}],
            }
        ],
    }
    out = copy.deepcopy(base)
    out.update(copy.deepcopy(changes))
    return out


def hand_solved_request() -> dict[str, Any]:
    """The instance of tests/test_hand_solved.py (optimum 26.6, proof there): 2 scenarios."""
    return two_warehouse_request(
        warehouses=[{"id": "A", "holding_cost": 0.1}, {"id": "B", "holding_cost": 0.1}],
        channels=[
            {
                "id": "live",
                "promise_days": 2,
                "fulfilment": [
                    {"warehouse": "B", "delivery_days": 1, "unit_cost": 1},
                    {"warehouse": "A", "delivery_days": 5},
                ],
            }
        ],
        scenarios=[
            {
                "name": "lo",
                "probability": 0.5,
                "demand": [{"sku": "x", "channel": "live", "day": 2, "quantity": 4}],
            },
            {
                "name": "hi",
                "probability": 0.5,
                "demand": [{"sku": "x", "channel": "live", "day": 2, "quantity": 8}],
            },
        ],
    )


@pytest.fixture
def repo() -> Path:
    return REPO
