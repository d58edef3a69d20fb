"""Out-of-sample evaluation: replay a plan's commitments against fresh demand.

A plan commits to transfers and orders before demand is known (its first stage). To judge
it fairly we draw demand the plan never saw and, for each draw, let the plan react as well
as it can (the best recourse: allocation, lost sales, leftover), which is one linear program
with every draw as a scenario and the first stage fixed.

Fresh demand:
- a request with `uncertainty.distributions`: new draws from those distributions, with a
  seed of its own (independent of the scenarios the plan was built on);
- otherwise (explicit scenarios or tiers): a scenario drawn by its probability, then every
  demand row scaled by an independent log-normal forecast error of mean 1 and coefficient of
  variation `noise` (0.3 by default: SEEDS.md section 5, live-commerce forecast errors are
  commonly above 30%).

Reported for the optimized plan and for the rule-of-thumb plan (:mod:`planner.baseline`):
expected cost, fill rate, lost and leftover units, with their spread over the draws; the
value of the stochastic solution VSS = cost(expected-value plan) - cost(stochastic plan),
and the expected value of perfect information EVPI = cost(plan) - wait-and-see, where
wait-and-see solves each draw with its demand known (on the first `ws_samples` draws, using
the solver's proven bound, so the estimate is conservative).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any

import numpy as np
import pyomo.environ as pyo

from models.network_plan import build_network_plan
from planner.baseline import LIVE_SHARE, FirstStage, live_channels, rule_of_thumb_first_stage
from planner.pipeline import run
from planner.plan import extract_plan
from planner.prepare import network_data
from planner.schema import DemandRow, PlanRequest, Scenario
from planner.uncertainty import expand_scenarios
from planner.warm_start import fix_first_stage
from solvers import SolveOptions, get_solver
from solvers.matrix import compile_pyomo, load_solution

DEFAULT_NOISE = 0.3


class ReplayError(ValueError):
    """The plan's first stage does not fit the request (unknown lane, day past the horizon)."""


def fresh_demand(request: PlanRequest, samples: int, seed: int, noise: float) -> list[Scenario]:
    rng = np.random.default_rng([seed, 7919])  # a stream of its own, not the planning seed
    out = []
    distributions = request.uncertainty.distributions if request.uncertainty else None
    expanded, _ = expand_scenarios(request)
    sigma = math.sqrt(math.log(1 + noise**2))
    for i in range(samples):
        rows: list[DemandRow] = []
        if distributions:
            for d in distributions:
                if d.kind.value == "normal":
                    q = max(0.0, rng.normal(d.mean, d.std))
                elif d.kind.value == "poisson":
                    q = float(rng.poisson(d.mean))
                else:
                    q = float(rng.choice(d.sample))
                rows.append(
                    DemandRow(
                        sku=d.sku, channel=d.channel, day=d.day, end_day=d.end_day, quantity=q
                    )
                )
        else:
            probabilities = np.array([s.probability for s in expanded.scenarios])
            base = expanded.scenarios[
                rng.choice(len(probabilities), p=probabilities / probabilities.sum())
            ]
            for row in base.demand:
                factor = rng.lognormal(-(sigma**2) / 2, sigma) if noise > 0 else 1.0
                rows.append(row.model_copy(update={"quantity": row.quantity * factor}))
        out.append(Scenario(name=f"draw{i:04d}", probability=1.0 / samples, demand=rows))
    fix_probabilities(out)
    return out


def fix_probabilities(scenarios: list[Scenario]) -> None:
    total = math.fsum(s.probability for s in scenarios[:-1])
    scenarios[-1] = scenarios[-1].model_copy(update={"probability": 1.0 - total})


def replay(
    request: PlanRequest,
    first_stage: FirstStage,
    scenarios: list[Scenario],
    live_share: float | None = None,
) -> dict[str, Any]:
    """Fix the first stage, solve the best recourse for every scenario, summarise."""
    judged = judged_request(request, scenarios)
    data = network_data(judged)
    # Judged on the promise as well: no serving late (the elastic twin would allow it at a
    # price); capacity slack stays, to absorb e.g. overflow in a low draw, and is reported.
    data = dataclasses.replace(
        data,
        delivery_days={
            (c, w): d for (c, w), d in data.delivery_days.items() if d <= data.promise_days[c]
        },
    )
    if live_share is not None:
        data = _with_channel_split(data, judged, first_stage, live_share)
    model = build_network_plan(data, elastic=True)  # absorbs e.g. capacity overflow in low draws
    _fix_first_stage(model, first_stage, data.order_lane_keys())
    matrix = compile_pyomo(model)
    result = get_solver("highs").solve(matrix, SolveOptions())
    if not result.has_solution:
        raise ReplayError(f"the recourse problem could not be solved: {result.message}")
    load_solution(model, matrix, result.x)
    plan = extract_plan(data, model)
    costs = [s["cost"] for s in plan["scenarios"]]
    fills = [s["fill_rate"] for s in plan["scenarios"]]
    lost = [s["lost"] for s in plan["scenarios"]]
    leftover = [
        sum(
            pyo.value(model.stock[s, k, w, data.horizon_days - 1])
            for k in data.skus
            for w in data.warehouses
        )
        for s in data.scenarios
    ]
    return {
        "expected_cost": plan["costs"]["total"],
        "fill_rate": plan["kpis"]["expected_fill_rate"],
        "lost_units": plan["kpis"]["expected_lost_units"],
        "leftover_units": statistics.fmean(leftover),
        "spread": {
            "cost_std": statistics.pstdev(costs),
            "cost_p05": float(np.percentile(costs, 5)),
            "cost_p95": float(np.percentile(costs, 95)),
            "fill_rate_min": min(fills),
            "lost_units_std": statistics.pstdev(lost),
            "leftover_units_std": statistics.pstdev(leftover),
        },
        "rule_violations": float(pyo.value(model.rule_violation)),
        "first_stage_cost": sum(
            plan["costs"][k] for k in ("transfer_fixed", "transfer", "order_fixed", "purchase")
        ),
        "per_draw_cost": costs,
    }


