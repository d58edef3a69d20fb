"""The plan request: what a planner sends in, as JSON.

Field-level rules (types, non-negative, finite, enum values) live on the pydantic models;
rules that tie fields together (ids unique, references known, probabilities summing to one,
days inside the horizon) live in :func:`planner.validation.validate_request`, which reports
every problem with the JSON path of the offending field.

Units: quantities are units of a SKU, money is in the request's currency, time is whole days
counted from day 0 (the first day of the plan) to ``horizon_days - 1``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)

Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
SignedMoney = Annotated[float, Field(allow_inf_nan=False)]
Quantity = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Day = Annotated[int, Field(ge=0)]
Id = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    """Unknown fields are rejected: a typo in a field name must not silently drop a rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WarehouseKind(StrEnum):
    home = "home"
    overseas = "overseas"
    bonded = "bonded"
    marketplace = "marketplace"
    third_party = "3pl"


class ChannelKind(StrEnum):
    live = "live"
    marketplace = "marketplace"
    own_site = "own_site"
    everyday = "everyday"
    wholesale = "wholesale"
    presale = "presale"


class Tier(StrEnum):
    A = "A"
    B = "B"
    C = "C"


class Warehouse(_Strict):
    id: Id
    country: str = ""
    kind: WarehouseKind = WarehouseKind.overseas
    capacity: Quantity | None = Field(
        default=None,
        description="Units the warehouse can hold at the end of any day; none = unlimited.",
    )
    holding_cost: Money = Field(default=0.0, description="Cost per unit held per day.")


class CapacityWindow(_Strict):
    start_day: Day
    end_day: Day = Field(description="Inclusive.")
    capacity: Quantity = Field(description="Units the supplier can ship in the whole window.")


class Supplier(_Strict):
    """A factory or vendor that replenishment orders go to."""

    id: Id
    country: str = ""
    deliver_to: list[Id] = Field(min_length=1, description="Warehouses it can deliver to.")
    skus: list[Id] | None = Field(default=None, description="SKUs it makes; none = all SKUs.")
    lead_days: Day = Field(
        default=0, description="An order placed on day t arrives on t + lead_days."
    )
    unit_costs: dict[Id, Money] = Field(
        default_factory=dict,
        description="Per-SKU purchase cost; a SKU not listed costs its unit_cost.",
    )
    capacity_per_day: Quantity | None = Field(
        default=None, description="Units per order day; none = unlimited."
    )
    capacity_windows: list[CapacityWindow] = Field(default_factory=list)
    min_order: Quantity = Field(
        default=0.0, description="Minimum units in one order (per supplier and day)."
    )
    order_fixed_cost: Money = Field(default=0.0, description="Cost of placing an order on a day.")


class Sku(_Strict):
    id: Id
    name: str = ""
    unit_cost: Money = 0.0
    price: Money = 0.0
    tier: Tier | None = None
    presale_eligible: bool = False
    conversion_rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Derives the tier when none is given: > 8% A, 3-8% B, < 3% C.",
    )
    hot_signal: bool = Field(
        default=False, description="A demand signal is hot: safety stock uses hot_signal_days."
    )
    lost_sale_penalty: Money | None = Field(
        default=None,
        description="Cost of one unit of demand not served. Default: the policy's, else the price.",
    )
    salvage_value: SignedMoney | None = Field(
        default=None,
        description="Value of one unit left at the end of the horizon (negative = disposal cost). "
        "Default: policy.salvage_fraction * unit_cost.",
    )


class StockRow(_Strict):
    sku: Id
    warehouse: Id
    quantity: Quantity


class InTransitRow(_Strict):
    sku: Id
    warehouse: Id = Field(description="Destination warehouse.")
    quantity: Quantity
    arrival_day: Day


class LaneMode(StrEnum):
    air = "air"
    sea = "sea"
    truck = "truck"
    rail = "rail"
    express = "express"
    other = "other"


