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
    pi_s scenario probability, lead_l, c_l unit transfer cost, F_l fixed cost per ship day
    (F_lt = F_l, or 0 on a day t in B_l, the lane's days already booked and paid: sunk),
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
    min  sum_lt F_lt use_lt + sum_klt c_l ship_klt + sum_pt F_p place_pt + sum_pkwt c_pk order_pkwt
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

Promotion rules (only with an event in the request; SEEDS.md sections 1 and 5)
    N_kw = I0_kw + sum_t R_kwt + sum_{l: d_l = w, t} ship_klt + sum_{p, t} order_pkwt
           - sum_{l: o_l = w, t} ship_klt        units of k at w over the horizon (first stage)
    K_kwt = I0_kw + sum_{t' <= t} R_kwt'         stock known at w by day t (a constant)
    (13) emergency_buffer[s,k,w,t]:  stock_skwt >= beta K_kwt   (beta = 10%: never allocated)
    (14) presale locks, L_kw >= 0 for presale-eligible k at warehouses serving a presale
        channel (channel kind presale):
        presale_lock_share[k,w]:  L_kw <= lambda N_kw    (a ratio of the stock, not a quantity)
        presale_sold_from_lock[s,k,w]:  sum_{c presale, t} serve_skwct <= L_kw
        locked_stock_kept[s,k,w]:  sum_{c not presale, t} (serve_skwct + sub_s.jwct
            + presold_skwct) <= N_kw - L_kw
    (15) live_pool_reserved[s,k,w]:  sum_{c neither live nor presale, t} (serve + sub)
        <= (1 - sigma) (N_kw - L_kw)    (sigma = 60% of sellable stock reserved for live;
        live channels may sell all of it)
    Live priority: a lost unit of a live channel costs pen_k + rho price_k (rho = 25%), so
        marketplaces yield to the live channel when stock is short.
    (16) transfer_cost_cap:  sum F_lt use_lt + sum c_l ship_klt <= kappa E[gross margin], with
        E[gross margin] = sum_s pi_s [sum g_k serve_skwct + g_j sub_skjwct
        + (g_k - delta_k)^+ presold_skwct], g_k = (price_k - cost_k)^+   (kappa = 15-20%)
    (17) response_tier_transfers[k,l,t]:  ship_klt <= 0 when c_l > r_T price_k, or r_T = 0,
        for k's tier T (default: A any lane, B lanes up to 15% of the price, C never transfers)
    (18) supplier_capacity_lock[p,t], t an event day:  sum_kw order_pkwt <= (a + e) Q_p
        (themed a = 30%, mega a = 50% plus e = 20% emergency capacity; everyday none)
    Everyday tier: (11) with G_kw = 7 days of cover at every warehouse.
    (19) substitutes: sub_skjwct >= 0 serves demand of k with the stock of substitute j (w in
        E_c); it enters (1) for j and (2) for k, at fulfilment cost f_cw;
        substitute_share[s,k,j,c,t]:  sum_w sub_skjwct <= share_kj D_skct
    (20) switch to presale: presold_skwct >= 0 takes live demand of a presale-eligible k on
        presale, fulfilled from the next inbound batch of k at w: it leaves w's stock in (1) on
        day a_kwt = the first day after t that stock in transit, or an order placed from day 0,
        reaches w; it exists only when a_kwt + delivery_days_cw - t <= the presale ship days
        (7), enters (2), and costs f_cw + delta_k (the presale discount). With (13), live stock
        is sold down to its buffer before orders switch to presale.

Orders along a lane (fulfilment with a lane; SEEDS.md section 2: "with a 3-day delivery
promise the system picks Malaysia air")
    ord_l = {(c, w) : orders of c served from w travel lane l (o_l = w) to the customer}; such
    a fulfilment's delivery days cover the trip and f_cw its whole cost. Lanes that carry
    orders have use_lt on every day t in T (not only T_l: an order needs no arrival in H).
    (21) lane_carries_orders[s,l,t]:  sum_k ship_klt + sum_{(c,w) in ord_l} sum_k (serve_skwct
        + sum_j sub_sjkwct + presold_skwc(t') with a_kwt' = t) <= M_lt use_lt  (U_l without
        F_l): orders share the lane's daily capacity with transfers, and a day that flies
        orders pays the lane's booking fee.
    (21b) order_needs_booking[s,k,w,c,t]:  serve_skwct <= D_skct use_lt  (valid, the per-order
        analogue of (4b): live show solve 3.3 s -> 1.5 s).
    Response tiers (17) govern stock transfers only and the cap (16) counts booking fees, not
    f_cw: a flown order is fulfilment.

Elastic twin (built only to explain an infeasible request)
    Each hard rule gets a named slack >= 0, all priced at a weight Omega far above any cost:
    serve_late_skwct (demand served from a warehouse that misses the promise, breaks (3);
    priced per unit and day late, so the nearest stock is preferred),
    lost_skct when every unit must be served, over_lane_capacity_lt (4),
    over_warehouse_capacity_swt (5), over_supplier_daily_pt (6), over_supplier_window_pi (7),
    short_of_minimum_order_pt (8), short_of_fill_rate_k (9), short_of_no_stockout_k (10),
    short_of_safety_stock_skw (11), and for an event short_of_emergency_buffer (13),
    over_presale_lock_share (14), over_live_pool (15), over_transfer_cost_cap (16),
    over_locked_capacity (18). Minimising cost + Omega * sum(slacks) gives the smallest
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
    share_of = defaultdict(list)  # k -> [(substitute, share)]
    for k, j, share in data.substitutes:
        share_of[k].append((j, share))
    for (_s, k, _c, _t), q in data.demand.items():
        out[k] += q
        for j, share in share_of[k]:  # a substitute may serve a share of k's demand (19)
            out[j] += share * q
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


def next_batch_days(data: NetworkData) -> dict[tuple[str, str], tuple[tuple[int, ...], int | None]]:
    """For each (k, w): the days stock in transit of k reaches w, and the first day an order
    of k placed on day 0 could reach w (None when no supplier delivers k there in time)."""
    out: dict[tuple[str, str], tuple[tuple[int, ...], int | None]] = {}
    for k in data.skus:
        for w in data.warehouses:
            transit = tuple(sorted({t for (k2, w2, t) in data.inbound if (k2, w2) == (k, w)}))
            leads = [
                p.lead_days
                for p in data.suppliers
                if k in p.skus and w in p.deliver_to and p.lead_days < data.horizon_days
            ]
            first_order = min(leads) if leads else None
            if transit or first_order is not None:
                out[k, w] = (transit, first_order)
    return out


def next_batch_day(
    batches: dict[tuple[str, str], tuple[tuple[int, ...], int | None]],
    k: str,
    w: str,
    t: int,
    horizon: int,
) -> int | None:
    """a_kwt: the first day after t an inbound batch of k (in transit or in production) can
    reach w, inside the horizon."""
    if (k, w) not in batches:
        return None
    transit, first_order = batches[k, w]
    days = [d for d in transit if d > t]
    if first_order is not None and max(t + 1, first_order) < horizon:
        days.append(max(t + 1, first_order))
    return min(days) if days else None


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


def decision_index(data: NetworkData) -> dict[str, list[tuple]]:
    """The index sets of ship, use, order, place and serve, in the model's order."""
    horizon = data.horizon_days
    carry = data.order_lane_keys()  # (21) lanes that carry orders are used on any day
    return {
        "ship": [
            (k, lane.key, t)
            for lane in data.lanes
            for k in data.skus
            for t in _ship_days(lane, horizon)
        ],
        "use": [
            (lane.key, t)
            for lane in data.lanes
            if lane.fixed_cost > 0
            for t in (range(horizon) if lane.key in carry else _ship_days(lane, horizon))
        ],
        "order": [
            (p.id, k, w, t)
            for p in data.suppliers
            for k in p.skus
            for w in p.deliver_to
            for t in _order_days(p, horizon)
        ],
        "place": [
            (p.id, t)
            for p in data.suppliers
            if p.needs_order_binary
            for t in _order_days(p, horizon)
        ],
        "serve": [(s, k, w, c, t) for (s, k, c, t) in data.demand for w in data.eligible[c]],
    }


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
    index = decision_index(data)
    ship_index, use_index = index["ship"], index["use"]
    order_index, place_index = index["order"], index["place"]
    serve_index = index["serve"]
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
    # (19) a substitute j serves part of k's demand from its own stock
    substitute_index = [
        (s, k, j, w, c, t)
        for (s, k, c, t) in data.demand
        for (k2, j, _share) in data.substitutes
        if k2 == k
        for w in data.eligible[c]
    ]
    m.substitute = pyo.Var(substitute_index, domain=pyo.NonNegativeReals)
    # (20) live demand taken on presale, fulfilled from the next inbound batch at w
    batches = next_batch_days(data)
    switch_skus = set(data.switch_skus)
    presale_day: dict[tuple[str, str, str, str, int], int] = {}
    if data.switch_ship_days is not None:
        for s, k, c, t in data.demand:
            if k not in switch_skus or c not in data.live_channels:
                continue
            for w in data.warehouses:
                a = next_batch_day(batches, k, w, t, horizon)
                days = data.delivery_days.get((c, w))
                if a is not None and days is not None and a + days - t <= data.switch_ship_days:
                    presale_day[s, k, w, c, t] = a
    m.presold = pyo.Var(list(presale_day), domain=pyo.NonNegativeReals)

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
    # demand of (s, k, c, t) met other than by serve: late (elastic), substitute, presale
    met_otherwise: dict[tuple[str, str, str, int], list] = defaultdict(list)
    for s, k, w, c, t in late_index:
        served[s, k, w, t].append(m.serve_late[s, k, w, c, t])
        met_otherwise[s, k, c, t].append(m.serve_late[s, k, w, c, t])
    for s, k, j, w, c, t in substitute_index:  # the substitute's stock serves k's demand
        served[s, j, w, t].append(m.substitute[s, k, j, w, c, t])
        met_otherwise[s, k, c, t].append(m.substitute[s, k, j, w, c, t])
    for (s, k, w, c, t), a in presale_day.items():  # taken on day t, leaves w on day a
        served[s, k, w, a].append(m.presold[s, k, w, c, t])
        met_otherwise[s, k, c, t].append(m.presold[s, k, w, c, t])

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
            + sum(met_otherwise[s, k, c, t])
            + m.lost[s, k, c, t]
            == data.demand[s, k, c, t]
        )

    m.demand_met_or_lost = pyo.Constraint(list(data.demand), rule=demand_met_or_lost)

    # orders flown along a lane, by scenario, lane and ship day, for (21)
    carried: dict[tuple[str, str, int], list] = defaultdict(list)  # (s, l, t)
    for s, k, w, c, t in serve_index:
        if (c, w) in data.order_lane:
            carried[s, data.order_lane[c, w], t].append(m.serve[s, k, w, c, t])
    for s, k, j, w, c, t in substitute_index:
        if (c, w) in data.order_lane:
            carried[s, data.order_lane[c, w], t].append(m.substitute[s, k, j, w, c, t])
    for s, k, w, c, t in late_index:  # elastic: served late, still along the lane
        if (c, w) in data.order_lane:
            carried[s, data.order_lane[c, w], t].append(m.serve_late[s, k, w, c, t])
    for (s, k, w, c, t), a in presale_day.items():  # leaves w on the batch's day a
        if (c, w) in data.order_lane:
            carried[s, data.order_lane[c, w], a].append(m.presold[s, k, w, c, t])

    # (4) lane_capacity
    shipped: dict[tuple[str, int], list] = defaultdict(list)
    for k, key, t in ship_index:
        shipped[key, t].append(m.ship[k, key, t])
    capacity_index = [
        (key, t)
        for (key, t) in shipped
        if lanes[key].fixed_cost > 0 or lanes[key].capacity is not None
    ]

    # elastic: a slack per lane and day with a capacity, days that only fly orders (21) too
    over_lane_index = sorted(
        {i for i in capacity_index if lanes[i[0]].capacity is not None}
        | {(key, t) for (_s, key, t) in carried if lanes[key].capacity is not None}
    )
    over_lane_index = over_lane_index if elastic else []
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

    # (21) lane_carries_orders: orders flown along a lane share its capacity and booking fee
    def lane_carries_orders(m: pyo.ConcreteModel, s: str, key: str, t: int) -> object:
        load = sum(shipped.get((key, t), [])) + sum(carried[s, key, t])
        over = m.over_lane_capacity[key, t] if (key, t) in over_lane_set else 0
        if lanes[key].fixed_cost > 0:
            return load <= lane_day_bound(key, t) * m.use[key, t] + over
        return load <= lanes[key].capacity + over

    m.lane_carries_orders = pyo.Constraint(
        [
            (s, key, t)
            for (s, key, t) in carried
            if lanes[key].fixed_cost > 0 or lanes[key].capacity is not None
        ],
        rule=lane_carries_orders,
    )
    # (21b) an order flies only on a day the lane is booked: serve_skwct <= D_skct use_lt, the
    # per-order analogue of (4b), far tighter in the LP relaxation than M_lt in (21)
    m.order_needs_booking = pyo.Constraint(
        [
            (s, k, w, c, t)
            for (s, k, w, c, t) in serve_index
            if (c, w) in data.order_lane and lanes[data.order_lane[c, w]].fixed_cost > 0
        ],
        rule=lambda m, s, k, w, c, t: (
            m.serve[s, k, w, c, t] <= data.demand[s, k, c, t] * m.use[data.order_lane[c, w], t]
        ),
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
        expr=sum(lanes[key].fee(t) * m.use[key, t] for key, t in use_index)
        + sum(lanes[key].unit_cost * m.ship[k, key, t] for k, key, t in ship_index)
        + sum(suppliers[pid].order_fixed_cost * m.place[pid, t] for pid, t in place_index)
        + sum(suppliers[pid].unit_cost[k] * m.order[pid, k, w, t] for pid, k, w, t in order_index)
    )

    serve_of: dict[str, list] = defaultdict(list)
    for s, k, w, c, t in serve_index:
        serve_of[s].append(data.fulfilment_cost[c, w] * m.serve[s, k, w, c, t])
    for s, k, j, w, c, t in substitute_index:
        serve_of[s].append(data.fulfilment_cost[c, w] * m.substitute[s, k, j, w, c, t])
    for s, k, w, c, t in presale_day:
        unit = data.fulfilment_cost[c, w] + data.presale_discount.get(k, 0.0)
        serve_of[s].append(unit * m.presold[s, k, w, c, t])
    lost_of: dict[str, list] = defaultdict(list)
    for s, k, c, t in data.demand:
        penalty = data.lost_sale_penalty[k] + data.lost_sale_premium.get((k, c), 0.0)
        lost_of[s].append(penalty * m.lost[s, k, c, t])

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

    _add_event_rules(
        m, data, ship_index, arrivals, departures, serve_index, substitute_index, elastic
    )

    max_lateness = max(
        (d - data.promise_days[c] for (c, _w), d in data.delivery_days.items()), default=0
    )
    max_lateness = max(0, max_lateness)  # every warehouse may meet every promise
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
        + sum(m.short_of_emergency_buffer.values())
        + sum(m.over_presale_lock_share.values())
        + sum(m.over_live_pool.values())
        + sum(m.over_transfer_cost_cap.values())
        + sum(m.over_locked_capacity.values())
        # an unserved unit must cost more than serving it late, however late, and more than
        # breaking another rule by a unit (which is then what the diagnosis names)
        + ((2 + max_lateness) * sum(m.lost.values()) if elastic and data.serve_all_demand else 0)
    )
    m.expected_cost = pyo.Objective(
        expr=m.first_stage_cost
        + sum(data.probability[s] * m.second_stage_cost[s] for s in data.scenarios)
        + (weight * m.rule_violation if elastic else 0),
        sense=pyo.minimize,
    )
    return m


def _add_event_rules(
    m: pyo.ConcreteModel,
    data: NetworkData,
    ship_index: list[tuple[str, str, int]],
    arrivals: dict[tuple[str, str, int], list],
    departures: dict[tuple[str, str, int], list],
    serve_index: list[tuple[str, str, str, str, int]],
    substitute_index: list[tuple[str, str, str, str, str, int]],
    elastic: bool,
) -> None:
    """Rules (13)-(19) of a promotion (empty without an event in the request); in the
    elastic twin each gets a named slack (short_of_emergency_buffer, over_presale_lock_share,
    over_live_pool, over_transfer_cost_cap, over_locked_capacity)."""

    def slack(name: str, index: list) -> dict:
        """A named non-negative slack per row in the elastic twin; none otherwise."""
        var = pyo.Var(index if elastic else [], domain=pyo.NonNegativeReals)
        m.add_component(name, var)
        return {i: var[i] for i in index} if elastic else {}

    lanes = {lane.key: lane for lane in data.lanes}
    presale = set(data.presale_channels)
    live = set(data.live_channels)

    # N_kw: units of k at w over the horizon (first stage)
    flows: dict[tuple[str, str], list] = defaultdict(list)
    for (k, w, _t), vs in arrivals.items():
        flows[k, w].extend(vs)
    for (k, w, _t), vs in departures.items():
        flows[k, w].extend(-v for v in vs)
    known: dict[tuple[str, str], float] = defaultdict(float)
    for (k, w), q in data.initial_stock.items():
        known[k, w] += q
    for (k, w, _t), q in data.inbound.items():
        known[k, w] += q

    def net_supply(k: str, w: str) -> object:
        return known.get((k, w), 0.0) + sum(flows.get((k, w), []))

    # sales of (s, k, w) by kind of channel, counting a substitute's sales as its own
    sales: dict[tuple[str, str, str, str], list] = defaultdict(list)  # (kind, s, k, w)

    def kind(c: str) -> str:
        return "presale" if c in presale else "live" if c in live else "other"

    for s, k, w, c, t in serve_index:
        sales[kind(c), s, k, w].append(m.serve[s, k, w, c, t])
    for s, k, j, w, c, t in substitute_index:
        sales[kind(c), s, j, w].append(m.substitute[s, k, j, w, c, t])
    for s, k, w, c, t in m.presold:  # live orders switched to presale never take locked units
        sales["live", s, k, w].append(m.presold[s, k, w, c, t])

    # (13) emergency_buffer: a share of the stock known at w (on hand and arrived in transit)
    # is never sold or moved: stock_skwt >= beta * K_kwt
    beta = data.emergency_buffer_share
    running: dict[tuple[str, str, int], float] = {}
    if beta > 0:
        for k in data.skus:
            for w in data.warehouses:
                total = data.initial_stock.get((k, w), 0.0)
                for t in data.days:
                    total += data.inbound.get((k, w, t), 0.0)
                    if total > 0:
                        running[k, w, t] = total
    buffer_rows = [(s, k, w, t) for s in data.scenarios for (k, w, t) in running]
    # elastic: one slack per (s, k, w), the most the buffer is cut by on any day
    short_buffer = slack("short_of_emergency_buffer", sorted({r[:3] for r in buffer_rows}))
    m.emergency_buffer = pyo.Constraint(
        buffer_rows,
        rule=lambda m, s, k, w, t: (
            m.stock[s, k, w, t] + short_buffer.get((s, k, w), 0) >= beta * running[k, w, t]
        ),
    )

    # (14) presale locks: L_kw <= lambda N_kw; presale channels sell only locked units and
    # other channels never sell them
    presale_wh = {w for c in presale for w in data.eligible.get(c, ())}
    lock_index = [(k, w) for k in data.lock_skus for w in data.warehouses if w in presale_wh]
    m.lock = pyo.Var(lock_index, domain=pyo.NonNegativeReals)
    over_lock = slack("over_presale_lock_share", lock_index)
    m.presale_lock_share = pyo.Constraint(
        lock_index,
        rule=lambda m, k, w: (
            m.lock[k, w] <= data.max_lock_share * net_supply(k, w) + over_lock.get((k, w), 0)
        ),
    )
    locked = set(lock_index)
    lockable = set(data.lock_skus)  # without presale rules presale channels sell freely
    m.presale_sold_from_lock = pyo.Constraint(
        [(s, k, w) for (kind_, s, k, w) in sales if kind_ == "presale" and k in lockable],
        rule=lambda m, s, k, w: (
            sum(sales["presale", s, k, w]) <= (m.lock[k, w] if (k, w) in locked else 0)
        ),
    )
    unlocked_rows = sorted(
        {(s, k, w) for (kind_, s, k, w) in sales if kind_ != "presale" and (k, w) in locked}
    )
    m.locked_stock_kept = pyo.Constraint(
        unlocked_rows,
        rule=lambda m, s, k, w: (
            sum(sales["live", s, k, w]) + sum(sales["other", s, k, w])
            <= net_supply(k, w) - m.lock[k, w]
        ),
    )

    # (15) live_pool_reserved: other channels sell at most (1 - sigma) of the unlocked stock
    sigma = data.live_pool_share
    pool_rows = sorted({(s, k, w) for (kind_, s, k, w) in sales if kind_ == "other"})
    pool_rows = pool_rows if sigma is not None and live else []
    over_pool = slack("over_live_pool", pool_rows)
    m.live_pool_reserved = pyo.Constraint(
        pool_rows,
        rule=lambda m, s, k, w: (
            sum(sales["other", s, k, w])
            <= (1 - sigma) * (net_supply(k, w) - (m.lock[k, w] if (k, w) in locked else 0))  # type: ignore[operator]
            + over_pool.get((s, k, w), 0)
        ),
    )

    # (16) transfer_cost_cap: transfers cost at most kappa x the expected gross margin
    kappa = data.transfer_cost_cap_share
    transfer_cost = sum(lanes[key].fee(t) * m.use[key, t] for key, t in m.use) + sum(
        lanes[key].unit_cost * m.ship[k, key, t] for k, key, t in ship_index
    )
    margin = (
        sum(
            data.probability[s] * data.gross_margin.get(k, 0.0) * m.serve[s, k, w, c, t]
            for s, k, w, c, t in serve_index
        )
        + sum(
            data.probability[s] * data.gross_margin.get(j, 0.0) * m.substitute[s, k, j, w, c, t]
            for s, k, j, w, c, t in substitute_index
        )
        + sum(
            data.probability[s]
            * max(0.0, data.gross_margin.get(k, 0.0) - data.presale_discount.get(k, 0.0))
            * m.presold[s, k, w, c, t]
            for s, k, w, c, t in m.presold
        )
    )
    cap_rows = [0] if kappa is not None and (ship_index or len(m.use) > 0) else []
    over_cap = slack("over_transfer_cost_cap", cap_rows)
    m.transfer_cost_cap = pyo.Constraint(
        cap_rows,
        rule=lambda m, i: transfer_cost <= kappa * margin + over_cap.get(i, 0),  # type: ignore[operator]
    )

    # (17) response_tier_transfers: a SKU moves only on lanes its tier may pay for
    m.response_tier_transfers = pyo.Constraint(
        [
            (k, key, t)
            for k, key, t in ship_index
            if k in data.transfer_cost_limit
            and (
                data.transfer_cost_limit[k] <= 0
                or lanes[key].unit_cost > data.transfer_cost_limit[k] + 1e-9
            )
        ],
        rule=lambda m, k, key, t: m.ship[k, key, t] <= 0,
    )

    # (18) supplier_capacity_lock: on event days an order uses only the locked share of the
    # supplier's capacity plus its emergency share
    usable = data.capacity_lock_share + data.emergency_capacity_share
    ordered: dict[tuple[str, int], list] = defaultdict(list)
    for pid, k, w, t in m.order:
        ordered[pid, t].append(m.order[pid, k, w, t])
    capacity = {p.id: p.capacity_per_day for p in data.suppliers}
    event_days = set(data.event_days)
    locked_rows = [
        (pid, t)
        for (pid, t) in ordered
        if usable < 1 and t in event_days and capacity[pid] is not None
    ]
    over_locked = slack("over_locked_capacity", locked_rows)
    m.supplier_capacity_lock = pyo.Constraint(
        locked_rows,
        rule=lambda m, pid, t: (
            sum(ordered[pid, t]) <= usable * capacity[pid] + over_locked.get((pid, t), 0)  # type: ignore[operator]
        ),
    )

    # (19) substitute_share: a substitute takes at most its share of k's demand
    by_pair: dict[tuple[str, str, str, str, int], list] = defaultdict(list)
    for s, k, j, w, c, t in substitute_index:
        by_pair[s, k, j, c, t].append(m.substitute[s, k, j, w, c, t])
    share = {(k, j): q for k, j, q in data.substitutes}
    m.substitute_share = pyo.Constraint(
        list(by_pair),
        rule=lambda m, s, k, j, c, t: (
            sum(by_pair[s, k, j, c, t]) <= share[k, j] * data.demand[s, k, c, t]
        ),
    )