def judged_request(request: PlanRequest, scenarios: list[Scenario]) -> PlanRequest:
    """The request as outcomes are judged: these scenarios, and only physical rules.

    Service targets, safety floors and the serve-everything rule are planning policies; the
    judge counts what they cost (lost sales, leftover), so replays and wait-and-see solves
    drop them, which also keeps wait-and-see a relaxation of every replay.
    """
    return request.model_copy(
        update={
            "scenarios": scenarios,
            "uncertainty": None,
            "previous_plan": None,
            "policy": request.policy.model_copy(
                update={"serve_all_demand": False, "service_levels": {}, "safety_stock": []}
            ),
        }
    )


def _fix_first_stage(
    model: pyo.ConcreteModel, first_stage: FirstStage, open_lanes: set[str]
) -> None:
    ships: dict[tuple, float] = {}
    for x in first_stage.transfers:
        key = (x["sku"], x["lane"], x["ship_day"])
        if key not in model.ship:
            raise ReplayError(f"transfer {key} has no lane or ship day in this request")
        ships[key] = ships.get(key, 0.0) + x["quantity"]
    orders: dict[tuple, float] = {}
    for o in first_stage.orders:
        key = (o["supplier"], o["sku"], o["warehouse"], o["order_day"])
        if key not in model.order:
            raise ReplayError(f"order {key} has no supplier, warehouse or day in this request")
        orders[key] = orders.get(key, 0.0) + o["quantity"]
    fix_first_stage(model, ships, orders, open_lanes)


def _with_channel_split(
    data: Any, request: PlanRequest, first_stage: FirstStage, live_share: float
) -> Any:
    """The 60/40 rule: live channels may take live_share of each warehouse's stock of a SKU."""
    live = live_channels(request)
    others = {c.id for c in request.channels} - live
    if not live or not others:
        return data
    available: dict[tuple[str, str], float] = {}
    for (k, w), q in data.initial_stock.items():
        available[k, w] = available.get((k, w), 0.0) + q
    for (k, w, _t), q in data.inbound.items():
        available[k, w] = available.get((k, w), 0.0) + q
    lanes = {lane.key: lane for lane in data.lanes}
    for x in first_stage.transfers:
        lane = lanes[x["lane"]]
        available[x["sku"], lane.destination] = (
            available.get((x["sku"], lane.destination), 0.0) + x["quantity"]
        )
        available[x["sku"], lane.origin] = (
            available.get((x["sku"], lane.origin), 0.0) - x["quantity"]
        )
    for o in first_stage.orders:
        available[o["sku"], o["warehouse"]] = (
            available.get((o["sku"], o["warehouse"]), 0.0) + o["quantity"]
        )
    limits = {}
    for (k, w), q in available.items():
        limits[k, w, "live"] = live_share * max(q, 0.0)
        limits[k, w, "other"] = (1 - live_share) * max(q, 0.0)
    pools = {c: ("live" if c in live else "other") for c in live | others}
    return dataclasses.replace(data, channel_pool=pools, pool_limit=limits)


def expected_value_request(request: PlanRequest) -> PlanRequest:
    """The same request with one scenario: the probability-weighted mean demand."""
    expanded, _ = expand_scenarios(request)
    rows = [
        row.model_copy(update={"quantity": row.quantity * s.probability})
        for s in expanded.scenarios
        for row in s.demand
    ]
    return expanded.model_copy(
        update={
            "scenarios": [Scenario(name="expected", probability=1.0, demand=rows)],
            "previous_plan": None,
        }
    )