class Lane(_Strict):
    """A transfer route between two warehouses with one transport mode."""

    id: Id | None = Field(default=None, description="Default: '<from>-<to>-<mode>'.")
    from_: Id = Field(alias="from")
    to: Id
    mode: LaneMode = LaneMode.truck
    lead_days: Day = 0
    unit_cost: Money = 0.0
    fixed_cost: Money = Field(
        default=0.0, description="Paid once for each day the lane ships anything."
    )
    capacity: Quantity | None = Field(
        default=None, description="Units per shipping day; none = unlimited."
    )
    booked_days: tuple[Day, ...] = Field(
        default=(),
        max_length=366,
        description="Days already booked and paid for (e.g. today's flight during a live "
        "replan): the fixed cost is sunk and not charged again on those days.",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_serializer(mode="wrap")
    def _without_empty_bookings(self, handler: SerializerFunctionWrapHandler) -> Any:
        """No ``booked_days`` key when nothing is booked: a lane dumps (and fingerprints) as
        it did before the field existed."""
        out = handler(self)
        if isinstance(out, dict) and not self.booked_days:
            out.pop("booked_days", None)
        return out

    @property
    def key(self) -> str:
        return self.id or f"{self.from_}-{self.to}-{self.mode.value}"

    def fee_on(self, day: int) -> float:
        """The fixed cost of shipping on ``day``: none on a day already booked."""
        return 0.0 if day in self.booked_days else self.fixed_cost


class Fulfilment(_Strict):
    warehouse: Id
    delivery_days: Day = Field(description="Days from this warehouse to the channel's customer.")
    delivery_days_max: Day | None = Field(
        default=None,
        description="Slowest delivery, for the storefront's window (e.g. 5-7 days); "
        "none = delivery_days. The promise is checked against delivery_days.",
    )
    unit_cost: Money = Field(
        default=0.0,
        description="Pick, pack and last-mile cost per unit (with a lane: the whole trip).",
    )
    lane: Id | None = Field(
        default=None,
        description="Orders travel this lane from the warehouse (e.g. Malaysia -> Indonesia by "
        "air) straight to the customer: they share the lane's capacity and booking fee on the "
        "day they ship; delivery_days covers the whole trip, at least the lane's lead days.",
    )


class Channel(_Strict):
    id: Id
    kind: ChannelKind = ChannelKind.marketplace
    promise_days: Day = Field(
        description="Delivery promise; only warehouses that meet it may serve."
    )
    fulfilment: list[Fulfilment] = Field(min_length=1)


class DemandRow(_Strict):
    sku: Id
    channel: Id
    day: Day = 0
    end_day: Day | None = Field(
        default=None, description="If set, quantity is spread evenly over day..end_day (inclusive)."
    )
    quantity: Quantity


class Scenario(_Strict):
    name: Id
    probability: float = Field(gt=0, le=1, allow_inf_nan=False)
    demand: list[DemandRow]


class TierLevel(_Strict):
    """One named forecast tier, e.g. conservative 120,000 units with probability 0.5."""

    name: Id
    probability: float = Field(gt=0, le=1, allow_inf_nan=False)
    quantity: Quantity


class Share(_Strict):
    sku: Id
    channel: Id
    share: float = Field(gt=0, le=1, allow_inf_nan=False)


class CampaignTiers(_Strict):
    """A campaign total per tier, split over SKU x channel by shares (summing to 1)."""

    tiers: list[TierLevel] = Field(min_length=1)
    shares: list[Share] = Field(min_length=1)
    day: Day = 0
    end_day: Day | None = None


class SkuTiers(_Strict):
    """Tiers for one SKU x channel; tiers with the same name across rows form one scenario."""

    sku: Id
    channel: Id
    tiers: list[TierLevel] = Field(min_length=1)
    day: Day = 0
    end_day: Day | None = None


class DistributionKind(StrEnum):
    normal = "normal"
    poisson = "poisson"
    empirical = "empirical"


class DemandDistribution(_Strict):
    """Total demand of one SKU x channel over day..end_day (spread evenly over the days)."""

    sku: Id
    channel: Id
    kind: DistributionKind
    mean: Quantity | None = Field(default=None, description="normal and poisson")
    std: Quantity | None = Field(default=None, description="normal only")
    sample: list[Quantity] | None = Field(default=None, description="empirical: past events")
    day: Day = 0
    end_day: Day | None = None


class DiscretisationMethod(StrEnum):
    quantiles = "quantiles"
    sampling = "sampling"


class Uncertainty(_Strict):
    """Demand uncertainty as planners state it; turned into scenarios before planning.

    Exactly one of campaign_tiers, sku_tiers, distributions. Tiers become one scenario per
    tier name. Distributions are discretised: `quantiles` puts scenario i at the
    (i + 0.5) / n quantile of every distribution at once (comonotone), probability 1/n;
    `sampling` draws independent samples with the seed, then reduces them to at most
    max_scenarios by clustering when there are more.
    """

    campaign_tiers: CampaignTiers | None = None
    sku_tiers: list[SkuTiers] | None = None
    distributions: list[DemandDistribution] | None = None
    method: DiscretisationMethod = DiscretisationMethod.quantiles
    scenarios: int = Field(default=5, ge=1, le=5000, description="scenarios (or samples) to draw")
    max_scenarios: int = Field(default=100, ge=1, le=5000, description="reduce beyond this many")
    seed: int = 0


class ServiceTarget(_Strict):
    """Service level of a tier, enforced across scenarios (expected values)."""

    fill_rate: float | None = Field(
        default=None, ge=0, le=1, allow_inf_nan=False, description="expected served / demand"
    )
    no_stockout_probability: float | None = Field(
        default=None,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="probability that the SKU loses no sale (chance constraint)",
    )


class SafetyStock(_Strict):
    """Days-of-cover floor on a warehouse's stock at the end of the plan."""

    warehouse: Id
    sku: Id | None = Field(default=None, description="none = every SKU")
    days: float = Field(ge=0, le=365, allow_inf_nan=False)
    hot_signal_days: float | None = Field(
        default=None,
        ge=0,
        le=365,
        allow_inf_nan=False,
        description="days of cover when the SKU's signal is hot (e.g. 3 -> 5)",
    )


class Substitute(_Strict):
    """When `sku` runs out, `substitute` may take up to `share` of its demand (same channel)."""

    sku: Id
    substitute: Id
    share: float = Field(gt=0, le=1, allow_inf_nan=False)


class Policy(_Strict):
    lost_sale_penalty: Money | None = Field(
        default=None,
        description="Per unit of unmet demand for SKUs without their own; default: price.",
    )
    salvage_fraction: float = Field(
        default=0.0,
        ge=-10,
        le=1,
        allow_inf_nan=False,
        description="Leftover value at the horizon's end as a share of unit_cost "
        "(negative = disposal cost).",
    )
    serve_all_demand: bool = Field(
        default=False, description="Hard rule: every unit of demand must be served (no lost sales)."
    )
    service_levels: dict[Tier, ServiceTarget] = Field(
        default_factory=dict, description="Targets per SKU tier A / B / C."
    )
    safety_stock: list[SafetyStock] = Field(default_factory=list)
    substitutes: list[Substitute] = Field(default_factory=list)


class EventTier(StrEnum):
    everyday = "everyday"
    themed = "themed"
    mega = "mega"


class PaymentStage(_Strict):
    """Share of presale reservations paid by `after_minutes` after the show (cumulative)."""

    after_minutes: float = Field(gt=0, allow_inf_nan=False)
    paid_share: float = Field(ge=0, le=1, allow_inf_nan=False)


class Reservation(_Strict):
    sku: Id
    units: Quantity = Field(description="Presale units reserved by orders not yet paid.")


def _default_payment_curve() -> list[PaymentStage]:
    # Assumed curve: SEEDS.md gives the stages (15 min, 1 h, 4 h) and about 15% never paying.
    return [
        PaymentStage(after_minutes=15, paid_share=0.60),
        PaymentStage(after_minutes=60, paid_share=0.75),
        PaymentStage(after_minutes=240, paid_share=0.85),
    ]


class Presale(_Strict):
    """Presale locks (stock reserved for presale channels) and the switch to presale."""

    max_lock_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Locks are a share of a warehouse's stock of the SKU, at most this one.",
    )
    switch_ship_days: int | None = Field(
        default=7,
        ge=1,
        description="When a presale-eligible SKU sells out in a live channel, orders are taken "
        "on presale from the next inbound batch if it reaches the customer within these days "
        "of the order; none = no switch.",
    )
    discount_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Presale price cut, as a share of the price (the cost of a presale unit).",
    )
    reservations: list[Reservation] = Field(
        default_factory=list, description="Unpaid reservations, for the release schedule."
    )
    payment_curve: list[PaymentStage] = Field(
        default_factory=_default_payment_curve,
        description="Release stages: a share of reservations paid by each time (cumulative).",
    )
    release_confidence: float = Field(
        default=0.9,
        gt=0,
        lt=1,
        allow_inf_nan=False,
        description="Keep locked the units still-unpaid orders pay for with this probability.",
    )


