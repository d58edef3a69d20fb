"""An earlier plan as a MIP start: every first-stage decision set, the rest left to the solver."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyomo.environ as pyo

from planner.schema import PreviousPlan
from solvers.matrix import MatrixModel


def mip_start(model: pyo.ConcreteModel, matrix: MatrixModel, previous: PreviousPlan) -> np.ndarray:
    """Start values per matrix column: transfers and orders as in ``previous`` (0 where it has
    none), lane-use and order-placement binaries to match, NaN for second-stage variables.
    Lines the new model has no variable for (a day now past the horizon) are dropped."""
    column = {id(var): i for i, var in enumerate(matrix.columns)}
    start = np.full(matrix.num_cols, np.nan)

    ships: dict[tuple, float] = defaultdict(float)
    for x in previous.transfers:
        ships[x.sku, x.lane, x.ship_day] += x.quantity
    lane_day: dict[tuple, float] = defaultdict(float)
    for index in model.ship:
        q = ships.get(index, 0.0)
        _set(start, column, model.ship[index], q)
        lane_day[index[1], index[2]] += q
    for index in model.use:
        _set(start, column, model.use[index], 1.0 if lane_day.get(index, 0.0) > 0 else 0.0)

    orders: dict[tuple, float] = defaultdict(float)
    for o in previous.orders:
        orders[o.supplier, o.sku, o.warehouse, o.order_day] += o.quantity
    placed: dict[tuple, float] = defaultdict(float)
    for index in model.order:
        q = orders.get(index, 0.0)
        _set(start, column, model.order[index], q)
        placed[index[0], index[3]] += q
    for index in model.place:
        _set(start, column, model.place[index], 1.0 if placed.get(index, 0.0) > 0 else 0.0)
    return start


def _set(start: np.ndarray, column: dict[int, int], var: pyo.Var, value: float) -> None:
    i = column.get(id(var))
    if i is not None:
        start[i] = value


def fix_first_stage(
    model: pyo.ConcreteModel,
    ships: dict[tuple[str, str, int], float],
    orders: dict[tuple[str, str, str, int], float],
) -> None:
    """Fix transfers (sku, lane, ship day) and orders (supplier, sku, warehouse, order day) to
    the given units, 0 elsewhere, with lane-use and order-placement binaries to match: the
    plan's commitments, for a replay of its recourse."""
    lane_day: dict[tuple, float] = defaultdict(float)
    for index in model.ship:
        model.ship[index].fix(ships.get(index, 0.0))
        lane_day[index[1], index[2]] += ships.get(index, 0.0)
    for index in model.use:
        model.use[index].fix(1.0 if lane_day.get(index, 0.0) > 0 else 0.0)
    placed: dict[tuple, float] = defaultdict(float)
    for index in model.order:
        model.order[index].fix(orders.get(index, 0.0))
        placed[index[0], index[3]] += orders.get(index, 0.0)
    for index in model.place:
        model.place[index].fix(1.0 if placed.get(index, 0.0) > 0 else 0.0)
