"""The network plan of :mod:`models.network_plan`, built straight into arrays.

:func:`build_network_arrays` assembles the model that ``compile_pyomo(build_network_plan(data,
elastic=False, whole_units=...))`` gives, as COO triplets per constraint family computed with
numpy index arithmetic: no Pyomo object and no Python object per nonzero. The Pyomo model stays
the readable reference (its docstring is the math); ``tests/test_network_arrays.py`` proves the
two identical (same columns, bounds, integrality, objective, rows; same optimum and plan).

The matrix is the one the Pyomo standard-form compiler writes, in the same order: columns by
variable family in the order the compiler first meets a free member (objective first, then
constraints), each family in its index order; rows by constraint family in declaration order,
each oriented as Pyomo orients it. Like the compiler, columns with no nonzero (in no row, no
cost) and fixed variables (moved into the bounds and the objective offset) are left out, and
rows left without a nonzero are dropped (:class:`InfeasibleConstraintException` when such a row
is broken).

Supported (:func:`supports`): the core model (1)-(12) including lost-sale premiums, minimum
orders, capacity windows, fill-rate and no-stock-out targets, safety floors and channel pools.
Not supported (the pipeline builds the Pyomo model instead): the event rules (13)-(18)
(emergency buffer, presale locks, live pool, transfer cost cap, response tiers, supplier
capacity lock), substitutes (19), switches to presale (20) and orders along a lane (21); and
the elastic twin.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from pyomo.common.errors import InfeasibleConstraintException

from models.data import NetworkData
from models.network_plan import _ceil, order_bound, order_day_bound, useful_units
from solvers.matrix import MatrixModel

Index = tuple[Any, ...]


def supports(data: NetworkData) -> bool:
    """True when :func:`build_network_arrays` builds this data's model: no event rule,
    substitute or presale switch is active (see the module docstring)."""
    if data.emergency_buffer_share > 0:
        return False
    if data.presale_channels or data.lock_skus:
        return False
    if data.live_pool_share is not None and data.live_channels:
        return False
    if data.transfer_cost_cap_share is not None or data.transfer_cost_limit:
        return False
    if data.event_days and data.capacity_lock_share + data.emergency_capacity_share < 1:
        return False
    if data.substitutes or data.order_lane:
        return False
    return not (data.switch_ship_days is not None and data.switch_skus)


@dataclass
class Family:
    """One indexed variable (or constraint) family: its index as code arrays into label
    tuples (None for a day), and per entry its matrix column (row), -1 when left out."""

    name: str
    labels: tuple[Sequence[Any] | None, ...]
    codes: tuple[np.ndarray, ...]
    cols: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _keys: list[Index] | None = None
    _where: dict[Index, int] | None = None

    @property
    def size(self) -> int:
        return int(self.codes[0].shape[0]) if self.codes else 0

    def keys(self) -> list[Index]:
        """The index tuples, as in the Pyomo model (built on first use)."""
        if self._keys is None:
            parts = []
            for labels, codes in zip(self.labels, self.codes, strict=True):
                if labels is None:
                    parts.append(codes.tolist())
                else:
                    parts.append(np.asarray(labels, dtype=object)[codes].tolist())
            # a one-dimensional index is the label itself, as in Pyomo
            self._keys = parts[0] if len(parts) == 1 else list(zip(*parts, strict=True))
        return self._keys

    def where(self) -> dict[Index, int]:
        """index tuple -> position in the family."""
        if self._where is None:
            self._where = {key: i for i, key in enumerate(self.keys())}
        return self._where

    def names(self) -> list[str]:
        """Pyomo-style names, e.g. ``ship[sku1,a->b,3]``."""
        keys = self.keys()
        if len(self.labels) == 1:
            return [f"{self.name}[{key}]" for key in keys]
        return [f"{self.name}[{','.join(str(part) for part in key)}]" for key in keys]


@dataclass
class ArrayModel:
    """A built model: the matrix, and where each variable and constraint family sits in it."""

    matrix: MatrixModel
    families: dict[str, Family]  # variables; Family.cols = matrix column, -1 if left out
    rows: dict[str, Family]  # constraints; Family.cols = matrix row, -1 if dropped
    lower: dict[str, np.ndarray]  # per family: the variables' bounds (for left-out columns)
    upper: dict[str, np.ndarray]
    fixed: dict[str, np.ndarray]  # per family: fixed value, NaN where free

    def column_keys(self) -> list[tuple[str, Index]]:
        """(family, index) of every matrix column."""
        out: list[tuple[str, Index] | None] = [None] * self.matrix.num_cols
        for name, fam in self.families.items():
            keys = fam.keys()
            for i in np.flatnonzero(fam.cols >= 0).tolist():
                out[fam.cols[i]] = (name, keys[i])
        return out  # type: ignore[return-value]

    def family_columns(self, names: Iterable[str]) -> np.ndarray:
        cols = [self.families[n].cols for n in names if n in self.families]
        if not cols:
            return np.zeros(0, dtype=np.int64)
        joined = np.concatenate(cols)
        return np.sort(joined[joined >= 0])

    def values(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every variable's value: the solver's (integers rounded), fixed values, and for a
        column left out the value nearest 0 within its bounds (as :func:`load_solution`)."""
        out = {}
        for name, fam in self.families.items():
            v = np.clip(0.0, self.lower[name], self.upper[name])
            fixed = ~np.isnan(self.fixed[name])
            v[fixed] = self.fixed[name][fixed]
            inside = fam.cols >= 0
            col = fam.cols[inside]
            vals = x[col]
            integer = self.matrix.integer[col]
            vals = np.where(integer, np.round(vals), vals)
            v[inside] = vals
            out[name] = v
        return out

    def solution(self, x: np.ndarray) -> SolutionView:
        """A model-like view of a solution that :func:`planner.plan.extract_plan` reads."""
        return SolutionView(
            {
                name: dict(zip(self.families[name].keys(), v.tolist(), strict=True))
                for name, v in self.values(x).items()
            }
        )


