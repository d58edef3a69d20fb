"""Turn untrusted JSON into a :class:`PlanRequest`, or a list of (JSON path, reason) problems.

Every entry point (CLI, HTTP, batch) calls :func:`validate_request`; nothing downstream ever
sees a request that failed here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from planner.prepare import salvage_value
from planner.schema import Fulfilment, Lane, PlanRequest
from planner.uncertainty import uncertainty_problems
from planner.validation_types import FieldError, RequestError

PROBABILITY_TOLERANCE = 1e-6


def json_path(loc: Iterable[Any]) -> str:
    """('warehouses', 2, 'id') -> '$.warehouses[2].id'"""
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def load_request_file(path: str | Path) -> PlanRequest:
    """Read and validate a request file; a file that is not JSON is a RequestError too."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RequestError([FieldError("$", f"cannot read {path}: {exc.strerror or exc}")]) from exc
    return validate_request(parse_json(text))


def parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise RequestError(
            [FieldError("$", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]
        ) from exc
    except ValueError as exc:  # NaN / Infinity literals
        raise RequestError([FieldError("$", str(exc))]) from exc
    except RecursionError:
        raise RequestError([FieldError("$", "not valid JSON: nested too deeply")]) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not valid JSON: {name} is not a number JSON allows")


def validate_request(data: Any) -> PlanRequest:
    """Validate field types, then the rules that tie fields together."""
    if not isinstance(data, dict):
        raise RequestError([FieldError("$", "a plan request must be a JSON object")])
    try:
        request = PlanRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestError(field_errors(exc)) from None
    problems = list(_cross_field_problems(request))
    if problems:
        raise RequestError(problems)
    return request


def field_errors(exc: ValidationError) -> list[FieldError]:
    """pydantic's errors as (JSON path, reason) pairs."""
    return [FieldError(json_path(err["loc"]), _reason(err)) for err in exc.errors()]


def _reason(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "missing":
        return "required field is missing"
    if err["type"] == "extra_forbidden":
        return "unknown field (check the spelling against `planner schema`)"
    return msg


def _duplicates(ids: list[str], path: str, field: str = "id") -> Iterable[FieldError]:
    seen: dict[str, int] = {}
    for i, ident in enumerate(ids):
        if ident in seen:
            yield FieldError(
                f"{path}[{i}].{field}",
                f"duplicate {field} {ident!r} (first at index {seen[ident]})",
            )
        else:
            seen[ident] = i


def _cross_field_problems(r: PlanRequest) -> Iterable[FieldError]:
    warehouses = {w.id for w in r.warehouses}
    skus = {s.id for s in r.skus}
    channels = {c.id for c in r.channels}
    horizon = r.horizon_days

    def unknown(kind: str, known: set[str], ident: str, path: str) -> Iterable[FieldError]:
        if ident not in known:
            yield FieldError(path, f"unknown {kind} {ident!r}")

    def in_horizon(day: int, path: str) -> Iterable[FieldError]:
        if day >= horizon:
            yield FieldError(path, f"day {day} is outside the horizon (days 0..{horizon - 1})")

    yield from _duplicates([w.id for w in r.warehouses], "$.warehouses")
    yield from _duplicates([s.id for s in r.suppliers], "$.suppliers")
    yield from _duplicates([s.id for s in r.skus], "$.skus")
    yield from _duplicates([c.id for c in r.channels], "$.channels")
    yield from _duplicates([lane.key for lane in r.lanes], "$.lanes")
    yield from _duplicates([s.name for s in r.scenarios], "$.scenarios", "name")

    for i, p in enumerate(r.suppliers):
        base = f"$.suppliers[{i}]"
        for j, w in enumerate(p.deliver_to):
            yield from unknown("warehouse", warehouses, w, f"{base}.deliver_to[{j}]")
        yield from _duplicates(p.deliver_to, f"{base}.deliver_to", "warehouse")
        for j, k in enumerate(p.skus or []):
            yield from unknown("sku", skus, k, f"{base}.skus[{j}]")
        yield from _duplicates(p.skus or [], f"{base}.skus", "sku")
        for k in p.unit_costs:
            yield from unknown("sku", skus, k, f"{base}.unit_costs.{k}")
        for j, win in enumerate(p.capacity_windows):
            if win.end_day < win.start_day:
                yield FieldError(
                    f"{base}.capacity_windows[{j}].end_day", "end_day is before start_day"
                )
        if p.capacity_per_day is not None and 0 < p.capacity_per_day < p.min_order:
            yield FieldError(
                f"{base}.min_order", "min_order exceeds capacity_per_day: no order can be placed"
            )

    sku_by_id = {s.id: s for s in r.skus}
    for i, p in enumerate(r.suppliers):
        for k in p.skus or list(sku_by_id):
            if k not in sku_by_id:
                continue
            purchase = p.unit_costs.get(k, sku_by_id[k].unit_cost)
            salvage = salvage_value(sku_by_id[k], r)
            if salvage > purchase + 1e-12:
                yield FieldError(
                    f"$.suppliers[{i}].unit_costs.{k}",
                    f"SKU {k!r} salvages at {salvage:g} but costs {purchase:g} from this supplier: "
                    "buying only to salvage would pay without limit",
                )

    for name, rows in (("stock", r.stock), ("in_transit", r.in_transit)):
        for i, row in enumerate(rows):
            yield from unknown("sku", skus, row.sku, f"$.{name}[{i}].sku")
            yield from unknown("warehouse", warehouses, row.warehouse, f"$.{name}[{i}].warehouse")
    yield from _duplicates([f"{s.sku}@{s.warehouse}" for s in r.stock], "$.stock", "sku")
    for i, row in enumerate(r.in_transit):
        yield from in_horizon(row.arrival_day, f"$.in_transit[{i}].arrival_day")

    for i, lane in enumerate(r.lanes):
        base = f"$.lanes[{i}]"
        yield from unknown("warehouse", warehouses, lane.from_, f"{base}.from")
        yield from unknown("warehouse", warehouses, lane.to, f"{base}.to")
        if lane.from_ == lane.to:
            yield FieldError(f"{base}.to", f"a lane cannot go from warehouse {lane.to!r} to itself")
        booked: set[int] = set()
        for j, day in enumerate(lane.booked_days):
            yield from in_horizon(day, f"{base}.booked_days[{j}]")
            if day in booked:
                yield FieldError(f"{base}.booked_days[{j}]", f"day {day} is listed twice")
            booked.add(day)

    lane_by_key = {lane.key: lane for lane in r.lanes}
    for i, ch in enumerate(r.channels):
        base = f"$.channels[{i}]"
        for j, f in enumerate(ch.fulfilment):
            yield from unknown(
                "warehouse", warehouses, f.warehouse, f"{base}.fulfilment[{j}].warehouse"
            )
            if f.lane is not None:
                yield from _order_lane_problems(lane_by_key, f, f"{base}.fulfilment[{j}].lane")
        yield from _duplicates(
            [f.warehouse for f in ch.fulfilment], f"{base}.fulfilment", "warehouse"
        )

    for i, rule in enumerate(r.policy.safety_stock):
        base = f"$.policy.safety_stock[{i}]"
        yield from unknown("warehouse", warehouses, rule.warehouse, f"{base}.warehouse")
        if rule.sku is not None:
            yield from unknown("sku", skus, rule.sku, f"{base}.sku")

    for i, sub in enumerate(r.policy.substitutes):
        base = f"$.policy.substitutes[{i}]"
        yield from unknown("sku", skus, sub.sku, f"{base}.sku")
        yield from unknown("sku", skus, sub.substitute, f"{base}.substitute")
        if sub.sku == sub.substitute:
            yield FieldError(f"{base}.substitute", "a SKU cannot substitute for itself")
    yield from _duplicates(
        [f"{s.sku}->{s.substitute}" for s in r.policy.substitutes], "$.policy.substitutes", "sku"
    )
    if r.event is not None:
        yield from _event_problems(r, skus, channels)

    if r.previous_plan is not None:
        lanes = {lane.key for lane in r.lanes}
        suppliers = {p.id for p in r.suppliers}
        base = "$.previous_plan"
        for i, x in enumerate(r.previous_plan.transfers):
            yield from unknown("sku", skus, x.sku, f"{base}.transfers[{i}].sku")
            yield from unknown("lane", lanes, x.lane, f"{base}.transfers[{i}].lane")
        for i, o in enumerate(r.previous_plan.orders):
            yield from unknown("supplier", suppliers, o.supplier, f"{base}.orders[{i}].supplier")
            yield from unknown("sku", skus, o.sku, f"{base}.orders[{i}].sku")
            yield from unknown(
                "warehouse", warehouses, o.warehouse, f"{base}.orders[{i}].warehouse"
            )

    if r.uncertainty is not None:
        if r.scenarios:
            yield FieldError("$.uncertainty", "give either scenarios or uncertainty, not both")
        yield from uncertainty_problems(r)
    elif not r.scenarios:
        yield FieldError("$.scenarios", "give at least one scenario, or `uncertainty`")
    total = math.fsum(s.probability for s in r.scenarios)
    if r.scenarios and abs(total - 1.0) > PROBABILITY_TOLERANCE:
        yield FieldError("$.scenarios", f"scenario probabilities sum to {total:.6g}, not 1")
    for i, sc in enumerate(r.scenarios):
        for j, d in enumerate(sc.demand):
            base = f"$.scenarios[{i}].demand[{j}]"
            yield from unknown("sku", skus, d.sku, f"{base}.sku")
            yield from unknown("channel", channels, d.channel, f"{base}.channel")
            yield from in_horizon(d.day, f"{base}.day")
            if d.end_day is not None:
                yield from in_horizon(d.end_day, f"{base}.end_day")
                if d.end_day < d.day:
                    yield FieldError(f"{base}.end_day", "end_day is before day")
    presale_channels = {c.id for c in r.channels if c.kind == "presale"}
    eligible = {s.id for s in r.skus if s.presale_eligible}
    for i, sc in enumerate(r.scenarios):
        for j, d in enumerate(sc.demand):
            if d.channel in presale_channels and d.sku in skus and d.sku not in eligible:
                yield FieldError(
                    f"$.scenarios[{i}].demand[{j}].sku",
                    f"SKU {d.sku!r} is not presale_eligible but has demand on presale channel "
                    f"{d.channel!r}",
                )


def _order_lane_problems(lanes: dict[str, Lane], f: Fulfilment, path: str) -> Iterable[FieldError]:
    """A fulfilment along a lane: the lane exists, starts at the fulfilling warehouse, and the
    delivery days cover its lead days."""
    lane = lanes.get(f.lane or "")
    if lane is None:
        known = ", ".join(sorted(lanes)) or "none"
        yield FieldError(path, f"unknown lane {f.lane!r} (known lanes: {known})")
        return
    if lane.from_ != f.warehouse:
        yield FieldError(
            path,
            f"lane {lane.key!r} starts at {lane.from_!r}, not at the fulfilling warehouse "
            f"{f.warehouse!r}",
        )
    if f.delivery_days < lane.lead_days:
        yield FieldError(
            path,
            f"delivery_days {f.delivery_days} is shorter than lane {lane.key!r}'s "
            f"{lane.lead_days} lead days",
        )


def _event_problems(r: PlanRequest, skus: set[str], channels: set[str]) -> Iterable[FieldError]:
    event = r.event
    assert event is not None
    if event.start_day >= r.horizon_days:
        yield FieldError(
            "$.event.start_day",
            f"day {event.start_day} is outside the horizon (days 0..{r.horizon_days - 1})",
        )
    elif event.end_day >= r.horizon_days:
        yield FieldError(
            "$.event.duration_days",
            f"the event ends on day {event.end_day}, after the horizon's last day "
            f"{r.horizon_days - 1}",
        )
    for i, c in enumerate(event.live_channels or []):
        if c not in channels:
            yield FieldError(f"$.event.live_channels[{i}]", f"unknown channel {c!r}")
    presale = event.presale
    if presale is None:
        return
    eligible = {s.id for s in r.skus if s.presale_eligible}
    for i, row in enumerate(presale.reservations):
        path = f"$.event.presale.reservations[{i}].sku"
        if row.sku not in skus:
            yield FieldError(path, f"unknown sku {row.sku!r}")
        elif row.sku not in eligible:
            yield FieldError(path, f"SKU {row.sku!r} is not presale_eligible")
    yield from _duplicates(
        [row.sku for row in presale.reservations], "$.event.presale.reservations", "sku"
    )
    curve = presale.payment_curve
    for i in range(1, len(curve)):
        base = f"$.event.presale.payment_curve[{i}]"
        if curve[i].after_minutes <= curve[i - 1].after_minutes:
            yield FieldError(f"{base}.after_minutes", "stages must come later one after another")
        if curve[i].paid_share < curve[i - 1].paid_share:
            yield FieldError(
                f"{base}.paid_share", "the paid share is cumulative: it cannot go down"
            )
