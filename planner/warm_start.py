"""An earlier plan's commitments in a model: as a MIP start, or fixed for a replay."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np
import pyomo.environ as pyo

from planner.schema import PreviousPlan
from solvers.matrix import MatrixModel

Ships = dict[tuple[str, str, int], float]  # (sku, lane, ship day) -> units
Orders = dict[tuple[str, str, str, int], float]  # (supplier, sku, warehouse, order day) -> units


def first_stage_of(previous: PreviousPlan) -> tuple[Ships, Orders]:
    ships: Ships = defaultdict(float)
    for x in previous.transfers:
        ships[x.sku, x.lane, x.ship_day] += x.quantity
    orders: Orders = defaultdict(float)
    for o in previous.orders:
        orders[o.supplier, o.sku, o.warehouse, o.order_day] += o.quantity
    return ships, orders


def first_stage_values(
    model: pyo.ConcreteModel, ships: Ships, orders: Orders
) -> Iterator[tuple[pyo.Var, float]]:
    """Every first-stage variable with its value: the given transfers and orders (0 where
    none), lane-use and order-placement binaries to match. Lines the model has no variable for
    (a day now past the horizon) are dropped."""
    lane_day: dict[tuple, float] = defaultdict(float)
    for index in model.ship:
        q = ships.get(index, 0.0)
        lane_day[index[1], index[2]] += q
        yield model.ship[index], q
    for index in model.use:
        yield model.use[index], 1.0 if lane_day.get(index, 0.0) > 0 else 0.0
    placed: dict[tuple, float] = defaultdict(float)
    for index in model.order:
        q = orders.get(index, 0.0)
        placed[index[0], index[3]] += q
        yield model.order[index], q
    for index in model.place:
        yield model.place[index], 1.0 if placed.get(index, 0.0) > 0 else 0.0


def mip_start(model: pyo.ConcreteModel, matrix: MatrixModel, previous: PreviousPlan) -> np.ndarray:
    """Start values per matrix column: the previous plan's first stage, NaN for the rest."""
    column = {id(var): i for i, var in enumerate(matrix.columns)}
    start = np.full(matrix.num_cols, np.nan)
    for var, value in first_stage_values(model, *first_stage_of(previous)):
        i = column.get(id(var))
        if i is not None:
            start[i] = value
    return start


def fix_first_stage(model: pyo.ConcreteModel, ships: Ships, orders: Orders) -> None:
    """Fix the plan's commitments, for a replay of its recourse."""
    for var, value in first_stage_values(model, ships, orders):
        var.fix(value)