class SolutionView:
    """One dict per variable family (index -> value), read like the Pyomo model's
    variables: ``view.ship[k, lane, t]`` is a float, ``for key in view.ship`` its index."""

    def __init__(self, values: dict[str, dict[Index, float]]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> dict[Index, float]:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            if name in VARIABLE_FAMILIES:
                return {}
            raise AttributeError(name) from None


# every variable family of the Pyomo model (non-elastic); the ones not built here are empty
VARIABLE_FAMILIES = (
    "ship",
    "use",
    "order",
    "place",
    "serve",
    "lost",
    "stock",
    "serve_late",
    "substitute",
    "presold",
    "no_stockout",
    "lock",
)


class _RowBlock:
    """The triplets of one constraint family, before assembly."""

    def __init__(self, name: str, family: Family, lower: np.ndarray, upper: np.ndarray) -> None:
        self.name = name
        self.family = family
        self.lower = np.asarray(lower, dtype=float)
        self.upper = np.asarray(upper, dtype=float)
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray | float) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        self.rows.append(rows)
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=float), rows.shape))


def _group_starts(counts: np.ndarray) -> np.ndarray:
    """Position within its group of each element of ``np.repeat(groups, counts)``."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total) - np.repeat(starts, counts)


def _first_occurrence_order(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of ``codes`` in order of first occurrence, and each element's rank."""
    uniq, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return uniq[order], rank[inverse]


def _objective_walk(
    n_scenarios: int, first_stage: list[list], second_stage: Any
) -> list[tuple[str, np.ndarray | None, int]]:
    """The variable segments (family, mask, terms) of the objective in the order the Pyomo
    compiler walks them, which is the order Pyomo built its sums in: ``a + b`` with ``a`` a
    single term and ``b`` a sum of two or more appends ``a`` to ``b``'s end (the same for the
    scenario sum, which then takes the first-stage cost at its end)."""

    def add(acc: tuple[int, list], piece: list) -> tuple[int, list]:
        terms = sum(n for _name, _mask, n in piece)
        if not terms:
            return acc
        if not acc[0]:
            return terms, list(piece)
        if acc[0] == 1 and terms >= 2:  # one term + a sum: appended to the sum
            return acc[0] + terms, list(piece) + acc[1]
        return acc[0] + terms, acc[1] + list(piece)

    def total(pieces: list[list], then: list | None = None) -> list:
        acc: tuple[int, list] = (0, [])
        for piece in pieces:
            acc = add(acc, piece)
        return acc[1] + (then or [])

    first = total(first_stage)
    scenarios = []
    for s in range(n_scenarios):
        *pieces, salvage = second_stage(s)
        scenarios += total(pieces, salvage)  # minus a sum: a negation, after the rest
    return scenarios + first if n_scenarios >= 2 else first + scenarios


