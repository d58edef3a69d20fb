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
    (4) lane_capacity[l,t]:  sum_k ship_klt <= M_l use_lt   (M_l = U_l, or the units that can
        ever reach o_l when U_l is unlimited; without F_l the right side is just U_l)
    (5) warehouse_capacity[s,w,t]:  sum_k stock_skwt <= V_w
    (6) supplier_daily_capacity[p,t]:  sum_kw order_pkwt <= Q_p
    (7) supplier_window_capacity[p,i]:  sum_{t in [a_i, b_i]} sum_kw order_pkwt <= Q_i
    (8) minimum_order[p,t]:  m_p place_pt <= sum_kw order_pkwt <= M_p place_pt
"""

from __future__ import annotations

from collections import defaultdict
import pyomo.environ as pyo

from models.data import LaneData, NetworkData, SupplierData


def _largest_scenario_demand(data: NetworkData) -> float:
    per_scenario: dict[str, float] = defaultdict(float)
    for (s, _k, _c, _t), q in data.demand.items():
        per_scenario[s] += q
    return max(per_scenario.values(), default=0.0)


def order_day_bound(p: SupplierData, data: NetworkData) -> float:
    """Most units an optimal plan orders from p on one day: M_p in (8).

    Units beyond the largest scenario's demand can only end as leftover, which never pays
    (validation keeps salvage at or below purchase cost), except to reach the minimum order.
    """
    bound = max(_largest_scenario_demand(data), p.min_order)
    if p.capacity_per_day is not None:
        bound = min(bound, p.capacity_per_day)
    return bound


def reachable_supply_bound(data: NetworkData) -> float:
    """Units that can ever be in the network: M_l in (4) when a lane has no capacity."""
    existing = sum(data.initial_stock.values()) + sum(data.inbound.values())
    supply = sum(
        order_day_bound(p, data) * len(_order_days(p, data.horizon_days)) for p in data.suppliers
    )
    return max(1.0, existing + supply)


def _order_days(p: SupplierData, horizon: int) -> range:
    return range(max(0, horizon - p.lead_days))


def _ship_days(lane: LaneData, horizon: int) -> range:
    return range(max(0, horizon - lane.lead_days))


def build_network_plan(data: NetworkData) -> pyo.ConcreteModel:
    """Build the model above; pure: reads ``data`` only and never changes it."""
    m = pyo.ConcreteModel(name="network_plan")
    horizon = data.horizon_days
    lanes = {lane.key: lane for lane in data.lanes}
    suppliers = {p.id: p for p in data.suppliers}
    big_m = reachable_supply_bound(data)

    # ---- index sets -------------------------------------------------------------------------
    ship_index = [
        (k, lane.key, t) for lane in data.lanes for k in data.skus for t in _ship_days(lane, horizon)
    ]
    use_index = [
        (lane.key, t) for lane in data.lanes if lane.fixed_cost > 0 for t in _ship_days(lane, horizon)
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
    serve_index = [
        (s, k, w, c, t) for (s, k, c, t) in data.demand for w in data.eligible[c]
    ]
    stock_index = [
        (s, k, w, t) for s in data.scenarios for k in data.skus for w in data.warehouses for t in data.days
    ]

    m.ship = pyo.Var(ship_index, domain=pyo.NonNegativeIntegers)
    m.use = pyo.Var(use_index, domain=pyo.Binary)
    m.order = pyo.Var(order_index, domain=pyo.NonNegativeIntegers)
    m.place = pyo.Var(place_index, domain=pyo.Binary)
    m.serve = pyo.Var(serve_index, domain=pyo.NonNegativeReals)
    lost_bounds = (0.0, 0.0) if data.serve_all_demand else (0.0, None)
    m.lost = pyo.Var(list(data.demand), domain=pyo.NonNegativeReals, bounds=lost_bounds)
    m.stock = pyo.Var(stock_index, domain=pyo.NonNegativeReals)

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
            sum(m.serve[s, k, w, c, t] for w in data.eligible[c]) + m.lost[s, k, c, t]
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

    def lane_capacity(m: pyo.ConcreteModel, key: str, t: int) -> object:
        lane = lanes[key]
        limit = lane.capacity if lane.capacity is not None else big_m
        if lane.fixed_cost > 0:
            return sum(shipped[key, t]) <= min(limit, big_m) * m.use[key, t]
        return sum(shipped[key, t]) <= limit

    m.lane_capacity = pyo.Constraint(capacity_index, rule=lane_capacity)

    # (5) warehouse_capacity
    capped = [w for w in data.warehouses if data.warehouse_capacity[w] is not None]
    m.warehouse_capacity = pyo.Constraint(
        [(s, w, t) for s in data.scenarios for w in capped for t in data.days],
        rule=lambda m, s, w, t: sum(m.stock[s, k, w, t] for k in data.skus)
        <= data.warehouse_capacity[w],
    )

    # (6)-(8) supplier rules
    ordered: dict[tuple[str, int], list] = defaultdict(list)
    for pid, k, w, t in order_index:
        ordered[pid, t].append(m.order[pid, k, w, t])
    m.supplier_daily_capacity = pyo.Constraint(
        [key for key in ordered if suppliers[key[0]].capacity_per_day is not None],
        rule=lambda m, pid, t: sum(ordered[pid, t]) <= suppliers[pid].capacity_per_day,
    )
    window_index = [
        (p.id, i) for p in data.suppliers for i, _ in enumerate(p.capacity_windows)
    ]

    def supplier_window_capacity(m: pyo.ConcreteModel, pid: str, i: int) -> object:
        start, end, cap = suppliers[pid].capacity_windows[i]
        in_window = [v for t in range(start, end + 1) for v in ordered.get((pid, t), [])]
        if not in_window:
            return pyo.Constraint.Skip
        return sum(in_window) <= cap

    m.supplier_window_capacity = pyo.Constraint(window_index, rule=supplier_window_capacity)

    def minimum_order_floor(m: pyo.ConcreteModel, pid: str, t: int) -> object:
        return sum(ordered[pid, t]) >= suppliers[pid].min_order * m.place[pid, t]

    def order_needs_placement(m: pyo.ConcreteModel, pid: str, t: int) -> object:
        return sum(ordered[pid, t]) <= order_day_bound(suppliers[pid], data) * m.place[pid, t]

    placed = [key for key in place_index if ordered.get(key)]
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
            - sum(data.salvage_value[k] * m.stock[s, k, w, last] for k in data.skus for w in data.warehouses)
        )

    m.second_stage_cost = pyo.Expression(data.scenarios, rule=lambda m, s: second_stage(s))
    m.expected_cost = pyo.Objective(
        expr=m.first_stage_cost
        + sum(data.probability[s] * m.second_stage_cost[s] for s in data.scenarios),
        sense=pyo.minimize,
    )
    return m

