r"""Time-phased two-stage network plan: transfers, orders, channel allocation under uncertainty.

The planner commits today to transfers and replenishment orders (first stage, shared by every
demand scenario); once demand is known, stock on hand is allocated to channels and the rest
is lost or held (second stage, one copy per scenario). The objective is the first-stage cost
plus the expected second-stage cost.

Sets
    K skus [k], W warehouses [w], C channels [c], L lanes [l] (origin o_l, destination d_l),
    P suppliers [p], S scenarios [s], T = {0, ..., H-1} days [t].
    E_c \subseteq W: warehouses whose delivery days meet channel c's promise.
    T_l = {t : t + lead_l <= H-1} ship days of lane l; T_p likewise for supplier p.

Parameters
    I0_kw initial stock, R_kwt stock in transit arriving on day t, D_skct demand,
    pi_s scenario probability, lead_l, c_l unit transfer cost, F_l fixed cost per ship day,
    U_l lane capacity per ship day, lead_p, c_pk purchase cost, F_p fixed cost per order day,
    m_p minimum order, Q_p capacity per order day, (a, b, Q) capacity windows of p,
    f_cw fulfilment cost, h_w holding cost per unit-day, V_w warehouse capacity,
    pen_k lost-sale penalty, v_k salvage value of a unit left at the end of day H-1.

Variables (first stage)
    ship_kl t  \in Z+     units of k shipped on lane l on day t (arrive t + lead_l)
    use_lt     \in {0,1}  lane l ships on day t (only for lanes with F_l > 0)
    order_pkwt \in Z+     units of k ordered from p on day t for warehouse w (arrive t + lead_p)
    place_pt   \in {0,1}  supplier p gets an order on day t (only if m_p > 0 or F_p > 0)
Variables (second stage, per scenario)
    serve_skwct >= 0   demand of (k, c) on day t served from w, only for w in E_c, D_skct > 0
    lost_skct   >= 0   demand not served (fixed to 0 when every unit must be served)
    stock_skwt  >= 0   end-of-day stock

Objective
    min  sum_lt F_l use_lt + sum_klt c_l ship_klt + sum_pt F_p place_pt + sum_pkwt c_pk order_pkwt
         + sum_s pi_s [ sum f_cw serve_skwct + sum h_w stock_skwt + sum pen_k lost_skct
                        - sum_kw v_k stock_skw(H-1) ]

Constraints
    (1) stock_balance[s,k,w,t]:
        stock_skwt = stock_skw(t-1) + R_kwt + sum_{l: d_l = w, t - lead_l in T_l} ship_kl(t-lead_l)
                     + sum_{p: w in W_p} order_pkw(t-lead_p) - sum_{l: o_l = w} ship_klt
                     - sum_c serve_skwct,                  with stock_skw(-1) = I0_kw
        A lane with lead 0 moves stock within the day, so routes through a hub are multi-hop.
    (2) demand_met_or_lost[s,k,c,t]:  sum_{w in E_c} serve_skwct + lost_skct = D_skct
    (3) promise_respected: serve exists only for w in E_c (by construction of the index set).
    (4) lane_capacity[l,t]:  sum_k ship_klt <= M_lt use_lt   (M_lt = min(U_l, sum_k S_kt));
        without F_l the right side is just U_l
    (4b) lane_use_per_sku[k,l,t]:  ship_klt <= S_kt use_lt   (valid, and far tighter in the LP
        relaxation than (4) when many SKUs share a lane)
    Bounds: S_kt = units of k that can exist by day t (stock, arrivals, supplier deliveries at
    most D_k + m_p per order day and warehouse, D_k = the sum over scenarios of k's demand
    plus its safety floors): 0 <= ship_klt <= S_kt, 0 <= order_pkwt <= min(Q_p, D_k + m_p).
    (5) warehouse_capacity[s,w,t]:  sum_k stock_skwt <= V_w
    (6) supplier_daily_capacity[p,t]:  sum_kw order_pkwt <= Q_p
    (7) supplier_window_capacity[p,i]:  sum_{t in [a_i, b_i]} sum_kw order_pkwt <= Q_i
    (8) minimum_order[p,t]:  m_p place_pt <= sum_kw order_pkwt <= M_p place_pt
    (9) fill_rate_target[k]:  sum_s pi_s sum_ct lost_skct <= (1 - phi_k) sum_s pi_s sum_ct D_skct
        (expected fill rate of SKU k at least phi_k, from its tier's service level)
    (10) no_stockout_chance[k]:  sum_s pi_s z_sk >= alpha_k, with z_sk in {0,1} and
        lost_skct <= D_skct (1 - z_sk): SKU k loses no sale in scenarios of total probability
        at least alpha_k (a chance constraint on scenario indicators)
    (11) safety_stock_floor[s,k,w]:  stock_skw(H-1) >= G_kw   (days of cover x daily sales)
    (12) channel_pool_limit[s,k,w,g]:  sum_{c in pool g, t} serve_skwct <= A_kwg   (a share of a
        warehouse's stock reserved for a group of channels, e.g. 60% live / 40% the rest)

Elastic twin (built only to explain an infeasible request)
    Each hard rule gets a named slack >= 0, all priced at a weight Omega far above any cost:
    serve_late_skwct (demand served from a warehouse that misses the promise, breaks (3);
    priced per unit and day late, so the nearest stock is preferred),
    lost_skct when every unit must be served, over_lane_capacity_lt (4),
    over_warehouse_capacity_swt (5), over_supplier_daily_pt (6), over_supplier_window_pi (7),
    short_of_minimum_order_pt (8), short_of_fill_rate_k (9), short_of_no_stockout_k (10),
    short_of_safety_stock_skw (11). Minimising cost + Omega * sum(slacks) gives the smallest
    violation and, among those, the cheapest plan: the "cheapest repair".
"""