def build_network_arrays(
    data: NetworkData,
    whole_units: bool = True,
    fixed: dict[str, dict[Index, float]] | None = None,
) -> ArrayModel:
    """The model of ``build_network_plan(data, elastic=False, whole_units=whole_units)``,
    compiled; ``fixed`` fixes variables (family -> index -> value) as ``var.fix`` would."""
    if not supports(data):
        raise ValueError("this request needs the Pyomo model (see network_plan_arrays.supports)")
    H = data.horizon_days
    skus, whs, chans, scens = data.skus, data.warehouses, data.channels, data.scenarios
    K, W, C, S = len(skus), len(whs), len(chans), len(scens)
    kid = {k: i for i, k in enumerate(skus)}
    wid = {w: i for i, w in enumerate(whs)}
    cid = {c: i for i, c in enumerate(chans)}
    sid = {s: i for i, s in enumerate(scens)}
    lanes = data.lanes
    suppliers = data.suppliers
    lane_keys = tuple(lane.key for lane in lanes)
    supplier_ids = tuple(p.id for p in suppliers)
    prob = np.array([data.probability[s] for s in scens], dtype=float)
    demand_k = useful_units(data)
    int64 = np.int64

    # ---- S_kt (as models.network_plan.sku_supply_by_day) --------------------------------
    initial = np.zeros((K, W))
    init_sum = np.zeros(K)
    for (k, w), q in data.initial_stock.items():
        initial[kid[k], wid[w]] += q
        init_sum[kid[k]] += q
    inbound = np.zeros((K, W, H))
    arriving = np.zeros((K, H))
    for (k, w, t), q in data.inbound.items():
        inbound[kid[k], wid[w], t] += q
        arriving[kid[k], t] += q
    for p in suppliers:
        days = max(0, H - p.lead_days)
        for k in p.skus:
            per_day = order_bound(p, k, demand_k) * len(p.deliver_to)
            for t in range(days):
                arriving[kid[k], t + p.lead_days] += per_day
    supply = np.cumsum(np.concatenate([init_sum[:, None] + arriving[:, :1], arriving[:, 1:]], 1), 1)
    supply_ceil = np.ceil(supply - 1e-9)
    everything = np.array([_ceil(sum(supply[:, t].tolist())) for t in range(H)] if K else [0.0] * H)

    # ---- variable families ------------------------------------------------------------------
    fams: dict[str, Family] = {}
    lower: dict[str, np.ndarray] = {}
    upper: dict[str, np.ndarray] = {}
    cost: dict[str, np.ndarray] = {}
    integer: dict[str, bool] = {}

    def family(name, labels, codes, lo, hi, c, is_int):
        fams[name] = Family(name, labels, tuple(np.asarray(x, dtype=int64) for x in codes))
        n = fams[name].size
        lower[name] = np.broadcast_to(np.asarray(lo, dtype=float), (n,)).copy()
        upper[name] = np.broadcast_to(np.asarray(hi, dtype=float), (n,)).copy()
        cost[name] = np.broadcast_to(np.asarray(c, dtype=float), (n,)).copy()
        integer[name] = is_int

    # ship (k, lane, t): lane-major, then sku, then day
    ship_days = np.array([max(0, H - lane.lead_days) for lane in lanes], dtype=int64)
    sl, sk, st = [], [], []
    for li, n in enumerate(ship_days.tolist()):
        sl.append(np.full(K * n, li, dtype=int64))
        sk.append(np.repeat(np.arange(K, dtype=int64), n))
        st.append(np.tile(np.arange(n, dtype=int64), K))
    ship_l = np.concatenate(sl) if sl else np.zeros(0, int64)
    ship_k = np.concatenate(sk) if sk else np.zeros(0, int64)
    ship_t = np.concatenate(st) if st else np.zeros(0, int64)
    lane_cost = np.array([lane.unit_cost for lane in lanes], dtype=float)
    lane_fixed = np.array([lane.fixed_cost for lane in lanes], dtype=float)
    lane_lead = np.array([lane.lead_days for lane in lanes], dtype=int64)
    lane_orig = np.array([wid[lane.origin] for lane in lanes], dtype=int64)
    lane_dest = np.array([wid[lane.destination] for lane in lanes], dtype=int64)
    family(
        "ship",
        (skus, lane_keys, None),
        (ship_k, ship_l, ship_t),
        0.0,
        supply_ceil[ship_k, ship_t] if ship_k.size else np.zeros(0),
        lane_cost[ship_l] if ship_l.size else np.zeros(0),
        whole_units,
    )
    # use (lane, t) for lanes with a fixed cost
    fixed_lanes = [li for li, lane in enumerate(lanes) if lane.fixed_cost > 0]
    use_l = np.concatenate(
        [np.full(ship_days[li], li, dtype=int64) for li in fixed_lanes] or [np.zeros(0, int64)]
    )
    use_t = np.concatenate(
        [np.arange(ship_days[li], dtype=int64) for li in fixed_lanes] or [np.zeros(0, int64)]
    )
    fee = np.array([[lane.fee(t) for t in range(H)] for lane in lanes]).reshape(len(lanes), H)
    family("use", (lane_keys, None), (use_l, use_t), 0.0, 1.0, fee[use_l, use_t], True)
    use_pos = np.full((len(lanes), H), -1, dtype=int64)  # (lane, t) -> position in use
    use_pos[use_l, use_t] = np.arange(use_l.size)

    # order (p, k, w, t)
    op, ok, ow, ot, oub, oc = [], [], [], [], [], []
    for pi_, p in enumerate(suppliers):
        days = max(0, H - p.lead_days)
        for k in p.skus:
            bound = order_bound(p, k, demand_k)
            for w in p.deliver_to:
                op.append(np.full(days, pi_, dtype=int64))
                ok.append(np.full(days, kid[k], dtype=int64))
                ow.append(np.full(days, wid[w], dtype=int64))
                ot.append(np.arange(days, dtype=int64))
                oub.append(np.full(days, bound))
                oc.append(np.full(days, p.unit_cost[k]))

    def cat(parts: list[np.ndarray], dtype: Any = int64) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    order_p, order_k, order_w, order_t = cat(op), cat(ok), cat(ow), cat(ot)
    family(
        "order",
        (supplier_ids, skus, whs, None),
        (order_p, order_k, order_w, order_t),
        0.0,
        cat(oub, float),
        cat(oc, float),
        whole_units,
    )
    # place (p, t)
    pp, pt, pc = [], [], []
    for pi_, p in enumerate(suppliers):
        if p.needs_order_binary:
            days = max(0, H - p.lead_days)
            pp.append(np.full(days, pi_, dtype=int64))
            pt.append(np.arange(days, dtype=int64))
            pc.append(np.full(days, p.order_fixed_cost))
    place_p, place_t = cat(pp), cat(pt)
    family("place", (supplier_ids, None), (place_p, place_t), 0.0, 1.0, cat(pc, float), True)

    # demand entries (s, k, c, t), in the data's order
    n_dem = len(data.demand)
    dem = np.array(
        [(sid[s], kid[k], cid[c], t) for (s, k, c, t) in data.demand], dtype=int64
    ).reshape(n_dem, 4)
    dem_s, dem_k, dem_c, dem_t = dem[:, 0], dem[:, 1], dem[:, 2], dem[:, 3]
    dem_q = np.fromiter(data.demand.values(), dtype=float, count=n_dem)
    premium = np.array(
        [data.lost_sale_premium.get((k, c), 0.0) for (_s, k, c, _t) in data.demand]
        if data.lost_sale_premium
        else np.zeros(n_dem)
    )
    penalty = np.array([data.lost_sale_penalty[k] for k in skus], dtype=float)

    # serve (s, k, w, c, t): each demand entry times its channel's eligible warehouses
    n_elig = np.array([len(data.eligible.get(c, ())) for c in chans], dtype=int64)
    elig = np.zeros((C, max(1, int(n_elig.max()) if C else 1)), dtype=int64)
    for c in chans:
        for j, w in enumerate(data.eligible.get(c, ())):
            elig[cid[c], j] = wid[w]
    counts = n_elig[dem_c] if n_dem else np.zeros(0, int64)
    serve_dem = np.repeat(np.arange(n_dem, dtype=int64), counts)
    serve_w = elig[dem_c[serve_dem], _group_starts(counts)] if serve_dem.size else serve_dem
    serve_s, serve_k, serve_c, serve_t = (
        dem_s[serve_dem],
        dem_k[serve_dem],
        dem_c[serve_dem],
        dem_t[serve_dem],
    )
    fulfil = np.full((C, W), np.nan)
    for (c, w), f in data.fulfilment_cost.items():
        if c in cid and w in wid:
            fulfil[cid[c], wid[w]] = f
    family(
        "serve",
        (scens, skus, whs, chans, None),
        (serve_s, serve_k, serve_w, serve_c, serve_t),
        0.0,
        np.inf,
        prob[serve_s] * fulfil[serve_c, serve_w],
        False,
    )
    lost_hi = 0.0 if data.serve_all_demand else np.inf
    family(
        "lost",
        (scens, skus, chans, None),
        (dem_s, dem_k, dem_c, dem_t),
        0.0,
        lost_hi,
        prob[dem_s] * (penalty[dem_k] + premium) if n_dem else np.zeros(0),
        False,
    )
    # stock (s, k, w, t): the full grid
    grid = np.indices((S, K, W, H)).reshape(4, -1)
    holding = np.array([data.holding_cost[w] for w in whs], dtype=float)
    salvage = np.array([data.salvage_value[k] for k in skus], dtype=float)
    stock_cost = np.where(holding[grid[2]] > 0, holding[grid[2]], 0.0)
    last = grid[3] == H - 1
    stock_cost = np.where(last, stock_cost - salvage[grid[1]], stock_cost)
    family(
        "stock",
        (scens, skus, whs, None),
        tuple(grid),
        0.0,
        np.inf,
        prob[grid[0]] * stock_cost,
        False,
    )

    def stock_col(s, k, w, t):
        return ((s * K + k) * W + w) * H + t

    # no_stockout (s, k) for k with a chance target and demand
    # expected demand of each SKU, summed in the reference's order (the same float)
    acc = [0.0] * K
    pr = prob.tolist()
    for k_, s_, q_ in zip(dem_k.tolist(), dem_s.tolist(), dem_q.tolist(), strict=True):
        acc[k_] += pr[s_] * q_
    demand_by_sku = np.array(acc)
    chance = [kid[k] for k in data.no_stockout_target if demand_by_sku[kid[k]] > 0]
    z_s = np.repeat(np.arange(S, dtype=int64), len(chance))
    z_k = np.tile(np.array(chance, dtype=int64), S)
    family("no_stockout", (scens, skus), (z_s, z_k), 0.0, 1.0, 0.0, True)
    z_pos = np.full((S, K), -1, dtype=int64)
    z_pos[z_s, z_k] = np.arange(z_s.size)

    # ---- column order: as the compiler meets a free member of each family ----------------
    free = {name: np.ones(fams[name].size, dtype=bool) for name in fams}
    fixed_vals = {name: np.full(fams[name].size, np.nan) for name in fams}
    for name, values in (fixed or {}).items():
        if name not in fams or not values:
            continue
        where = fams[name].where()
        for key, v in values.items():
            i = where.get(key)
            if i is not None:
                fixed_vals[name][i] = v
                free[name][i] = False
    order_names: list[str] = []

    def meet(name: str, mask: np.ndarray | None = None, _count: int = 0) -> None:
        if name in order_names or not fams[name].size:
            return
        if bool((free[name] if mask is None else free[name][mask]).any()):
            order_names.append(name)

    holding_at = holding[grid[2]] > 0
    for segment in _objective_walk(
        S,
        first_stage=[
            [("use", None, use_l.size)],
            [("ship", None, ship_k.size)],
            [("place", None, place_p.size)],
            [("order", None, order_p.size)],
        ],
        second_stage=lambda s: [
            [("serve", serve_s == s, int((serve_s == s).sum()))],
            [("stock", (grid[0] == s) & holding_at, int(((grid[0] == s) & holding_at).sum()))],
            [("lost", dem_s == s, int((dem_s == s).sum()))],
            [("stock", (grid[0] == s) & last, K * W)],
        ],
    ):
        meet(*segment)
    # stock_balance meets stock, ship, order and serve; demand rows lost; later rows use, place
    for name in ("stock", "ship", "order", "serve", "lost", "use", "place", "no_stockout"):
        meet(name)
    offsets: dict[str, int] = {}
    n_cols = 0
    met = list(order_names)
    # families with no free member (all fixed) last: their columns all leave the matrix
    order_names += [name for name in fams if name not in met and fams[name].size]
    for name in order_names:
        offsets[name] = n_cols
        n_cols += fams[name].size

    def col(name: str, pos: np.ndarray) -> np.ndarray:
        return offsets.get(name, -(10**15)) + np.asarray(pos, dtype=int64)

    ship_pos = np.arange(ship_k.size, dtype=int64)
    order_pos = np.arange(order_p.size, dtype=int64)

    # ---- constraints --------------------------------------------------------------------------
    blocks: list[_RowBlock] = []

    def block(name, labels, codes, lo, hi) -> _RowBlock:
        fam = Family(name, labels, tuple(np.asarray(x, dtype=int64) for x in codes))
        n = fam.size
        b = _RowBlock(
            name,
            fam,
            np.broadcast_to(np.asarray(lo, dtype=float), (n,)),
            np.broadcast_to(np.asarray(hi, dtype=float), (n,)),
        )
        blocks.append(b)
        return b

    # (1) stock_balance[s,k,w,t]: stock_t - stock_(t-1) - arrivals + departures + served = R (+I0)
    rhs = inbound.copy()
    if H:
        rhs[:, :, 0] = initial + inbound[:, :, 0]
    rhs_flat = np.broadcast_to(rhs, (S, K, W, H)).reshape(-1)
    b = block("stock_balance", (scens, skus, whs, None), tuple(grid), rhs_flat, rhs_flat)
    n_stock = grid.shape[1]
    b.add(np.arange(n_stock), col("stock", np.arange(n_stock)), 1.0)
    prev = np.flatnonzero(grid[3] > 0)
    b.add(prev, col("stock", prev - 1), -1.0)
    s_all = np.arange(S, dtype=int64)[:, None]
    if ship_k.size:
        arrive = stock_col(s_all, ship_k, lane_dest[ship_l], ship_t + lane_lead[ship_l])
        leave = stock_col(s_all, ship_k, lane_orig[ship_l], ship_t)
        ship_cols = np.broadcast_to(col("ship", ship_pos), arrive.shape)
        b.add(arrive.ravel(), ship_cols.ravel(), -1.0)
        b.add(leave.ravel(), ship_cols.ravel(), 1.0)
    if order_p.size:
        p_lead = np.array([p.lead_days for p in suppliers], dtype=int64)
        arrive = stock_col(s_all, order_k, order_w, order_t + p_lead[order_p])
        b.add(arrive.ravel(), np.broadcast_to(col("order", order_pos), arrive.shape).ravel(), -1.0)
    serve_pos = np.arange(serve_s.size, dtype=int64)
    b.add(stock_col(serve_s, serve_k, serve_w, serve_t), col("serve", serve_pos), 1.0)

    # (2) demand_met_or_lost[s,k,c,t]
    b = block(
        "demand_met_or_lost", (scens, skus, chans, None), (dem_s, dem_k, dem_c, dem_t), dem_q, dem_q
    )
    b.add(serve_dem, col("serve", serve_pos), 1.0)
    b.add(np.arange(n_dem), col("lost", np.arange(n_dem)), 1.0)

    # (4) lane_capacity[l,t]
    cap_l, cap_t, cap_ub = [], [], []
    day_bound = np.zeros((len(lanes), H))
    for li, lane in enumerate(lanes):
        cap = lane.capacity
        day_bound[li] = everything if cap is None else np.minimum(cap, everything)
        if K and (lane.fixed_cost > 0 or cap is not None):
            n = ship_days[li]
            cap_l.append(np.full(n, li, dtype=int64))
            cap_t.append(np.arange(n, dtype=int64))
            cap_ub.append(np.full(n, 0.0 if lane.fixed_cost > 0 else float(cap or 0.0)))
    cap_l_a, cap_t_a = cat(cap_l), cat(cap_t)
    row_of = np.full((len(lanes), H), -1, dtype=int64)
    row_of[cap_l_a, cap_t_a] = np.arange(cap_l_a.size)
    ub = cat(cap_ub, float)
    b = block("lane_capacity", (lane_keys, None), (cap_l_a, cap_t_a), -np.inf, ub)
    if ship_k.size:
        r = row_of[ship_l, ship_t]
        keep = r >= 0
        b.add(r[keep], col("ship", ship_pos[keep]), 1.0)
    with_use = lane_fixed[cap_l_a] > 0 if cap_l_a.size else np.zeros(0, bool)
    b.add(
        np.flatnonzero(with_use),
        col("use", use_pos[cap_l_a[with_use], cap_t_a[with_use]]),
        -day_bound[cap_l_a[with_use], cap_t_a[with_use]],
    )
    # (4b) lane_use_per_sku[k,l,t]
    if ship_k.size:
        sel = (lane_fixed[ship_l] > 0) & (supply_ceil[ship_k, ship_t] < day_bound[ship_l, ship_t])
    else:
        sel = np.zeros(0, bool)
    idx = np.flatnonzero(sel)
    b = block(
        "lane_use_per_sku",
        (skus, lane_keys, None),
        (ship_k[idx], ship_l[idx], ship_t[idx]),
        -np.inf,
        0.0,
    )
    rows = np.arange(idx.size)
    b.add(rows, col("ship", idx), 1.0)
    b.add(
        rows, col("use", use_pos[ship_l[idx], ship_t[idx]]), -supply_ceil[ship_k[idx], ship_t[idx]]
    )

    # (5) warehouse_capacity[s,w,t]
    capped = [wid[w] for w in whs if data.warehouse_capacity[w] is not None]
    cs, cw, ct = np.indices((S, len(capped), H)).reshape(3, -1)
    cw = np.array(capped, dtype=int64)[cw] if capped else cw
    vcap = np.array([data.warehouse_capacity[w] or 0.0 for w in whs], dtype=float)
    b = block(
        "warehouse_capacity",
        (scens, whs, None),
        (cs, cw, ct),
        -np.inf,
        vcap[cw] if cw.size else np.zeros(0),
    )
    if cw.size and K:
        rows = np.repeat(np.arange(cw.size, dtype=int64), K)
        kk = np.tile(np.arange(K, dtype=int64), cw.size)
        b.add(rows, col("stock", stock_col(cs[rows], kk, cw[rows], ct[rows])), 1.0)

    # (6)-(8) supplier rules; (p, t) rows where p has order variables
    has_orders = np.zeros(len(suppliers), dtype=bool)
    has_orders[order_p] = True
    daily_p, daily_t = [], []
    for pi_, p in enumerate(suppliers):
        if has_orders[pi_] and p.capacity_per_day is not None:
            days = max(0, H - p.lead_days)
            daily_p.append(np.full(days, pi_, dtype=int64))
            daily_t.append(np.arange(days, dtype=int64))
    dp, dt = cat(daily_p), cat(daily_t)
    pcap = np.array([p.capacity_per_day or 0.0 for p in suppliers], dtype=float)
    b = block(
        "supplier_daily_capacity",
        (supplier_ids, None),
        (dp, dt),
        -np.inf,
        pcap[dp] if dp.size else np.zeros(0),
    )
    row_of = np.full((len(suppliers), H), -1, dtype=int64)
    row_of[dp, dt] = np.arange(dp.size)
    if order_p.size:
        r = row_of[order_p, order_t]
        keep = r >= 0
        b.add(r[keep], col("order", order_pos[keep]), 1.0)
    # (7) windows
    win_rows, win_cols, win_labels, win_ub = [], [], [], []
    for pi_, p in enumerate(suppliers):
        for i, (start, end, capw) in enumerate(p.capacity_windows):
            inside = np.flatnonzero((order_p == pi_) & (order_t >= start) & (order_t <= end))
            if not inside.size:
                continue
            win_rows.append(np.full(inside.size, len(win_labels), dtype=int64))
            win_cols.append(inside)
            win_labels.append((pi_, i))
            win_ub.append(capw)
    wl = np.array(win_labels, dtype=int64).reshape(-1, 2)
    b = block(
        "supplier_window_capacity",
        (supplier_ids, None),
        (wl[:, 0], wl[:, 1]),
        -np.inf,
        np.array(win_ub, dtype=float),
    )
    if win_rows:
        b.add(cat(win_rows), col("order", cat(win_cols)), 1.0)
    # (8) minimum_order and order_needs_placement over placed (p, t)
    placed = has_orders[place_p] if place_p.size else np.zeros(0, bool)
    pl_p, pl_t = place_p[placed], place_t[placed]
    place_pos = np.flatnonzero(placed)
    min_order = np.array([p.min_order for p in suppliers], dtype=float)
    row_of = np.full((len(suppliers), H), -1, dtype=int64)
    sel = min_order[pl_p] > 0 if pl_p.size else np.zeros(0, bool)
    row_of[pl_p[sel], pl_t[sel]] = np.arange(int(sel.sum()))
    b = block("minimum_order", (supplier_ids, None), (pl_p[sel], pl_t[sel]), -np.inf, 0.0)
    b.add(np.arange(int(sel.sum())), col("place", place_pos[sel]), min_order[pl_p[sel]])
    if order_p.size:
        r = row_of[order_p, order_t]
        keep = r >= 0
        b.add(r[keep], col("order", order_pos[keep]), -1.0)
    row_of = np.full((len(suppliers), H), -1, dtype=int64)
    row_of[pl_p, pl_t] = np.arange(pl_p.size)
    day_bound_p = np.array([order_day_bound(p, demand_k) for p in suppliers], dtype=float)
    b = block("order_needs_placement", (supplier_ids, None), (pl_p, pl_t), -np.inf, 0.0)
    if order_p.size:
        r = row_of[order_p, order_t]
        keep = r >= 0
        b.add(r[keep], col("order", order_pos[keep]), 1.0)
    b.add(np.arange(pl_p.size), col("place", place_pos), -day_bound_p[pl_p])

    # (9) fill_rate_target[k]
    fill = [kid[k] for k in data.fill_rate_target if demand_by_sku[kid[k]] > 0]
    fill_ub = [(1 - data.fill_rate_target[skus[k]]) * demand_by_sku[k] for k in fill]
    b = block(
        "fill_rate_target",
        (skus,),
        (np.array(fill, dtype=int64),),
        -np.inf,
        np.array(fill_ub, dtype=float),
    )
    row_of = np.full(K, -1, dtype=int64)
    row_of[np.array(fill, dtype=int64)] = np.arange(len(fill))
    if n_dem:
        r = row_of[dem_k]
        keep = r >= 0
        b.add(r[keep], col("lost", np.flatnonzero(keep)), prob[dem_s[keep]])
    # (10) lost_only_in_stockout_scenarios[s,k,c,t] and no_stockout_chance[k]
    targeted = np.zeros(K, dtype=bool)
    for k in data.no_stockout_target:
        targeted[kid[k]] = True
    rows_d = np.flatnonzero(targeted[dem_k]) if n_dem else np.zeros(0, int64)
    b = block(
        "lost_only_in_stockout_scenarios",
        (scens, skus, chans, None),
        (dem_s[rows_d], dem_k[rows_d], dem_c[rows_d], dem_t[rows_d]),
        -np.inf,
        dem_q[rows_d],
    )
    rows = np.arange(rows_d.size)
    b.add(rows, col("lost", rows_d), 1.0)
    b.add(rows, col("no_stockout", z_pos[dem_s[rows_d], dem_k[rows_d]]), dem_q[rows_d])
    alpha = np.array([data.no_stockout_target[skus[k]] for k in chance], dtype=float)
    b = block("no_stockout_chance", (skus,), (np.array(chance, dtype=int64),), alpha, np.inf)
    if z_s.size:
        b.add(
            np.tile(np.arange(len(chance)), S), col("no_stockout", np.arange(z_s.size)), prob[z_s]
        )
    # (11) safety_stock_floor[s,k,w]
    floors = list(data.safety_floor.items())
    fk = np.array([kid[k] for (k, _w), _g in floors], dtype=int64)
    fw = np.array([wid[w] for (_k, w), _g in floors], dtype=int64)
    fg = np.array([g for _key, g in floors], dtype=float)
    fs = np.repeat(np.arange(S, dtype=int64), fk.size)
    fk, fw, fg = np.tile(fk, S), np.tile(fw, S), np.tile(fg, S)
    b = block("safety_stock_floor", (scens, skus, whs), (fs, fk, fw), fg, np.inf)
    if H:
        b.add(np.arange(fs.size), col("stock", stock_col(fs, fk, fw, H - 1)), 1.0)
    # (12) channel_pool_limit[s,k,w,g]: keys in order of first serve, if the pair is limited
    pools = sorted(set(data.channel_pool.values()))
    gid = {g: i for i, g in enumerate(pools)}
    chan_pool = np.array([gid.get(data.channel_pool.get(c, ""), -1) for c in chans], dtype=int64)
    G = max(1, len(pools))
    limit = np.full((K, W, G), np.nan)
    for (k, w, g), q in data.pool_limit.items():
        if k in kid and w in wid and g in gid:
            limit[kid[k], wid[w], gid[g]] = q
    sg = chan_pool[serve_c] if serve_c.size else np.zeros(0, int64)
    pooled = np.flatnonzero(sg >= 0)
    pooled = pooled[~np.isnan(limit[serve_k[pooled], serve_w[pooled], sg[pooled]])]
    code = ((serve_s[pooled] * K + serve_k[pooled]) * W + serve_w[pooled]) * G + sg[pooled]
    uniq, rank = _first_occurrence_order(code)
    ug = uniq % G
    uw = (uniq // G) % W
    uk = (uniq // (G * W)) % K
    us = uniq // (G * W * K)
    b = block(
        "channel_pool_limit",
        (scens, skus, whs, pools),
        (us, uk, uw, ug),
        -np.inf,
        limit[uk, uw, ug],
    )
    b.add(rank, col("serve", pooled), 1.0)

    return _assemble(
        fams, lower, upper, cost, integer, fixed_vals, free, order_names, offsets, n_cols, blocks
    )


def _assemble(
    fams, lower, upper, cost, integer, fixed_vals, free, order_names, offsets, n_cols, blocks
) -> ArrayModel:
    """The blocks into one matrix; empty and fixed columns out, empty rows checked and out."""
    c = np.zeros(n_cols)
    col_lower = np.zeros(n_cols)
    col_upper = np.zeros(n_cols)
    is_int = np.zeros(n_cols, dtype=bool)
    fixed_at = np.full(n_cols, np.nan)
    for name in order_names:
        o, n = offsets[name], fams[name].size
        c[o : o + n] = cost[name]
        col_lower[o : o + n] = lower[name]
        col_upper[o : o + n] = upper[name]
        is_int[o : o + n] = integer[name]
        fixed_at[o : o + n] = fixed_vals[name]
    row_off = 0
    r_all, c_all, v_all, lo_all, hi_all = [], [], [], [], []
    for b in blocks:
        for r, cc, v in zip(b.rows, b.cols, b.vals, strict=True):
            if r.size:
                assert int(cc.min()) >= 0, f"{b.name}: a column of a family not in the model"
            r_all.append(r + row_off)
            c_all.append(cc)
            v_all.append(v)
        lo_all.append(b.lower)
        hi_all.append(b.upper)
        b.offset = row_off
        row_off += b.family.size
    n_rows = row_off
    rows = np.concatenate(r_all) if r_all else np.zeros(0, np.int64)
    cols = np.concatenate(c_all) if c_all else np.zeros(0, np.int64)
    vals = np.concatenate(v_all) if v_all else np.zeros(0)
    row_lower = np.concatenate(lo_all) if lo_all else np.zeros(0)
    row_upper = np.concatenate(hi_all) if hi_all else np.zeros(0)
    A = sp.csc_array((vals, (rows, cols)), shape=(n_rows, n_cols))
    A.sum_duplicates()
    A.eliminate_zeros()
    fixed = ~np.isnan(fixed_at)
    if fixed.any():  # fixed columns: constants of the rows and the objective
        x = np.where(fixed, fixed_at, 0.0)
        shift = A @ x
        offset = float(c[fixed] @ x[fixed])
        row_lower = row_lower - shift
        row_upper = row_upper - shift
    else:
        offset = 0.0
    keep = ((np.diff(A.indptr) > 0) | (c != 0)) & ~fixed
    if not keep.all():
        A = A[:, np.flatnonzero(keep)]
    nnz_row = np.bincount(A.indices, minlength=n_rows) if A.nnz else np.zeros(n_rows, int)
    live = nnz_row > 0
    empty = ~live
    tol = 1e-9
    broken = empty & ((row_lower > tol) | (row_upper < -tol))
    if broken.any():
        where = int(np.flatnonzero(broken)[0])
        name = next(b.name for b in blocks if b.offset <= where < b.offset + b.family.size)
        raise InfeasibleConstraintException(
            f"model contains a trivially infeasible constraint, '{name}'"
        )
    row_idx = np.flatnonzero(live)
    if row_idx.size < n_rows:
        A = sp.csc_array(A[row_idx, :])
    A.sort_indices()
    new_col = np.full(n_cols, -1, dtype=np.int64)
    new_col[keep] = np.arange(int(keep.sum()))
    new_row = np.full(n_rows, -1, dtype=np.int64)
    new_row[row_idx] = np.arange(row_idx.size)
    for name, fam in fams.items():
        fam.cols = (
            new_col[offsets[name] : offsets[name] + fam.size]
            if name in offsets
            else np.full(fam.size, -1, dtype=np.int64)
        )
    row_fams = {}
    for b in blocks:
        b.family.cols = new_row[b.offset : b.offset + b.family.size]
        row_fams[b.name] = b.family
    matrix = MatrixModel(
        c=c[keep],
        offset=offset,
        A=A,
        row_lower=row_lower[row_idx],
        row_upper=row_upper[row_idx],
        col_lower=col_lower[keep],
        col_upper=col_upper[keep],
        integer=is_int[keep],
        columns=(),
        row_names=(),
    )
    return ArrayModel(matrix, fams, row_fams, lower, upper, fixed_vals)
