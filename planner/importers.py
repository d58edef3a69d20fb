"""Importers: published benchmark files -> ordinary plan requests.

Each importer returns a plain ``dict`` that passes :func:`planner.validation.validate_request`, so
a benchmark goes through exactly the same pipeline as a planner's request. Solving the request
must reproduce the published optimum; that is how the tests prove the planning model right.

OR-Library capacitated warehouse location (Beasley 1988), :func:`orlib_cap_request`
    The CFLP is ``min sum_i f_i y_i + sum_ij c_ij x_ij`` s.t. ``sum_i x_ij = 1`` (customers may
    be split), ``sum_j d_j x_ij <= cap_i y_i``, ``y`` binary, where ``c_ij`` is the cost of
    serving *all* of customer j's demand from facility i. In planning terms (horizon one day,
    one SKU):

    * a source warehouse ``factory`` (kind ``home``) holds stock equal to the total demand;
    * facility i is a warehouse ``w01``, ``w02``, ... (no capacity of its own), fed by a lane
      ``factory -> w_i`` with 0 lead days, unit cost 0, capacity ``cap_i`` (units per ship
      day) and fixed cost ``f_i`` (paid once if the lane ships anything on the day): the lane
      use binary is exactly ``y_i``;
    * customer j is a channel ``c01``, ``c02``, ... with promise 0 days, fulfilled from every
      facility warehouse (never from the factory) with delivery 0 days and unit cost
      ``c_ij / d_j``; its one scenario has demand ``d_j`` on day 0;
    * ``serve_all_demand`` is true, holding costs and salvage are 0.

    Units served from w_i to channel j are ``d_j x_ij``, so the plan's cost is
    ``sum_i f_i y_i + sum_ij (c_ij / d_j) d_j x_ij``, the CFLP objective. Stock reaches a
    facility only by a transfer shipped and served on day 0 (0 lead days), so a lane ships at
    least what its warehouse serves; shipping more only uses capacity and never saves anything.

FCNetLib fixed-charge network flow (Ortega & Wolsey 2003), :func:`fcnetlib_request`
    ``min sum_a (vcost_a x_a + fcost_a y_a)`` s.t. ``inflow - outflow = demand`` at every node,
    ``0 <= x_a <= cap_a y_a``, ``y`` binary. Every node is a warehouse; a supply node holds
    stock ``-demand``; every arc is a lane ``"<from>-<to>-<sub>"`` (0 lead days, so flow may
    pass through any number of hubs within the day); a node with positive demand is a channel
    ``c_<node>`` served only from its own warehouse at no cost. The plan keeps end-of-day stock
    non-negative, i.e. ``inflow - outflow >= demand`` at every node; summed over the nodes both
    sides are 0 (every lane's flow leaves one node and enters another, and the instances are
    balanced, which the importer checks), so every inequality holds with equality: exactly the
    FCNetLib flow balance.

Why whole units lose nothing
    The plan ships whole units (``transfers`` carry integer quantities). Fix the lane-use
    decisions ``y``: what remains is a transportation problem (CFLP) or a min-cost network flow
    problem (FCNetLib) whose supplies, demands and capacities are all integers. Its constraint
    matrix is a network matrix, hence totally unimodular, so the LP has an optimal solution at an
    integral vertex. The best integral plan is thus as good as the best fractional one for every
    ``y``, and the MIP optimum equals the published optimum (the data of every OR-Library cap
    file and every FCNetLib instance is integral; costs may be fractional, which does not
    matter).

The published optima are read by :func:`read_cap_bounds`, :func:`read_fcnetlib_optima` and,
for a whole bench folder laid out as in ``shared/bench/README.md``, :func:`read_bench_optima`;
:func:`bench_request` maps an instance name (``cap41``, ``capa_8000``, ``k10x90``) to its
request.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SKU_ID = "unit"
FACTORY_ID = "factory"
CAPACITY_WORD = "capacity"

ORLIB_DIR = "orlib_cap"
ORLIB_BOUNDS_FILE = "bounds_FacilityLocationProblems_jl.txt"
FCNETLIB_DIR = "fcnetlib"
FCNETLIB_OPTIMA_FILE = "optima.csv"


# --------------------------------------------------------------------------- OR-Library cap


@dataclass(frozen=True)
class CflpInstance:
    """A capacitated facility location instance as written in an OR-Library cap file.

    ``capacities[i]`` is None where the file has the word ``capacity`` (capa/capb/capc: the
    capacity is a parameter of the instance, not part of the file). ``costs[j][i]`` is the cost
    of serving all of customer j's demand from facility i.
    """

    capacities: tuple[float | None, ...]
    fixed_costs: tuple[float, ...]
    demands: tuple[float, ...]
    costs: tuple[tuple[float, ...], ...]

    @property
    def facilities(self) -> int:
        return len(self.fixed_costs)

    @property
    def customers(self) -> int:
        return len(self.demands)


def parse_orlib_cap(text: str) -> CflpInstance:
    """Parse an OR-Library cap file: whitespace tokens, line breaks mean nothing.

    ``m n``; m pairs ``capacity fixed_cost``; then per customer ``demand`` and m costs.
    Raises ValueError naming the token that is wrong.
    """
    tokens = text.split()
    if len(tokens) < 2:
        raise ValueError("an OR-Library cap file starts with `m n`; the file is too short")
    m = _count(tokens[0], "m (number of warehouses)")
    n = _count(tokens[1], "n (number of customers)")
    expected = 2 + 2 * m + n * (1 + m)
    if len(tokens) != expected:
        raise ValueError(
            f"expected {expected} tokens for m={m} warehouses and n={n} customers "
            f"(2 + 2m + n(1 + m)), found {len(tokens)}"
        )
    pos = 2
    capacities: list[float | None] = []
    fixed: list[float] = []
    for i in range(m):
        cap_token = tokens[pos]
        if cap_token.lower() == CAPACITY_WORD:
            capacities.append(None)
        else:
            capacities.append(_number(cap_token, pos, f"capacity of warehouse {i + 1}"))
        fixed.append(_number(tokens[pos + 1], pos + 1, f"fixed cost of warehouse {i + 1}"))
        pos += 2
    demands: list[float] = []
    costs: list[tuple[float, ...]] = []
    for j in range(n):
        demands.append(_number(tokens[pos], pos, f"demand of customer {j + 1}"))
        pos += 1
        costs.append(
            tuple(
                _number(tokens[pos + i], pos + i, f"cost of customer {j + 1} at warehouse {i + 1}")
                for i in range(m)
            )
        )
        pos += m
    return CflpInstance(tuple(capacities), tuple(fixed), tuple(demands), tuple(costs))


def cflp_request(
    instance: CflpInstance, capacity: float | None = None, name: str = "cflp"
) -> dict[str, Any]:
    """The plan request whose optimum is the CFLP optimum (mapping in the module docstring).

    ``capacity``, if given, is every warehouse's capacity (it overrides the file's numbers);
    it is required when the file has the word ``capacity`` instead of numbers.
    """
    m, n = instance.facilities, instance.customers
    if capacity is not None:
        if not (math.isfinite(capacity) and capacity >= 0):
            raise ValueError(f"capacity must be a finite number >= 0, not {capacity!r}")
        capacities: list[float] = [float(capacity)] * m
    elif any(c is None for c in instance.capacities):
        raise ValueError(
            "the file gives the word `capacity` instead of warehouse capacities "
            "(capa/capb/capc): pass capacity=..."
        )
    else:
        capacities = [c for c in instance.capacities if c is not None]
    for j, d in enumerate(instance.demands):
        if not d > 0:
            raise ValueError(
                f"customer {j + 1} has demand {d}: a per-unit cost c_ij / d_j needs demand > 0"
            )

    w_ids = [f"w{i + 1:0{max(2, len(str(m)))}d}" for i in range(m)]
    c_ids = [f"c{j + 1:0{max(2, len(str(n)))}d}" for j in range(n)]
    total_demand = math.fsum(instance.demands)
    return {
        "name": name,
        "horizon_days": 1,
        "warehouses": [{"id": FACTORY_ID, "kind": "home", "capacity": None, "holding_cost": 0.0}]
        + [{"id": w, "capacity": None, "holding_cost": 0.0} for w in w_ids],
        "skus": [{"id": SKU_ID, "unit_cost": 0.0, "salvage_value": 0.0}],
        "stock": [{"sku": SKU_ID, "warehouse": FACTORY_ID, "quantity": total_demand}],
        "lanes": [
            {
                "id": f"{FACTORY_ID}-{w}",
                "from": FACTORY_ID,
                "to": w,
                "lead_days": 0,
                "unit_cost": 0.0,
                "fixed_cost": instance.fixed_costs[i],
                "capacity": capacities[i],
            }
            for i, w in enumerate(w_ids)
        ],
        "channels": [
            {
                "id": c,
                "kind": "wholesale",
                "promise_days": 0,
                "fulfilment": [
                    {
                        "warehouse": w,
                        "delivery_days": 0,
                        "unit_cost": instance.costs[j][i] / instance.demands[j],
                    }
                    for i, w in enumerate(w_ids)
                ],
            }
            for j, c in enumerate(c_ids)
        ],
        "scenarios": [
            {
                "name": "base",
                "probability": 1.0,
                "demand": [
                    {"sku": SKU_ID, "channel": c, "day": 0, "quantity": instance.demands[j]}
                    for j, c in enumerate(c_ids)
                ],
            }
        ],
        "policy": {"serve_all_demand": True, "salvage_fraction": 0.0},
        "notes": (
            f"OR-Library capacitated warehouse location, {m} warehouses x {n} customers"
            + (f", capacity {capacity:g}" if capacity is not None else "")
            + "; imported by planner.importers.cflp_request"
        ),
    }


def orlib_cap_request(path: str | Path, capacity: float | None = None) -> dict[str, Any]:
    """Read an OR-Library cap file (cap41 ... cap134, capa/capb/capc) into a plan request."""
    path = Path(path)
    instance = parse_orlib_cap(path.read_text(encoding="utf-8"))
    name = path.stem if capacity is None else f"{path.stem}_{capacity:g}"
    return cflp_request(instance, capacity=capacity, name=name)


# --------------------------------------------------------------------------- FCNetLib


@dataclass(frozen=True)
class FcnfArc:
    origin: str
    destination: str
    sub: str
    fixed_cost: float
    unit_cost: float
    capacity: float | None  # None = uncapacitated

    @property
    def lane_id(self) -> str:
        return f"{self.origin}-{self.destination}-{self.sub}"


def _natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """'n2' < 'n10': digit runs compare as numbers."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part
    )