from __future__ import annotations

import math
from collections import defaultdict

import pyomo.environ as pyo

from models.data import LaneData, NetworkData, SupplierData


def useful_units(data: NetworkData) -> dict[str, float]:
    """D_k: units of SKU k a plan can put to use: every scenario's demand added up (stock is
    committed before demand is known, so each scenario may need its units elsewhere) plus the
    safety stock it must keep (11)."""
    out = dict.fromkeys(data.skus, 0.0)
    for (_s, k, _c, _t), q in data.demand.items():
        out[k] += q
    for (k, _w), floor in data.safety_floor.items():
        out[k] += floor
    return out


def order_bound(p: SupplierData, k: str, useful: dict[str, float]) -> float:
    """Most units of k an optimal plan orders from p for one warehouse on one day (upper
    bound of order_pkwt), in whole units.

    A unit sold in no scenario and kept for no safety floor only ends as leftover, which
    never pays (validation keeps salvage at or below purchase cost, holding is never
    negative): removing it, and its transfers, keeps every rule except possibly p's minimum
    order, which needs at most m_p more. So D_k + m_p units suffice.
    """
    bound = useful[k] + p.min_order
    if p.capacity_per_day is not None:
        bound = min(bound, p.capacity_per_day)
    return _ceil(bound)


def order_day_bound(p: SupplierData, useful: dict[str, float]) -> float:
    """M_p in (8): most units ordered from p on one day (the sum of its variables' bounds)."""
    bound = sum(order_bound(p, k, useful) for k in p.skus) * len(p.deliver_to)
    if p.capacity_per_day is not None:
        bound = min(bound, p.capacity_per_day)
    return max(_ceil(bound), _ceil(p.min_order))


