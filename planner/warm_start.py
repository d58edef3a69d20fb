"""An earlier plan's commitments in a model: as a MIP start, or fixed for a replay."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyomo.environ as pyo

from planner.schema import PreviousPlan

if TYPE_CHECKING:
    from planner.build import BuiltModel

Ships = dict[tuple[str, str, int], float]  # (sku, lane, ship day) -> units
Orders = dict[tuple[str, str, str, int], float]  # (supplier, sku, warehouse, order day) -> units
Index = tuple[Any, ...]


def first_stage_of(previous: PreviousPlan) -> tuple[Ships, Orders]:
    ships: Ships = defaultdict(float)
    for x in previous.transfers:
        ships[x.sku, x.lane, x.ship_day] += x.quantity
    orders: Orders = defaultdict(float)
    for o in previous.orders:
        orders[o.supplier, o.sku, o.warehouse, o.order_day] += o.quantity
    return ships, orders


def first_stage_fixings(
    keys_of: Callable[[str], Iterable[Index]], ships: Ships, orders: Orders
) -> dict[str, dict[Index, float]]:
    """Every first-stage variable's value, by family (``ship``, ``use``, ``order``, ``place``)
    and index: the given transfers and orders (0 where none), lane-use and order-placement
    binaries to match. ``keys_of(family)`` lists the model's indices of a family; lines the
    model has no variable for (a day now past the horizon) are dropped."""
    out: dict[str, dict[Index, float]] = {"ship": {}, "use": {}, "order": {}, "place": {}}
    lane_day: dict[tuple, float] = defaultdict(float)
    for index in keys_of("ship"):
        q = ships.get(index, 0.0)
        lane_day[index[1], index[2]] += q
        out["ship"][index] = q
    for index in keys_of("use"):
        out["use"][index] = 1.0 if lane_day.get(index, 0.0) > 0 else 0.0
    placed: dict[tuple, float] = defaultdict(float)
    for index in keys_of("order"):
        q = orders.get(index, 0.0)
        placed[index[0], index[3]] += q
        out["order"][index] = q
    for index in keys_of("place"):
        out["place"][index] = 1.0 if placed.get(index, 0.0) > 0 else 0.0
    return out


def first_stage_values(
    model: pyo.ConcreteModel, ships: Ships, orders: Orders
) -> Iterator[tuple[pyo.Var, float]]:
    """Every first-stage variable of a Pyomo model with its value (:func:`first_stage_fixings`)."""
    fixings = first_stage_fixings(lambda name: getattr(model, name), ships, orders)
    for name, values in fixings.items():
        component = getattr(model, name)
        for index, value in values.items():
            yield component[index], value


def mip_start(built: BuiltModel, previous: PreviousPlan) -> np.ndarray:
    """Start values per matrix column: the previous plan's first stage, NaN for the rest."""
    column = {key: i for i, key in enumerate(built.column_keys())}
    start = np.full(built.matrix.num_cols, np.nan)
    fixings = first_stage_fixings(built.family_keys, *first_stage_of(previous))
    for name, values in fixings.items():
        for index, value in values.items():
            i = column.get((name, index))
            if i is not None:
                start[i] = value
    return start


def fix_first_stage(model: pyo.ConcreteModel, ships: Ships, orders: Orders) -> None:
    """Fix the plan's commitments, for a replay of its recourse."""
    for var, value in first_stage_values(model, ships, orders):
        var.fix(value)