class Event(_Strict):
    """A promotion (live show, campaign): the rules a promotion team plans it by."""

    name: str = "event"
    start_day: Day = 0
    duration_days: int = Field(default=1, ge=1)
    tier: EventTier = EventTier.everyday
    live_channels: list[Id] | None = Field(
        default=None, description="Channels the event sells through; none = those of kind live."
    )
    emergency_buffer_share: float = Field(
        default=0.10,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="Share of a warehouse's stock never allocated (for traffic spikes).",
    )
    live_pool_share: float | None = Field(
        default=0.6,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Share of sellable stock reserved for the live channels; other channels "
        "share the rest. none = no pools.",
    )
    live_priority_share: float = Field(
        default=0.25,
        ge=0,
        allow_inf_nan=False,
        description="A lost live sale costs this share of the price more than another lost "
        "sale: marketplaces yield to the live channel.",
    )
    cover_days: float = Field(
        default=7,
        ge=0,
        le=365,
        allow_inf_nan=False,
        description="Everyday tier: days of cover kept at every warehouse that sells.",
    )
    capacity_lock_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Share of supplier capacity locked on event days; default by tier: "
        "themed 0.3, mega 0.5, everyday none.",
    )
    emergency_capacity_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Extra emergency share of supplier capacity; default mega 0.2, else 0.",
    )
    transfer_cost_cap_share: float | None = Field(
        default=0.2,
        ge=0,
        allow_inf_nan=False,
        description="Transfers may cost at most this share of the expected gross margin.",
    )
    transfer_cost_share: dict[Tier, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=lambda: {Tier.B: 0.15, Tier.C: 0.0},
        description="Response tiers: a SKU of a tier moves only on lanes whose unit cost is at "
        "most this share of its price; 0 = it never transfers; a tier not listed pays any lane. "
        "Default: A any, B 'medium' (15% of price), C never (existing stock only).",
    )
    presale: Presale | None = None

    @property
    def end_day(self) -> int:
        return self.start_day + self.duration_days - 1