def sku_supply_by_day(data: NetworkData, demand: dict[str, float]) -> dict[tuple[str, int], float]:
    """S_kt: units of SKU k that can exist in the network by the end of day t.

    Stock on hand, stock in transit arrived by t, and what suppliers can have delivered by t
    (each order day at most :func:`order_bound`). It bounds any transfer of k on day t: M_kt.
    """
    out: dict[tuple[str, int], float] = {}
    for k in data.skus:
        running = sum(q for (k2, _w), q in data.initial_stock.items() if k2 == k)
        arriving: dict[int, float] = defaultdict(float)
        for (k2, _w, t), q in data.inbound.items():
            if k2 == k:
                arriving[t] += q
        for p in data.suppliers:
            if k in p.skus:
                per_day = order_bound(p, k, demand) * len(p.deliver_to)
                for t in _order_days(p, data.horizon_days):
                    arriving[t + p.lead_days] += per_day
        for t in data.days:
            running += arriving.get(t, 0.0)
            out[k, t] = running
    return out


def _ceil(x: float) -> float:
    """Round a bound up to a whole unit: transfers are whole units."""
    return float(math.ceil(x - 1e-9))


def _order_days(p: SupplierData, horizon: int) -> range:
    return range(max(0, horizon - p.lead_days))


def _ship_days(lane: LaneData, horizon: int) -> range:
    return range(max(0, horizon - lane.lead_days))


def violation_weight(data: NetworkData) -> float:
    """Cost of one unit of rule violation in the elastic model: above any saving it could buy."""
    scale = [1.0, *data.lost_sale_penalty.values(), *data.fulfilment_cost.values()]
    scale += [abs(v) for v in data.salvage_value.values()] + list(data.holding_cost.values())
    for lane in data.lanes:
        scale += [lane.unit_cost, lane.fixed_cost]
    for p in data.suppliers:
        scale += [p.order_fixed_cost, *p.unit_cost.values()]
    return 1000.0 * max(scale) * max(1, data.horizon_days)


