"""An earlier plan's commitments in a model: as a MIP start, or fixed for a replay."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyomo.environ as pyo

from models.data import NetworkData
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


def order_lane_days(data: NetworkData, previous: PreviousPlan) -> set[tuple[str, int]]:
    """(lane, day) pairs on which the previous plan's allocations fly orders along a lane (21).
    A previous plan carries no substitutions or presales: lanes that may fly those are left
    open on other days (``first_stage_fixings``' ``open_lanes``)."""
    return {
        (data.order_lane[a.channel, a.warehouse], a.day)
        for a in previous.allocations
        if a.quantity > 0 and (a.channel, a.warehouse) in data.order_lane
    }


def first_stage_fixings(
    keys_of: Callable[[str], Iterable[Index]],
    ships: Ships,
    orders: Orders,
    order_days: Collection[tuple[str, int]] = (),
    open_lanes: Collection[str] = (),
) -> dict[str, dict[Index, float]]:
    """Every first-stage variable's value, by family (``ship``, ``use``, ``order``, ``place``)
    and index: the given transfers and orders (0 where none), lane-use and order-placement
    binaries to match (a lane is also used on the ``order_days`` it flies orders, (21); on
    the ``open_lanes`` a day without transfers is left out, to be decided with the orders).
    ``keys_of(family)`` lists the model's indices of a family; lines the model has no
    variable for (a day now past the horizon) are dropped."""
    out: dict[str, dict[Index, float]] = {"ship": {}, "use": {}, "order": {}, "place": {}}
    lane_day: dict[tuple, float] = defaultdict(float)
    for index in keys_of("ship"):
        q = ships.get(index, 0.0)
        lane_day[index[1], index[2]] += q
        out["ship"][index] = q
    booked = set(order_days)
    for index in keys_of("use"):
        used = lane_day.get(index, 0.0) > 0 or index in booked
        if not used and index[0] in open_lanes:
            continue
        out["use"][index] = 1.0 if used else 0.0
    placed: dict[tuple, float] = defaultdict(float)
    for index in keys_of("order"):
        q = orders.get(index, 0.0)
        placed[index[0], index[3]] += q
        out["order"][index] = q
    for index in keys_of("place"):
        out["place"][index] = 1.0 if placed.get(index, 0.0) > 0 else 0.0
    return out


def first_stage_values(
    model: pyo.ConcreteModel, ships: Ships, orders: Orders, open_lanes: Collection[str] = ()
) -> Iterator[tuple[pyo.Var, float]]:
    """Every first-stage variable of a Pyomo model with its value (:func:`first_stage_fixings`)."""
    fixings = first_stage_fixings(
        lambda name: getattr(model, name), ships, orders, open_lanes=open_lanes
    )
    for name, values in fixings.items():
        component = getattr(model, name)
        for index, value in values.items():
            yield component[index], value


def previous_fixings(
    keys_of: Callable[[str], Iterable[Index]], data: NetworkData, previous: PreviousPlan
) -> dict[str, dict[Index, float]]:
    """:func:`first_stage_fixings` of a previous plan: its transfers and orders, its lanes
    booked on the days its allocations fly orders, and order lanes open on other days
    (substitutes and presales may fly then)."""
    return first_stage_fixings(
        keys_of,
        *first_stage_of(previous),
        order_lane_days(data, previous),
        data.order_lane_keys(),
    )


def mip_start(built: BuiltModel, data: NetworkData, previous: PreviousPlan) -> np.ndarray:
    """Start values per matrix column: the previous plan's first stage, NaN for the rest."""
    column = {key: i for i, key in enumerate(built.column_keys())}
    start = np.full(built.matrix.num_cols, np.nan)
    fixings = previous_fixings(built.family_keys, data, previous)
    for name, values in fixings.items():
        for index, value in values.items():
            i = column.get((name, index))
            if i is not None:
                start[i] = value
    return start


def fix_first_stage(
    model: pyo.ConcreteModel, ships: Ships, orders: Orders, open_lanes: Collection[str] = ()
) -> None:
    """Fix the plan's commitments, for a replay of its recourse (booking ``open_lanes`` on a
    day without transfers stays free: whether to fly orders is decided with them)."""
    for var, value in first_stage_values(model, ships, orders, open_lanes):
        var.fix(value)
