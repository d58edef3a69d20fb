"""Typed, already-validated input of the network planning model.

The planner turns a request into this (defaults resolved, demand buckets spread over days,
promises turned into the set of eligible warehouses); model builders read nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LaneData:
    key: str
    origin: str
    destination: str
    mode: str
    lead_days: int
    unit_cost: float
    fixed_cost: float
    capacity: float | None
    booked_days: frozenset[int] = frozenset()  # fee already paid on these days

    def fee(self, t: int) -> float:
        """F_lt: the fixed cost of shipping on day t, none on a day already booked."""
        return 0.0 if t in self.booked_days else self.fixed_cost


@dataclass(frozen=True)
class SupplierData:
    id: str
    deliver_to: tuple[str, ...]
    skus: tuple[str, ...]
    lead_days: int
    unit_cost: dict[str, float]
    capacity_per_day: float | None
    capacity_windows: tuple[tuple[int, int, float], ...]
    min_order: float
    order_fixed_cost: float

    @property
    def needs_order_binary(self) -> bool:
        return self.min_order > 0 or self.order_fixed_cost > 0


@dataclass(frozen=True)
class NetworkData:
    """Sets and parameters; symbols as in :mod:`models.network_plan`."""

    horizon_days: int  # H
    skus: tuple[str, ...]  # K
    warehouses: tuple[str, ...]  # W
    channels: tuple[str, ...]  # C
    scenarios: tuple[str, ...]  # S
    lanes: tuple[LaneData, ...]  # L
    suppliers: tuple[SupplierData, ...]  # P
    probability: dict[str, float]  # pi_s
    initial_stock: dict[tuple[str, str], float]  # I0_kw
    inbound: dict[tuple[str, str, int], float]  # R_kwt, stock already in transit
    demand: dict[tuple[str, str, str, int], float]  # D_skct, only positive entries
    eligible: dict[str, tuple[str, ...]]  # E_c, warehouses meeting channel c's promise
    fulfilment_cost: dict[tuple[str, str], float]  # f_cw
    delivery_days: dict[tuple[str, str], int]  # days from warehouse w to channel c's customer
    promise_days: dict[str, int]  # channel c's delivery promise
    holding_cost: dict[str, float]  # h_w
    warehouse_capacity: dict[str, float | None]  # V_w
    lost_sale_penalty: dict[str, float]  # p_k
    salvage_value: dict[str, float]  # v_k
    serve_all_demand: bool
    fill_rate_target: dict[str, float] = field(default_factory=dict)  # phi_k, by SKU tier
    no_stockout_target: dict[str, float] = field(default_factory=dict)  # alpha_k, by SKU tier
    safety_floor: dict[tuple[str, str], float] = field(default_factory=dict)  # G_kw units
    sku_tier: dict[str, str] = field(default_factory=dict)  # A / B / C, for reporting
    channel_pool: dict[str, str] = field(default_factory=dict)  # channel -> pool name
    pool_limit: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (k, w, pool)
    # ---- promotion rules (an event in the request; SEEDS.md sections 1 and 5) ----
    emergency_buffer_share: float = 0.0  # beta, (13)
    presale_channels: tuple[str, ...] = ()  # served from presale locks only, (14)
    lock_skus: tuple[str, ...] = ()  # SKUs that may be locked for presale
    max_lock_share: float = 0.0  # lambda, (14)
    live_channels: tuple[str, ...] = ()
    live_pool_share: float | None = None  # sigma, (15)
    lost_sale_premium: dict[tuple[str, str], float] = field(default_factory=dict)  # (k, c)
    transfer_cost_cap_share: float | None = None  # kappa, (16)
    gross_margin: dict[str, float] = field(default_factory=dict)  # price - unit cost
    # (17) k -> most a unit of k may pay on a lane; 0 = never transferred; absent = any lane
    transfer_cost_limit: dict[str, float] = field(default_factory=dict)
    event_days: tuple[int, ...] = ()  # days of the event
    capacity_lock_share: float = 1.0  # (18) locked share of supplier capacity on event days
    emergency_capacity_share: float = 0.0  # (18) extra emergency share
    substitutes: tuple[tuple[str, str, float], ...] = ()  # (19) (sku, substitute, share)
    switch_skus: tuple[str, ...] = ()  # (20) may switch to presale from the next batch
    switch_ship_days: int | None = None  # (20) presale orders reach the customer within these
    presale_discount: dict[str, float] = field(default_factory=dict)  # (20) per presale unit
    # (21) (c, w) -> lane: orders of c served from w travel this lane to the customer
    order_lane: dict[tuple[str, str], str] = field(default_factory=dict)

    def order_lane_keys(self) -> set[str]:
        """Lanes that carry orders (21)."""
        return set(self.order_lane.values())

    @property
    def days(self) -> range:
        return range(self.horizon_days)