def build_network_plan(
    data: NetworkData,
    elastic: bool = False,
    whole_units: bool = True,
    formulation: str = "strong",
) -> pyo.ConcreteModel:
    """Build the model above; pure: reads ``data`` only and never changes it.

    ``elastic=True`` builds the elastic twin used to explain infeasibility: every hard rule
    gets a named non-negative slack, priced at :func:`violation_weight` per unit.
    ``whole_units=False`` relaxes ship and order quantities to continuous values (lane-use
    and order-placement decisions stay binary): a relaxation of the model, whose optimum is
    the model's optimum whenever its quantities come out whole.

    ``formulation="straightforward"`` builds the textbook big-M baseline that benchmarks
    (``planner bench``) compare against: the same plans and the same optimum, a weaker LP
    relaxation. It has no (4b); (4) links a lane to its use with M = the lane's capacity, else
    one network-wide M = every unit that can exist by the last day (sum_k S_k(H-1)) instead
    of the per-day M_lt; ship and order bounds are that M (an order also within Q_p), and
    M_p in (8) is Q_p or that M.
    """
    m = pyo.ConcreteModel(name="network_plan_elastic" if elastic else "network_plan")
    horizon = data.horizon_days
    lanes = {lane.key: lane for lane in data.lanes}
    suppliers = {p.id: p for p in data.suppliers}
    demand_k = useful_units(data)
    supply_kt = sku_supply_by_day(data, demand_k)
    if formulation not in ("strong", "straightforward"):
        raise ValueError(f"unknown formulation {formulation!r}: strong or straightforward")
    # the straightforward baseline's one loose big-M (docstring above); None: the strong model
    loose_m = (
        _ceil(sum(supply_kt[k, horizon - 1] for k in data.skus))
        if formulation == "straightforward"
        else None
    )

    def loose_order_m(p: SupplierData) -> float:
        assert loose_m is not None
        return loose_m if p.capacity_per_day is None else min(loose_m, p.capacity_per_day)

    # ---- index sets -------------------------------------------------------------------------
    ship_index = [
        (k, lane.key, t)
        for lane in data.lanes
        for k in data.skus
        for t in _ship_days(lane, horizon)
    ]
    use_index = [
        (lane.key, t)
        for lane in data.lanes
        if lane.fixed_cost > 0
        for t in _ship_days(lane, horizon)
    ]
    order_index = [
        (p.id, k, w, t)
        for p in data.suppliers
        for k in p.skus
        for w in p.deliver_to
        for t in _order_days(p, horizon)
    ]
    place_index = [
        (p.id, t) for p in data.suppliers if p.needs_order_binary for t in _order_days(p, horizon)
    ]
    serve_index = [(s, k, w, c, t) for (s, k, c, t) in data.demand for w in data.eligible[c]]
    stock_index = [
        (s, k, w, t)
        for s in data.scenarios
        for k in data.skus
        for w in data.warehouses
        for t in data.days
    ]

    quantity_domain = pyo.NonNegativeIntegers if whole_units else pyo.NonNegativeReals
    m.ship = pyo.Var(
        ship_index,
        domain=quantity_domain,
        bounds=lambda m, k, key, t: (0, _ceil(supply_kt[k, t]) if loose_m is None else loose_m),
    )
    m.use = pyo.Var(use_index, domain=pyo.Binary)
    m.order = pyo.Var(
        order_index,
        domain=quantity_domain,
        bounds=lambda m, pid, k, w, t: (
            0,
            order_bound(suppliers[pid], k, demand_k)
            if loose_m is None
            else loose_order_m(suppliers[pid]),
        ),
    )
    m.place = pyo.Var(place_index, domain=pyo.Binary)
    m.serve = pyo.Var(serve_index, domain=pyo.NonNegativeReals)
    lost_bounds = (0.0, 0.0) if data.serve_all_demand and not elastic else (0.0, None)
    m.lost = pyo.Var(list(data.demand), domain=pyo.NonNegativeReals, bounds=lost_bounds)
    m.stock = pyo.Var(stock_index, domain=pyo.NonNegativeReals)
    late_index = (
        [
            (s, k, w, c, t)
            for (s, k, c, t) in data.demand
            for (c2, w), days in data.delivery_days.items()
            if c2 == c and days > data.promise_days[c]
        ]
        if elastic
        else []
    )
    m.serve_late = pyo.Var(late_index, domain=pyo.NonNegativeReals)  # breaks (3)

    # ---- flows grouped for the balance ------------------------------------------------------
    arrivals: dict[tuple[str, str, int], list] = defaultdict(list)
    departures: dict[tuple[str, str, int], list] = defaultdict(list)
    for k, key, t in ship_index:
        lane = lanes[key]
        departures[k, lane.origin, t].append(m.ship[k, key, t])
        arrivals[k, lane.destination, t + lane.lead_days].append(m.ship[k, key, t])
    for pid, k, w, t in order_index:
        arrivals[k, w, t + suppliers[pid].lead_days].append(m.order[pid, k, w, t])
    served: dict[tuple[str, str, str, int], list] = defaultdict(list)
    for s, k, w, c, t in serve_index:
        served[s, k, w, t].append(m.serve[s, k, w, c, t])
    late: dict[tuple[str, str, str, int], list] = defaultdict(list)  # by (s, k, c, t)
    for s, k, w, c, t in late_index:
        served[s, k, w, t].append(m.serve_late[s, k, w, c, t])
        late[s, k, c, t].append(m.serve_late[s, k, w, c, t])

    # (1) stock_balance
    def stock_balance(m: pyo.ConcreteModel, s: str, k: str, w: str, t: int) -> object:
        previous = m.stock[s, k, w, t - 1] if t > 0 else data.initial_stock.get((k, w), 0.0)
        return m.stock[s, k, w, t] == (
            previous
            + data.inbound.get((k, w, t), 0.0)
            + sum(arrivals[k, w, t])
            - sum(departures[k, w, t])
            - sum(served[s, k, w, t])
        )

    m.stock_balance = pyo.Constraint(stock_index, rule=stock_balance)

    # (2) demand_met_or_lost; (3) holds by the serve index set
    def demand_met_or_lost(m: pyo.ConcreteModel, s: str, k: str, c: str, t: int) -> object:
        return (
            sum(m.serve[s, k, w, c, t] for w in data.eligible[c])
            + sum(late[s, k, c, t])
            + m.lost[s, k, c, t]
            == data.demand[s, k, c, t]
        )

    m.demand_met_or_lost = pyo.Constraint(list(data.demand), rule=demand_met_or_lost)

    # (4) lane_capacity
    shipped: dict[tuple[str, int], list] = defaultdict(list)
    for k, key, t in ship_index:
        shipped[key, t].append(m.ship[k, key, t])
    capacity_index = [
        (key, t)
        for (key, t) in shipped
        if lanes[key].fixed_cost > 0 or lanes[key].capacity is not None
    ]

    over_lane_index = [i for i in capacity_index if elastic and lanes[i[0]].capacity is not None]
    m.over_lane_capacity = pyo.Var(over_lane_index, domain=pyo.NonNegativeReals)
    over_lane_set = set(over_lane_index)

    # sum_k S_kt once per day: lane_day_bound runs for every (k, l, t) of (4b)
    network_supply = {t: _ceil(sum(supply_kt[k, t] for k in data.skus)) for t in data.days}

    def lane_day_bound(key: str, t: int) -> float:
        """M_lt: the lane's capacity, or every unit that can exist by day t."""
        everything = network_supply[t]
        cap = lanes[key].capacity
        if loose_m is not None:  # the baseline: the lane's capacity, else the network-wide M
            return loose_m if cap is None else cap
        return everything if cap is None else min(cap, everything)

    def lane_capacity(m: pyo.ConcreteModel, key: str, t: int) -> object:
        over = m.over_lane_capacity[key, t] if (key, t) in over_lane_set else 0
        if lanes[key].fixed_cost > 0:
            return sum(shipped[key, t]) <= lane_day_bound(key, t) * m.use[key, t] + over
        return sum(shipped[key, t]) <= lanes[key].capacity + over

    m.lane_capacity = pyo.Constraint(capacity_index, rule=lane_capacity)
    # elastic: a lane may carry more than its capacity only on a day it is used (and paid)
    m.over_lane_needs_use = pyo.Constraint(
        [i for i in over_lane_index if lanes[i[0]].fixed_cost > 0],
        rule=lambda m, key, t: (
            m.over_lane_capacity[key, t]
            <= _ceil(sum(supply_kt[k, t] for k in data.skus)) * m.use[key, t]
        ),
    )

    # (4b) lane_use_per_sku: no SKU ships on a lane on a day it is not used; with M_kt, the
    # SKU's own supply, this is much tighter in the LP relaxation than (4) alone.
    m.lane_use_per_sku = pyo.Constraint(
        [
            (k, key, t)
            for (k, key, t) in ship_index
            if loose_m is None  # not in the straightforward baseline
            and lanes[key].fixed_cost > 0
            and _ceil(supply_kt[k, t]) < lane_day_bound(key, t)
        ],
        rule=lambda m, k, key, t: m.ship[k, key, t] <= _ceil(supply_kt[k, t]) * m.use[key, t],
    )

    # (5) warehouse_capacity
    capped = [w for w in data.warehouses if data.warehouse_capacity[w] is not None]
    capacity_rows = [(s, w, t) for s in data.scenarios for w in capped for t in data.days]
    m.over_warehouse_capacity = pyo.Var(
        capacity_rows if elastic else [], domain=pyo.NonNegativeReals
    )
    m.warehouse_capacity = pyo.Constraint(
        capacity_rows,
        rule=lambda m, s, w, t: (
            sum(m.stock[s, k, w, t] for k in data.skus)
            <= data.warehouse_capacity[w] + (m.over_warehouse_capacity[s, w, t] if elastic else 0)
        ),
    )

    # (6)-(8) supplier rules
    ordered: dict[tuple[str, int], list] = defaultdict(list)
    for pid, k, w, t in order_index:
        ordered[pid, t].append(m.order[pid, k, w, t])
    daily_rows = [key for key in ordered if suppliers[key[0]].capacity_per_day is not None]
    m.over_supplier_daily = pyo.Var(daily_rows if elastic else [], domain=pyo.NonNegativeReals)
    m.supplier_daily_capacity = pyo.Constraint(
        daily_rows,
        rule=lambda m, pid, t: (
            sum(ordered[pid, t])
            <= suppliers[pid].capacity_per_day + (m.over_supplier_daily[pid, t] if elastic else 0)
        ),
    )
    window_index = [(p.id, i) for p in data.suppliers for i, _ in enumerate(p.capacity_windows)]
    m.over_supplier_window = pyo.Var(window_index if elastic else [], domain=pyo.NonNegativeReals)

    def supplier_window_capacity(m: pyo.ConcreteModel, pid: str, i: int) -> object:
        start, end, cap = suppliers[pid].capacity_windows[i]
        in_window = [v for t in range(start, end + 1) for v in ordered.get((pid, t), [])]
        if not in_window:
            return pyo.Constraint.Skip
        return sum(in_window) <= cap + (m.over_supplier_window[pid, i] if elastic else 0)

    m.supplier_window_capacity = pyo.Constraint(window_index, rule=supplier_window_capacity)

    def minimum_order_floor(m: pyo.ConcreteModel, pid: str, t: int) -> object:
        short = m.short_of_minimum_order[pid, t] if elastic else 0
        return sum(ordered[pid, t]) + short >= suppliers[pid].min_order * m.place[pid, t]

    def order_needs_placement(m: pyo.ConcreteModel, pid: str, t: int) -> object:
        p = suppliers[pid]
        if loose_m is None:
            return sum(ordered[pid, t]) <= order_day_bound(p, demand_k) * m.place[pid, t]
        return sum(ordered[pid, t]) <= max(loose_order_m(p), p.min_order) * m.place[pid, t]

    placed = [key for key in place_index if ordered.get(key)]
    m.short_of_minimum_order = pyo.Var(
        [key for key in placed if elastic and suppliers[key[0]].min_order > 0],
        domain=pyo.NonNegativeReals,
    )
    m.minimum_order = pyo.Constraint(
        [key for key in placed if suppliers[key[0]].min_order > 0], rule=minimum_order_floor
    )
    m.order_needs_placement = pyo.Constraint(placed, rule=order_needs_placement)

    # ---- objective --------------------------------------------------------------------------
    last = horizon - 1
    m.first_stage_cost = pyo.Expression(
        expr=sum(lanes[key].fixed_cost * m.use[key, t] for key, t in use_index)
        + sum(lanes[key].unit_cost * m.ship[k, key, t] for k, key, t in ship_index)
        + sum(suppliers[pid].order_fixed_cost * m.place[pid, t] for pid, t in place_index)
        + sum(suppliers[pid].unit_cost[k] * m.order[pid, k, w, t] for pid, k, w, t in order_index)
    )

    serve_of: dict[str, list] = defaultdict(list)
    for s, k, w, c, t in serve_index:
        serve_of[s].append(data.fulfilment_cost[c, w] * m.serve[s, k, w, c, t])
    lost_of: dict[str, list] = defaultdict(list)
    for s, k, c, t in data.demand:
        lost_of[s].append(data.lost_sale_penalty[k] * m.lost[s, k, c, t])

    def second_stage(s: str) -> object:
        return (
            sum(serve_of[s])
            + sum(
                data.holding_cost[w] * m.stock[s, k, w, t]
                for k in data.skus
                for w in data.warehouses
                for t in data.days
                if data.holding_cost[w] > 0
            )
            + sum(lost_of[s])
            - sum(
                data.salvage_value[k] * m.stock[s, k, w, last]
                for k in data.skus
                for w in data.warehouses
            )
        )

    m.second_stage_cost = pyo.Expression(data.scenarios, rule=lambda m, s: second_stage(s))
    weight = violation_weight(data)
    # (9) fill_rate_target
    lost_by_sku: dict[tuple[str, str], list] = defaultdict(list)  # (s, k)
    demand_by_sku: dict[str, float] = defaultdict(float)  # expected total demand of k
    for s, k, c, t in data.demand:
        lost_by_sku[s, k].append(m.lost[s, k, c, t])
        demand_by_sku[k] += data.probability[s] * data.demand[s, k, c, t]
    fill_skus = [k for k in data.fill_rate_target if demand_by_sku[k] > 0]
    m.short_of_fill_rate = pyo.Var(fill_skus if elastic else [], domain=pyo.NonNegativeReals)
    m.fill_rate_target = pyo.Constraint(
        fill_skus,
        rule=lambda m, k: (
            sum(data.probability[s] * sum(lost_by_sku[s, k]) for s in data.scenarios)
            <= (1 - data.fill_rate_target[k]) * demand_by_sku[k]
            + (m.short_of_fill_rate[k] if elastic else 0)
        ),
    )

    # (10) no_stockout_chance
    chance_skus = [k for k in data.no_stockout_target if demand_by_sku[k] > 0]
    m.no_stockout = pyo.Var(
        [(s, k) for s in data.scenarios for k in chance_skus], domain=pyo.Binary
    )
    m.lost_only_in_stockout_scenarios = pyo.Constraint(
        [(s, k, c, t) for (s, k, c, t) in data.demand if k in data.no_stockout_target],
        rule=lambda m, s, k, c, t: (
            m.lost[s, k, c, t] <= data.demand[s, k, c, t] * (1 - m.no_stockout[s, k])
        ),
    )
    m.short_of_no_stockout = pyo.Var(chance_skus if elastic else [], domain=pyo.NonNegativeReals)
    m.no_stockout_chance = pyo.Constraint(
        chance_skus,
        rule=lambda m, k: (
            sum(data.probability[s] * m.no_stockout[s, k] for s in data.scenarios)
            + (m.short_of_no_stockout[k] if elastic else 0)
            >= data.no_stockout_target[k]
        ),
    )

    # (11) safety_stock_floor
    floor_index = [(s, k, w) for s in data.scenarios for (k, w) in data.safety_floor]
    m.short_of_safety_stock = pyo.Var(floor_index if elastic else [], domain=pyo.NonNegativeReals)
    m.safety_stock_floor = pyo.Constraint(
        floor_index,
        rule=lambda m, s, k, w: (
            m.stock[s, k, w, last] + (m.short_of_safety_stock[s, k, w] if elastic else 0)
            >= data.safety_floor[k, w]
        ),
    )

    # (12) channel_pool_limit
    pooled: dict[tuple[str, str, str, str], list] = defaultdict(list)
    for s, k, w, c, t in serve_index:
        if c in data.channel_pool:
            pooled[s, k, w, data.channel_pool[c]].append(m.serve[s, k, w, c, t])
    m.channel_pool_limit = pyo.Constraint(
        [key for key in pooled if key[1:] in data.pool_limit],
        rule=lambda m, s, k, w, g: sum(pooled[s, k, w, g]) <= data.pool_limit[k, w, g],
    )

    max_lateness = max(
        (d - data.promise_days[c] for (c, _w), d in data.delivery_days.items()), default=0
    )
    m.rule_violation = pyo.Expression(
        expr=sum(
            (data.delivery_days[c, w] - data.promise_days[c]) * m.serve_late[s, k, w, c, t]
            for s, k, w, c, t in late_index
        )
        + sum(m.over_lane_capacity.values())
        + sum(m.over_warehouse_capacity.values())
        + sum(m.over_supplier_daily.values())
        + sum(m.over_supplier_window.values())
        + sum(m.short_of_minimum_order.values())
        + sum(m.short_of_fill_rate.values())
        + sum(demand_by_sku[k] * m.short_of_no_stockout[k] for k in m.short_of_no_stockout)
        + sum(m.short_of_safety_stock.values())
        # an unserved unit must cost more than serving it late, however late
        + ((1 + max_lateness) * sum(m.lost.values()) if elastic and data.serve_all_demand else 0)
    )
    m.expected_cost = pyo.Objective(
        expr=m.first_stage_cost
        + sum(data.probability[s] * m.second_stage_cost[s] for s in data.scenarios)
        + (weight * m.rule_violation if elastic else 0),
        sense=pyo.minimize,
    )
    return m
