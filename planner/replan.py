"""Live replan: an earlier plan, re-based on what happened since, solved warm from it.

During a live show the planner knows more than the plan did: units sold so far, stock on hand
now, the live sales rate. :func:`apply_state` turns the plan's request and that *live state*
into the request for the rest of the horizon, with the earlier plan as ``previous_plan`` (the
MIP start, and the base of ``changes``); :func:`replan` solves it through the one pipeline.

Days. ``as_of_day`` (D) and every day in the state count in the horizon of the plan being
replanned. The new request starts on D: its horizon is ``horizon_days - D`` and its day d is
day d + D of the old one. Concretely:

- demand before D is dropped; rows spanning days are cut at D (spread evenly, as the pipeline
  reads them). On D itself, per SKU x channel: without a sales rate, each scenario's demand is
  reduced by the units sold (never below 0); with one, the rest of the day's demand is
  ``units_per_hour x hours_left`` scaled by the scenario's demand over the expected demand of
  the pair that day (the scenarios keep their spread around the observed rate). Later days
  keep the forecast.
- ``stock`` is the stock on hand now, after today's sales and not counting what arrives
  today; when given it replaces the whole stock table (a pair not listed has none). It may be
  omitted only at D = 0 (the request's stock is then used).
- in transit (unless the state lists it): the request's in-transit rows arriving on or after
  D, plus the plan's transfers and orders shipped before D that arrive on or after D.
- lane bookings: a lane's ``booked_days`` are re-based, and the lanes booked for D (the
  state's ``lanes_booked_today``, else for D > 0 the lanes the plan ships on or flies orders
  along on D, bookings being made ahead of the flight) are booked on the new day 0 as well:
  their fee is paid and not charged again;
- the plan's transfers, orders and allocations on or after D become ``previous_plan``;
  supplier capacity windows are cut at D, less what the plan ordered in them before D.

Every other field of the request is kept as it is (the request is copied, not rebuilt).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.pipeline import run
from planner.schema import (
    DemandRow,
    Event,
    Id,
    InTransitRow,
    Lane,
    PlanRequest,
    PreviousPlan,
    Quantity,
    StockRow,
    Supplier,
)
from planner.uncertainty import expand_scenarios
from planner.validation import field_errors
from planner.validation_types import FieldError, RequestError
from solvers import SolveOptions

STATE = "live state"
PLAN = "plan"
TOLERANCE = 1e-9


class _State(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SoldRow(_State):
    sku: Id
    channel: Id
    units: Quantity = Field(description="Units sold so far on as_of_day (already served).")


class SalesRate(_State):
    sku: Id
    channel: Id
    units_per_hour: Quantity = Field(description="Live sales rate observed now.")


class LiveState(_State):
    """What is known now, during the plan's horizon; days count in that plan's horizon."""

    as_of_day: Annotated[int, Field(ge=0)] = Field(
        default=0, description="The day of the plan's horizon this state describes."
    )
    hours_left: float = Field(
        default=0.0,
        ge=0,
        le=24,
        allow_inf_nan=False,
        description="Hours of live selling left on as_of_day (used with sales_rate).",
    )
    sold: list[SoldRow] = Field(
        default_factory=list,
        description="Units sold so far on as_of_day per SKU x channel; already gone from stock.",
    )
    stock: list[StockRow] | None = Field(
        default=None,
        description="Stock on hand now, not counting today's arrivals; replaces the whole "
        "stock table. Required when as_of_day > 0.",
    )
    in_transit: list[InTransitRow] | None = Field(
        default=None,
        description="Stock arriving on or after as_of_day (arrival_day in the plan's days). "
        "Default: the request's, plus the plan's transfers and orders already shipped.",
    )
    sales_rate: list[SalesRate] = Field(
        default_factory=list,
        description="Live sales rate per SKU x channel: the rest of as_of_day's demand is "
        "units_per_hour x hours_left.",
    )
    lanes_booked_today: list[Id] | None = Field(
        default=None,
        description="Lanes already booked for as_of_day: their fixed cost is paid and not "
        "charged again today (added to the request's own booked_days). Default: none on day "
        "0; after day 0, the lanes the plan uses on as_of_day (booked ahead of the flight).",
    )


class LiveStateFile(LiveState):
    """The state as the command line reads it: it may name its base request."""

    request: str | None = Field(
        default=None, description="Path of the plan's request, relative to the state file."
    )


# ---- validation -------------------------------------------------------------------------------


def validate_state(
    raw: Any,
    request: PlanRequest,
    plan: dict[str, Any] | None = None,
    model: type[LiveState] = LiveState,
) -> LiveState:
    """Check a live state against the request it replans (and the plan, when given, whose
    orders arriving by as_of_day count as inbound). Raises RequestError naming each field."""
    if not isinstance(raw, dict):
        raise RequestError([FieldError("$", "a live state must be a JSON object")], STATE)
    try:
        state = model.model_validate(raw)
    except ValidationError as exc:
        raise RequestError(field_errors(exc), STATE) from None
    problems = list(_state_problems(state, request, plan))
    if problems:
        raise RequestError(problems, STATE)
    return state


def _state_problems(
    state: LiveState, request: PlanRequest, plan: dict[str, Any] | None
) -> Iterable[FieldError]:
    skus = {s.id for s in request.skus}
    channels = {c.id for c in request.channels}
    warehouses = {w.id for w in request.warehouses}
    horizon, day = request.horizon_days, state.as_of_day

    def unknown(kind: str, known: set[str], ident: str, path: str) -> Iterable[FieldError]:
        if ident not in known:
            yield FieldError(path, f"unknown {kind} {ident!r}")

    def duplicates(keys: list[tuple[str, str]], path: str) -> Iterable[FieldError]:
        seen: dict[tuple[str, str], int] = {}
        for i, key in enumerate(keys):
            if key in seen:
                yield FieldError(f"{path}[{i}]", f"duplicate {key} (first at index {seen[key]})")
            seen.setdefault(key, i)

    if day >= horizon:
        yield FieldError(
            "$.as_of_day", f"day {day} is outside the plan's horizon (days 0..{horizon - 1})"
        )
    if state.stock is None and day > 0:
        yield FieldError("$.stock", "required when as_of_day > 0: the stock on hand now")
    for name, rows in (("sold", state.sold), ("sales_rate", state.sales_rate)):
        for i, row in enumerate(rows):
            yield from unknown("sku", skus, row.sku, f"$.{name}[{i}].sku")
            yield from unknown("channel", channels, row.channel, f"$.{name}[{i}].channel")
        yield from duplicates([(r.sku, r.channel) for r in rows], f"$.{name}")
    for name, stock_rows in (("stock", state.stock or []), ("in_transit", state.in_transit or [])):
        for i, item in enumerate(stock_rows):
            yield from unknown("sku", skus, item.sku, f"$.{name}[{i}].sku")
            yield from unknown("warehouse", warehouses, item.warehouse, f"$.{name}[{i}].warehouse")
    yield from duplicates([(r.sku, r.warehouse) for r in state.stock or []], "$.stock")
    lanes = {lane.key for lane in request.lanes}
    booked: set[str] = set()
    for i, key in enumerate(state.lanes_booked_today or []):
        yield from unknown("lane", lanes, key, f"$.lanes_booked_today[{i}]")
        if key in booked:
            yield FieldError(f"$.lanes_booked_today[{i}]", f"lane {key!r} is listed twice")
        booked.add(key)
    for i, arriving in enumerate(state.in_transit or []):
        if not day <= arriving.arrival_day < horizon:
            yield FieldError(
                f"$.in_transit[{i}].arrival_day",
                f"day {arriving.arrival_day} is not in days {day}..{horizon - 1} "
                "(as_of_day to the end of the plan's horizon)",
            )
    yield from _oversold(state, request, plan, skus)


def _oversold(
    state: LiveState, request: PlanRequest, plan: dict[str, Any] | None, skus: set[str]
) -> Iterable[FieldError]:
    """Units sold of a SKU (over all channels) cannot exceed what the network had: its stock
    plus what arrived by as_of_day (in transit, and the plan's orders)."""
    day = state.as_of_day
    stock: dict[str, float] = defaultdict(float)
    inbound: dict[str, float] = defaultdict(float)
    for row in request.stock:
        stock[row.sku] += row.quantity
    for arriving in request.in_transit:
        if arriving.arrival_day <= day:
            inbound[arriving.sku] += arriving.quantity
    lead = {p.id: p.lead_days for p in request.suppliers}
    try:
        orders = _commitments(plan).orders if plan is not None else []
    except ValidationError:  # validate_plan names what is wrong with the plan
        orders = []
    for o in orders:
        if o.supplier in lead and o.order_day + lead[o.supplier] <= day:
            inbound[o.sku] += o.quantity
    sold: dict[str, float] = defaultdict(float)
    named: set[str] = set()
    for i, row in enumerate(state.sold):
        if row.sku not in skus or row.sku in named:
            continue
        sold[row.sku] += row.units
        supply = stock[row.sku] + inbound[row.sku]
        if sold[row.sku] > supply + TOLERANCE:
            yield FieldError(
                f"$.sold[{i}].units",
                f"{sold[row.sku]:g} units of {row.sku!r} sold on day {day} (over all channels) "
                f"exceed its stock plus inbound by that day in the request: "
                f"{stock[row.sku]:g} + {inbound[row.sku]:g} = {supply:g}",
            )
            named.add(row.sku)  # name the first offending row only


def _commitments(plan: dict[str, Any]) -> PreviousPlan:
    """A plan's transfers, orders and allocations (its other keys are ignored)."""
    return PreviousPlan.model_validate(
        {k: plan.get(k) or [] for k in ("transfers", "orders", "allocations")}
    )


def validate_plan(raw: Any, request: PlanRequest) -> PreviousPlan:
    """The plan's commitments (transfers, orders, allocations), checked against its request."""
    if not isinstance(raw, dict):
        raise RequestError([FieldError("$", "a plan must be a JSON object")], PLAN)
    try:
        commitments = _commitments(raw)
    except ValidationError as exc:
        raise RequestError(field_errors(exc), PLAN) from None
    problems: list[FieldError] = []
    made_for = raw.get("request")
    horizon = made_for.get("horizon_days") if isinstance(made_for, dict) else None
    if isinstance(horizon, int) and horizon != request.horizon_days:
        problems.append(
            FieldError(
                "$.request.horizon_days",
                f"the plan covers {horizon} days, its request {request.horizon_days}: "
                "not the plan of this request",
            )
        )
    lanes = {lane.key for lane in request.lanes}
    suppliers = {p.id for p in request.suppliers}
    skus = {s.id for s in request.skus}
    warehouses = {w.id for w in request.warehouses}
    for i, x in enumerate(commitments.transfers):
        if x.lane not in lanes:
            problems.append(FieldError(f"$.transfers[{i}].lane", f"unknown lane {x.lane!r}"))
        if x.sku not in skus:
            problems.append(FieldError(f"$.transfers[{i}].sku", f"unknown sku {x.sku!r}"))
    for i, o in enumerate(commitments.orders):
        for field, known, value in (
            ("supplier", suppliers, o.supplier),
            ("sku", skus, o.sku),
            ("warehouse", warehouses, o.warehouse),
        ):
            if value not in known:
                problems.append(FieldError(f"$.orders[{i}].{field}", f"unknown {field} {value!r}"))
    uses = raw.get("lane_uses") or []
    if not isinstance(uses, list):
        problems.append(FieldError("$.lane_uses", "must be a list of lane uses"))
        uses = []
    for i, use in enumerate(uses):
        if not isinstance(use, dict):
            problems.append(FieldError(f"$.lane_uses[{i}]", "must be an object"))
            continue
        if not isinstance(use.get("lane"), str) or use["lane"] not in lanes:
            problems.append(
                FieldError(f"$.lane_uses[{i}].lane", f"unknown lane {use.get('lane')!r}")
            )
        day = use.get("ship_day")
        if not isinstance(day, int) or isinstance(day, bool) or day < 0:
            problems.append(FieldError(f"$.lane_uses[{i}].ship_day", f"not a day: {day!r}"))
    if problems:
        raise RequestError(problems, PLAN)
    return commitments


def lanes_used_on(plan: dict[str, Any], day: int) -> set[str]:
    """The lanes a plan ships on, or flies orders along, on ``day`` (its ``lane_uses``)."""
    uses = plan.get("lane_uses") or []
    return {
        use.get("lane")
        for use in uses
        if isinstance(use, dict) and use.get("ship_day") == day and isinstance(use.get("lane"), str)
    }


# ---- re-basing --------------------------------------------------------------------------------

Pair = tuple[str, str]  # (sku, channel)


def apply_state(request: PlanRequest, plan: dict[str, Any], state: LiveState) -> PlanRequest:
    """The request for the rest of the horizon from ``state.as_of_day`` on (see the module
    docstring), with the plan's remaining commitments as ``previous_plan``.

    ``request`` and ``state`` must be valid (:func:`planner.validation.validate_request`,
    :func:`validate_state`) and ``plan`` a plan of that request."""
    request, _ = expand_scenarios(request)
    day = state.as_of_day
    commitments = _commitments(plan)
    scenarios = [
        scenario.model_copy(update={"demand": rows})
        for scenario, rows in zip(request.scenarios, _rebased_demand(request, state), strict=True)
    ]
    return request.model_copy(
        update={
            "horizon_days": request.horizon_days - day,
            "scenarios": scenarios,
            "stock": list(request.stock if state.stock is None else state.stock),
            "in_transit": _in_transit(request, commitments, state),
            "suppliers": [_rebased_supplier(p, commitments, day) for p in request.suppliers],
            "previous_plan": _remaining(commitments, day),
            "event": _rebased_event(request.event, day),
            "lanes": _rebased_lanes(request, plan, commitments, state),
        }
    )


def _rebased_lanes(
    request: PlanRequest, plan: dict[str, Any], commitments: PreviousPlan, state: LiveState
) -> list[Lane]:
    """The lanes with their booked days re-based, and today's bookings booked on the new day 0
    (their fee is already paid): the state's ``lanes_booked_today``, else, after day 0, the
    lanes the plan ships on or flies orders along on as_of_day (booked ahead of the flight).
    A replan on day 0 itself books nothing by default: its plan was made that day."""
    day = state.as_of_day
    if state.lanes_booked_today is not None:
        today = set(state.lanes_booked_today)
    elif day > 0:
        shipped = {x.lane for x in commitments.transfers if x.ship_day == day and x.quantity > 0}
        today = lanes_used_on(plan, day) | shipped
    else:
        today = set()
    lanes = []
    for lane in request.lanes:
        booked = {d - day for d in lane.booked_days if d >= day} | (
            {0} if lane.key in today else set()
        )
        lanes.append(lane.model_copy(update={"booked_days": tuple(sorted(booked))}))
    return lanes


def _rebased_event(event: Event | None, day: int) -> Event | None:
    """The event in the re-based days: a show under way keeps its remaining days (and its
    rules); an event already over no longer applies."""
    if event is None or event.end_day < day:
        return None
    start = max(event.start_day, day)
    return event.model_copy(
        update={"start_day": start - day, "duration_days": event.end_day - start + 1}
    )


def _split(row: DemandRow, day: int) -> tuple[float, DemandRow | None]:
    """A demand row cut at ``day``: its quantity on that day, and the rest after it re-based
    (None when nothing is left). Rows spanning days are spread evenly, as the pipeline does."""
    last = row.day if row.end_day is None else row.end_day
    if last < day:
        return 0.0, None
    per_day = row.quantity / (last - row.day + 1)
    today = per_day if row.day <= day else 0.0
    first = max(row.day, day + 1)
    if first > last:
        return today, None
    quantity = row.quantity if row.day > day else per_day * (last - first + 1)
    later = row.model_copy(
        update={
            "day": first - day,
            "end_day": None if row.end_day is None else last - day,
            "quantity": quantity,
        }
    )
    return today, later


def demand_today(request: PlanRequest, day: int) -> list[dict[Pair, float]]:
    """Per scenario (explicit scenarios), the demand of each SKU x channel on ``day``."""
    out = []
    for scenario in request.scenarios:
        today: dict[Pair, float] = defaultdict(float)
        for row in scenario.demand:
            q, _ = _split(row, day)
            if q > 0:
                today[row.sku, row.channel] += q
        out.append(dict(today))
    return out


def reforecast_today(request: PlanRequest, state: LiveState) -> list[dict[Pair, float]]:
    """Per scenario, the demand still to come on as_of_day per SKU x channel: the forecast
    less the units sold, or the live rate x hours left spread like the scenarios."""
    planned = demand_today(request, state.as_of_day)
    sold = {(r.sku, r.channel): r.units for r in state.sold}
    rate = {(r.sku, r.channel): r.units_per_hour for r in state.sales_rate}
    pairs = list(dict.fromkeys([p for today in planned for p in today] + list(rate)))
    expected = {
        pair: math.fsum(
            s.probability * today.get(pair, 0.0)
            for s, today in zip(request.scenarios, planned, strict=True)
        )
        for pair in pairs
    }
    out = []
    for today in planned:
        rest: dict[Pair, float] = {}
        for pair in pairs:
            q = today.get(pair, 0.0)
            if pair in rate:
                to_come = rate[pair] * state.hours_left
                rest[pair] = to_come * q / expected[pair] if expected[pair] > 0 else to_come
            else:
                rest[pair] = max(0.0, q - sold.get(pair, 0.0))
        out.append(rest)
    return out


def _rebased_demand(request: PlanRequest, state: LiveState) -> list[list[DemandRow]]:
    day = state.as_of_day
    out = []
    for scenario, rest in zip(request.scenarios, reforecast_today(request, state), strict=True):
        rows = [
            DemandRow(sku=sku, channel=channel, day=0, quantity=q)
            for (sku, channel), q in rest.items()
            if q > 0
        ]
        for row in scenario.demand:
            _, later = _split(row, day)
            if later is not None:
                rows.append(later)
        out.append(rows)
    return out


def _in_transit(
    request: PlanRequest, commitments: PreviousPlan, state: LiveState
) -> list[InTransitRow]:
    day = state.as_of_day
    if state.in_transit is not None:
        return [r.model_copy(update={"arrival_day": r.arrival_day - day}) for r in state.in_transit]
    rows = [
        r.model_copy(update={"arrival_day": r.arrival_day - day})
        for r in request.in_transit
        if r.arrival_day >= day
    ]
    lanes = {lane.key: lane for lane in request.lanes}
    for x in commitments.transfers:
        arrive = x.ship_day + lanes[x.lane].lead_days
        if x.ship_day < day <= arrive and x.quantity > 0:
            rows.append(
                InTransitRow(
                    sku=x.sku,
                    warehouse=lanes[x.lane].to,
                    quantity=x.quantity,
                    arrival_day=arrive - day,
                )
            )
    lead = {p.id: p.lead_days for p in request.suppliers}
    for o in commitments.orders:
        arrive = o.order_day + lead[o.supplier]
        if o.order_day < day <= arrive and o.quantity > 0:
            rows.append(
                InTransitRow(
                    sku=o.sku, warehouse=o.warehouse, quantity=o.quantity, arrival_day=arrive - day
                )
            )
    return rows


def _rebased_supplier(supplier: Supplier, commitments: PreviousPlan, day: int) -> Supplier:
    if not supplier.capacity_windows or day == 0:
        return supplier
    ordered: dict[int, float] = defaultdict(float)
    for o in commitments.orders:
        if o.supplier == supplier.id and o.order_day < day:
            ordered[o.order_day] += o.quantity
    windows = []
    for w in supplier.capacity_windows:
        if w.end_day < day:
            continue
        used = sum(q for t, q in ordered.items() if w.start_day <= t <= w.end_day)
        windows.append(
            w.model_copy(
                update={
                    "start_day": max(w.start_day, day) - day,
                    "end_day": w.end_day - day,
                    "capacity": max(0.0, w.capacity - used),
                }
            )
        )
    return supplier.model_copy(update={"capacity_windows": windows})


def _remaining(commitments: PreviousPlan, day: int) -> PreviousPlan:
    """The plan's decisions on or after ``day``, re-based (earlier ones have happened)."""
    return PreviousPlan(
        transfers=[
            x.model_copy(update={"ship_day": x.ship_day - day})
            for x in commitments.transfers
            if x.ship_day >= day
        ],
        orders=[
            o.model_copy(update={"order_day": o.order_day - day})
            for o in commitments.orders
            if o.order_day >= day
        ],
        allocations=[
            a.model_copy(update={"day": a.day - day})
            for a in commitments.allocations
            if a.day >= day
        ],
    )


# ---- what changed in the inputs ---------------------------------------------------------------


def inputs_changed(request: PlanRequest, plan: dict[str, Any], state: LiveState) -> dict[str, Any]:
    """The plan's ``replan`` section: how the live state differs from what the plan expected.

    ``stock``: per SKU, the stock on hand at the start of as_of_day the plan expected
    (request stock + arrivals before the day - units in flight - expected sales before the
    day), the stock now, today's sales, and ``delta`` = now + sold today - expected; per
    warehouse the expected and the actual stock. ``demand``: per SKU x channel with a sale or
    a rate, the expected demand of as_of_day before and after the re-forecast."""
    request, _ = expand_scenarios(request)
    day = state.as_of_day
    expected = _expected_on_hand(request, plan, day)
    now: dict[tuple[str, str], float] = defaultdict(float)
    for row in request.stock if state.stock is None else state.stock:
        now[row.sku, row.warehouse] += row.quantity
    sold: dict[Pair, float] = {(r.sku, r.channel): r.units for r in state.sold}
    sold_by_sku: dict[str, float] = defaultdict(float)
    for (sku, _), units in sold.items():
        sold_by_sku[sku] += units
    stock = []
    for sku in (s.id for s in request.skus):
        keys = [(sku, w.id) for w in request.warehouses]
        planned = math.fsum(expected.get(k, 0.0) for k in keys)
        actual = math.fsum(now.get(k, 0.0) for k in keys)
        stock.append(
            {
                "sku": sku,
                "planned_start_of_day": _round(planned),
                "sold_today": sold_by_sku[sku],
                "on_hand": actual,
                "delta": _round(actual + sold_by_sku[sku] - planned),
                "warehouses": [
                    {
                        "warehouse": w,
                        "planned_start_of_day": _round(expected.get((sku, w), 0.0)),
                        "on_hand": now.get((sku, w), 0.0),
                    }
                    for _, w in keys
                    if expected.get((sku, w), 0.0) > TOLERANCE or now.get((sku, w), 0.0) > 0
                ],
            }
        )
    probability = [s.probability for s in request.scenarios]
    planned_today = demand_today(request, day)
    rest_today = reforecast_today(request, state)
    rate = {(r.sku, r.channel): r.units_per_hour for r in state.sales_rate}
    demand = []
    for pair in dict.fromkeys([*sold, *rate]):
        before = math.fsum(
            p * t.get(pair, 0.0) for p, t in zip(probability, planned_today, strict=True)
        )
        after = sold.get(pair, 0.0) + math.fsum(
            p * t.get(pair, 0.0) for p, t in zip(probability, rest_today, strict=True)
        )
        demand.append(
            {
                "sku": pair[0],
                "channel": pair[1],
                "sold": sold.get(pair, 0.0),
                "units_per_hour": rate.get(pair),
                "planned_today": _round(before),
                "replanned_today": _round(after),
                "delta": _round(after - before),
            }
        )
    return {
        "as_of_day": day,
        "hours_left": state.hours_left,
        "day_offset": day,
        "stock": stock,
        "demand": demand,
    }


def _round(x: float) -> float:
    return round(x, 6) + 0.0  # no -0.0


def _expected_on_hand(
    request: PlanRequest, plan: dict[str, Any], day: int
) -> dict[tuple[str, str], float]:
    """Per SKU x warehouse, the stock the plan expects at the start of ``day`` (before that
    day's arrivals and sales)."""
    commitments = _commitments(plan)
    on_hand: dict[tuple[str, str], float] = defaultdict(float)
    for row in request.stock:
        on_hand[row.sku, row.warehouse] += row.quantity
    for arriving in request.in_transit:
        if arriving.arrival_day < day:
            on_hand[arriving.sku, arriving.warehouse] += arriving.quantity
    lanes = {lane.key: lane for lane in request.lanes}
    for x in commitments.transfers:
        lane = lanes[x.lane]
        if x.ship_day < day:
            on_hand[x.sku, lane.from_] -= x.quantity
        if x.ship_day + lane.lead_days < day:
            on_hand[x.sku, lane.to] += x.quantity
    lead = {p.id: p.lead_days for p in request.suppliers}
    for o in commitments.orders:
        if o.order_day + lead[o.supplier] < day:
            on_hand[o.sku, o.warehouse] += o.quantity
    probability = {s.name: s.probability for s in request.scenarios}
    for a in commitments.allocations:
        if a.day < day:
            on_hand[a.sku, a.warehouse] -= probability.get(a.scenario, 0.0) * a.quantity
    return dict(on_hand)


# ---- the replan -------------------------------------------------------------------------------


def replan(
    request: PlanRequest,
    plan: dict[str, Any],
    state: LiveState,
    options: SolveOptions | None = None,
    solver: str = "highs",
    *,
    rebased: PlanRequest | None = None,
) -> dict[str, Any]:
    """A new plan from ``state.as_of_day`` on, warm-started from ``plan``: the pipeline's plan
    (with ``changes`` against the plan's remaining decisions) plus a ``replan`` section saying
    what changed in the inputs. ``rebased`` is :func:`apply_state`'s answer when the caller
    already has it."""
    started = time.perf_counter()
    request, _ = expand_scenarios(request)  # once: apply_state and inputs_changed reuse it
    if rebased is None:
        rebased = apply_state(request, plan, state)
    section = inputs_changed(request, plan, state)
    state_seconds = time.perf_counter() - started
    out = run(rebased, options, solver)
    out["replan"] = section
    out["timings"]["state_seconds"] = round(state_seconds, 6)
    return out


# ---- command line -----------------------------------------------------------------------------


def register(sub: Any) -> None:
    """`planner replan PLAN.json STATE.json [--request REQUEST.json] ...`."""
    from solvers import BACKENDS

    parser = sub.add_parser(
        "replan", help="re-plan the rest of the horizon from a live state, warm from a plan"
    )
    parser.add_argument("plan", help="the plan to replan (JSON `planner solve` wrote)")
    parser.add_argument("state", help="live state JSON: as_of_day, sold, stock, sales_rate...")
    parser.add_argument(
        "--request", help="the plan's request (default: the state's `request` path)"
    )
    parser.add_argument("--time-limit", type=_positive, default=None, help="seconds")
    parser.add_argument("--gap", type=_fraction, default=None, help="relative MIP gap")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--solver", choices=sorted(BACKENDS), default="highs")
    parser.add_argument("--out", help="write the new plan JSON here")
    parser.add_argument(
        "--out-request", help="write the re-based request here (to replan the new plan later)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the plan JSON instead of a summary"
    )
    parser.set_defaults(handler=_main)


def _positive(text: str) -> float:
    from planner.cli import _positive as positive

    return positive(text)


def _fraction(text: str) -> float:
    from planner.cli import _fraction as fraction

    return fraction(text)


def _read_json(path: str, subject: str) -> Any:
    from planner.validation import parse_json

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RequestError(
            [FieldError("$", f"cannot read {path}: {exc.strerror or exc}")], subject
        ) from exc
    try:
        return parse_json(text)
    except RequestError as exc:
        raise RequestError(exc.errors, subject) from None


def load_inputs(
    plan_path: str, state_path: str, request_path: str | None
) -> tuple[PlanRequest, dict[str, Any], LiveState, str]:
    """Read and check the three files; the request path is the option, else the state's
    ``request`` (relative to the state file). Raises RequestError saying which file."""
    from planner.validation import load_request_file

    raw_state = _read_json(state_path, f"{STATE} {state_path}")
    if request_path is None:
        named = raw_state.get("request") if isinstance(raw_state, dict) else None
        if not isinstance(named, str) or not named:
            raise RequestError(
                [FieldError("$.request", "give --request, or the request's path in the state")],
                f"{STATE} {state_path}",
            )
        request_path = str(Path(state_path).parent / named)
    try:
        request = load_request_file(request_path)
    except RequestError as exc:
        raise RequestError(exc.errors, f"request {request_path}") from None
    raw_plan = _read_json(plan_path, f"{PLAN} {plan_path}")
    try:
        validate_plan(raw_plan, request)
    except RequestError as exc:
        raise RequestError(exc.errors, f"{PLAN} {plan_path}") from None
    try:
        state = validate_state(raw_state, request, raw_plan, LiveStateFile)
    except RequestError as exc:
        raise RequestError(exc.errors, f"{STATE} {state_path}") from None
    return request, raw_plan, state, request_path


def _main(args: Any) -> int:
    import json
    import sys

    from planner.cli import EXIT_BAD_INPUT, EXIT_NO_PLAN, EXIT_OK, EXIT_SOLVER_ERROR, summary
    from planner.pipeline import request_fingerprint

    try:
        request, plan, state, request_path = load_inputs(args.plan, args.state, args.request)
    except RequestError as exc:
        print(f"invalid {exc.subject}:", file=sys.stderr)
        for err in exc.errors:
            print(f"  {err.path}: {err.reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    made_for = (plan.get("request") or {}).get("sha256")
    if made_for and made_for != request_fingerprint(request):
        print(
            f"note: {args.plan} was made for another version of {request_path} "
            "(sha256 differs); replanning against the request as it is now",
            file=sys.stderr,
        )
    options = SolveOptions(
        time_limit=args.time_limit, mip_gap=args.gap, threads=args.threads, seed=args.seed
    )
    rebased = apply_state(request, plan, state)
    new_plan = replan(request, plan, state, options, args.solver, rebased=rebased)
    if args.out:
        Path(args.out).write_text(json.dumps(new_plan, indent=1) + "\n", encoding="utf-8")
    if args.out_request:
        Path(args.out_request).write_text(
            rebased.model_dump_json(by_alias=True, indent=1) + "\n", encoding="utf-8"
        )
    if args.json:
        print(json.dumps(new_plan, indent=1))
    else:
        print(replan_summary(new_plan["replan"]))
        print(summary(new_plan))
        if args.out:
            print(f"plan written to {args.out}")
    if new_plan["status"] in ("optimal", "feasible"):
        return EXIT_OK
    if new_plan["status"] == "error":
        return EXIT_SOLVER_ERROR
    return EXIT_NO_PLAN


def replan_summary(section: dict[str, Any]) -> str:
    lines = [f"replan from day {section['as_of_day']} (days below count from it):"]
    for row in section["stock"]:
        if abs(row["delta"]) > 1e-6:
            lines.append(
                f"  stock {row['sku']}: {row['on_hand']:,.0f} on hand + {row['sold_today']:,.0f} "
                f"sold today vs {row['planned_start_of_day']:,.0f} planned ({row['delta']:+,.0f})"
            )
    for row in section["demand"]:
        lines.append(
            f"  demand {row['sku']} on {row['channel']} today: {row['planned_today']:,.0f} "
            f"expected -> {row['replanned_today']:,.0f} ({row['sold']:,.0f} sold)"
        )
    return "\n".join(lines)