def fcnetlib_arcs(data: Mapping[str, Any]) -> list[FcnfArc]:
    arcs: list[FcnfArc] = []
    for k, row in enumerate(data["arcs"]):
        if not isinstance(row, Sequence) or isinstance(row, str) or len(row) != 6:
            raise ValueError(
                f"arcs[{k}]: expected [from, to, sub, fixed_cost, unit_cost, capacity]"
            )
        origin, destination, sub, fcost, vcost, cap = row
        capacity = None if cap is None or math.isinf(float(cap)) else float(cap)
        arcs.append(
            FcnfArc(str(origin), str(destination), str(sub), float(fcost), float(vcost), capacity)
        )
    return arcs


def fcnetlib_request_from_data(data: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
    """The plan request whose optimum is the FCNetLib optimum (mapping in the module docstring)."""
    arcs = fcnetlib_arcs(data)
    demand = {str(node): float(q) for node, q in data["demand"].items()}
    imbalance = math.fsum(demand.values())
    if abs(imbalance) > 1e-9 * max(1.0, math.fsum(abs(q) for q in demand.values())):
        raise ValueError(
            f"node demands sum to {imbalance:g}, not 0: with unbalanced supply the plan's "
            "`stock >= 0` rule is not the FCNetLib flow balance"
        )
    nodes = sorted(
        {a.origin for a in arcs} | {a.destination for a in arcs} | set(demand), key=_natural_key
    )
    sinks = [v for v in nodes if demand.get(v, 0.0) > 0]
    title = name if name is not None else str(data.get("name", "fcnetlib"))
    return {
        "name": title,
        "horizon_days": 1,
        "warehouses": [{"id": v, "capacity": None, "holding_cost": 0.0} for v in nodes],
        "skus": [{"id": SKU_ID, "unit_cost": 0.0, "salvage_value": 0.0}],
        "stock": [
            {"sku": SKU_ID, "warehouse": v, "quantity": -demand[v]}
            for v in nodes
            if demand.get(v, 0.0) < 0
        ],
        "lanes": [
            {
                "id": a.lane_id,
                "from": a.origin,
                "to": a.destination,
                "lead_days": 0,
                "unit_cost": a.unit_cost,
                "fixed_cost": a.fixed_cost,
                "capacity": a.capacity,
            }
            for a in arcs
        ],
        "channels": [
            {
                "id": f"c_{v}",
                "kind": "wholesale",
                "promise_days": 0,
                "fulfilment": [{"warehouse": v, "delivery_days": 0, "unit_cost": 0.0}],
            }
            for v in sinks
        ],
        "scenarios": [
            {
                "name": "base",
                "probability": 1.0,
                "demand": [
                    {"sku": SKU_ID, "channel": f"c_{v}", "day": 0, "quantity": demand[v]}
                    for v in sinks
                ],
            }
        ],
        "policy": {"serve_all_demand": True, "salvage_fraction": 0.0},
        "notes": (
            f"FCNetLib fixed-charge network flow, {len(nodes)} nodes x {len(arcs)} arcs; "
            "imported by planner.importers.fcnetlib_request"
        ),
    }


def fcnetlib_request(path: str | Path) -> dict[str, Any]:
    """Read an FCNetLib converted JSON file (``fcnetlib/converted/<name>.json``)."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "arcs" not in data or "demand" not in data:
        raise ValueError(f"{path}: expected a JSON object with `arcs` and `demand`")
    return fcnetlib_request_from_data(data, name=str(data.get("name", path.stem)))


# --------------------------------------------------------------------------- published optima


@dataclass(frozen=True)
class PublishedOptimum:
    instance: str
    value: float  # the optimum if proven, else the best known objective (an upper bound)
    lower_bound: float | None
    proven: bool
    source: str


def read_cap_bounds(path: str | Path) -> dict[str, PublishedOptimum]:
    """``name lower_bound upper_bound`` per line (equal bounds = proven optimum)."""
    path = Path(path)
    out: dict[str, PublishedOptimum] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 3:
            raise ValueError(f"{path}:{lineno}: expected `name lower_bound upper_bound`")
        name = fields[0]
        lower = _number(fields[1], 1, f"lower bound of {name}")
        upper = _number(fields[2], 2, f"upper bound of {name}")
        out[name] = PublishedOptimum(
            instance=name,
            value=upper,
            lower_bound=lower,
            proven=math.isclose(lower, upper, rel_tol=1e-12, abs_tol=0.0),
            source=path.name,
        )
    return out


def read_fcnetlib_optima(path: str | Path) -> dict[str, PublishedOptimum]:
    """``optima.csv``: columns instance, value, kind (``proven`` or ``best-known``), ..."""
    path = Path(path)
    out: dict[str, PublishedOptimum] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            name = row["instance"].strip()
            proven = row["kind"].strip() == "proven"
            value = _number(row["value"], 0, f"value of {name}")
            out[name] = PublishedOptimum(
                instance=name,
                value=value,
                lower_bound=value if proven else None,
                proven=proven,
                source=path.name,
            )
    return out


def read_bench_optima(bench_dir: str | Path) -> dict[str, PublishedOptimum]:
    """Published optima of the cap and FCNetLib instances in a bench folder, by instance name.

    Cap names are as in the bounds file (``cap41``, ``capa_8000``); rows of other problem types
    in that file (``pmed...``) are left out.
    """
    bench = Path(bench_dir)
    cap = read_cap_bounds(bench / ORLIB_DIR / ORLIB_BOUNDS_FILE)
    out = {name: opt for name, opt in cap.items() if name.startswith("cap")}
    out.update(read_fcnetlib_optima(bench / FCNETLIB_DIR / FCNETLIB_OPTIMA_FILE))
    return out


def bench_request(bench_dir: str | Path, instance: str) -> dict[str, Any]:
    """The request for a named bench instance: ``cap41``, ``capa_8000``, ``k10x90``, ..."""
    bench = Path(bench_dir)
    match = re.fullmatch(r"(cap[a-z])_(\d+(?:\.\d+)?)", instance)
    if match:
        return orlib_cap_request(bench / ORLIB_DIR / f"{match[1]}.txt", float(match[2]))
    cap_file = bench / ORLIB_DIR / f"{instance}.txt"
    if instance.startswith("cap") and cap_file.is_file():
        return orlib_cap_request(cap_file)
    fc_file = bench / FCNETLIB_DIR / "converted" / f"{instance}.json"
    if fc_file.is_file():
        return fcnetlib_request(fc_file)
    raise ValueError(f"no bench instance {instance!r} under {bench}")


# --------------------------------------------------------------------------- helpers


def _count(token: str, what: str) -> int:
    value = _number(token, 0, what)
    if value != int(value) or value < 0:
        raise ValueError(f"{what} must be a whole number >= 0, not {token!r}")
    return int(value)


def _number(token: str, position: int, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise ValueError(f"token {position} ({what}) is not a number: {token!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"token {position} ({what}) is not finite: {token!r}")
    return value