class _PlanItem(BaseModel):
    """A line of an earlier plan; other keys a plan carries (costs, arrive_day...) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class PlannedTransfer(_PlanItem):
    sku: Id
    lane: Id
    ship_day: Day
    quantity: Annotated[int, Field(ge=0)]


class PlannedOrder(_PlanItem):
    supplier: Id
    sku: Id
    warehouse: Id
    order_day: Day
    quantity: Annotated[int, Field(ge=0)]


class PlannedAllocation(_PlanItem):
    sku: Id
    warehouse: Id
    channel: Id
    scenario: Id
    day: Day
    quantity: Quantity


class PreviousPlan(_PlanItem):
    """An earlier plan for (nearly) the same request: a MIP start, and the base of the diff."""

    transfers: list[PlannedTransfer] = Field(default_factory=list)
    orders: list[PlannedOrder] = Field(default_factory=list)
    allocations: list[PlannedAllocation] = Field(default_factory=list)


class PlanRequest(_Strict):
    name: str = "plan"
    currency: str = "USD"
    horizon_days: int = Field(ge=1, le=366)
    warehouses: list[Warehouse] = Field(min_length=1)
    suppliers: list[Supplier] = Field(default_factory=list)
    skus: list[Sku] = Field(min_length=1)
    stock: list[StockRow] = Field(default_factory=list)
    in_transit: list[InTransitRow] = Field(default_factory=list)
    lanes: list[Lane] = Field(default_factory=list)
    channels: list[Channel] = Field(min_length=1)
    scenarios: list[Scenario] = Field(
        default_factory=list, description="Explicit scenarios; or give `uncertainty` instead."
    )
    uncertainty: Uncertainty | None = None
    policy: Policy = Field(default_factory=Policy)
    event: Event | None = Field(
        default=None, description="A promotion: locks, pools and the seeds' event rules."
    )
    previous_plan: PreviousPlan | None = Field(
        default=None,
        description="A plan to start from (e.g. yesterday's); the new plan lists what changed.",
    )
    notes: str = ""