def evaluate(
    request: PlanRequest,
    plan: dict[str, Any],
    samples: int = 200,
    seed: int = 1,
    noise: float = DEFAULT_NOISE,
    ws_samples: int = 10,
    options: SolveOptions | None = None,
) -> dict[str, Any]:
    """Judge `plan` and the rule-of-thumb plan on fresh demand; VSS and EVPI."""
    if samples < 1 or ws_samples < 1:
        raise ValueError("evaluation needs at least one draw and one wait-and-see draw")
    options = options or SolveOptions(time_limit=120)
    # wait-and-see only needs a valid lower bound: a looser gap is enough and much faster
    ws_options = dataclasses.replace(options, mip_gap=max(options.mip_gap or 0.0, 1e-3))
    draws = fresh_demand(request, samples, seed, noise)
    expanded, _ = expand_scenarios(request)
    has_split = bool(live_channels(expanded)) and len(live_channels(expanded)) < len(
        expanded.channels
    )

    optimized = replay(expanded, FirstStage.of_plan(plan), draws)
    rule_plan = rule_of_thumb_first_stage(expanded)
    rule = replay(expanded, rule_plan, draws, LIVE_SHARE if has_split else None)

    ev_plan = run(expected_value_request(request), options)
    if ev_plan["status"] not in ("optimal", "feasible"):
        raise ReplayError(f"the expected-value plan could not be made: {ev_plan['message']}")
    ev = replay(expanded, FirstStage.of_plan(ev_plan), draws)

    ws_draws = draws[: min(ws_samples, samples)]
    ws_bounds = []
    for draw in ws_draws:
        single = judged_request(expanded, [draw.model_copy(update={"probability": 1.0})])
        solved = run(single, ws_options)
        bound = solved["best_bound"] if solved["best_bound"] is not None else solved["objective"]
        ws_bounds.append(bound)
    wait_and_see = statistics.fmean(ws_bounds)
    n_ws = len(ws_draws)

    def here_and_now(result: dict[str, Any]) -> float:
        return statistics.fmean(result["per_draw_cost"][:n_ws])

    for result in (optimized, rule, ev):
        result["evpi"] = here_and_now(result) - wait_and_see
    summary = {
        "samples": samples,
        "seed": seed,
        "noise": noise if not (request.uncertainty and request.uncertainty.distributions) else None,
        "optimized": optimized,
        "rule_of_thumb": rule,
        "expected_value_plan": ev,
        "vss": ev["expected_cost"] - optimized["expected_cost"],
        "evpi": optimized["evpi"],
        "wait_and_see": {"samples": n_ws, "expected_cost_lower_bound": wait_and_see},
        "saving_vs_rule_of_thumb": rule["expected_cost"] - optimized["expected_cost"],
    }
    for result in (optimized, rule, ev):
        result.pop("per_draw_cost")
    return summary


def register(sub: Any) -> None:
    """`planner evaluate REQUEST.json PLAN.json [--samples N] [--seed S] [--json]`."""
    parser = sub.add_parser("evaluate", help="judge a plan and the rule of thumb on fresh demand")
    parser.add_argument("request")
    parser.add_argument("plan")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--noise", type=float, default=DEFAULT_NOISE, help="forecast error CV")
    parser.add_argument("--ws-samples", type=int, default=10, help="draws for wait-and-see")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=_main)


def _main(args: Any) -> int:
    import json
    import sys
    from pathlib import Path

    from planner.validation import RequestError, load_request_file, parse_json

    if args.samples < 1 or args.ws_samples < 0 or not 0 <= args.noise <= 5:
        print(
            "planner evaluate: --samples >= 1, --ws-samples >= 0, 0 <= --noise <= 5",
            file=sys.stderr,
        )
        return 2
    try:
        request = load_request_file(args.request)
        plan = parse_json(Path(args.plan).read_text(encoding="utf-8"))
    except RequestError as exc:
        for err in exc.errors:
            print(f"invalid input: {err.path}: {err.reason}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cannot read {args.plan}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if not isinstance(plan, dict) or plan.get("status") not in ("optimal", "feasible"):
        print(
            f"{args.plan}: not a plan with decisions (status optimal or feasible)", file=sys.stderr
        )
        return 2
    try:
        report = evaluate(request, plan, args.samples, args.seed, args.noise, args.ws_samples)
    except (ReplayError, KeyError, TypeError) as exc:
        print(f"planner evaluate: the plan does not fit the request: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"out-of-sample evaluation: {report['samples']} draws, seed {report['seed']}")
    for name in ("optimized", "rule_of_thumb", "expected_value_plan"):
        r = report[name]
        print(
            f"  {name:<20} expected cost {r['expected_cost']:>14,.2f}"
            f"  fill rate {r['fill_rate']:6.1%}  lost {r['lost_units']:>10,.0f}"
            f"  leftover {r['leftover_units']:>10,.0f}"
            f"  cost p05-p95 {r['spread']['cost_p05']:,.0f}-{r['spread']['cost_p95']:,.0f}"
        )
    print(f"  saving vs rule of thumb {report['saving_vs_rule_of_thumb']:,.2f}")
    print(f"  VSS {report['vss']:,.2f}   EVPI {report['evpi']:,.2f}")
    return 0
