"""Demand uncertainty (tiers, distributions) -> scenarios: validation, expansion, planning.

Also the published newsvendor answers (Snyder & Shen, via stockpyl) reproduced through ordinary
plan requests whose demand is given as a distribution.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import solve

from planner.checker import check_plan
from planner.schema import PlanRequest
from planner.uncertainty import expand_scenarios, reduce_scenarios
from planner.validation import RequestError, validate_request

RAMADAN_TIERS = [
    {"name": "conservative", "probability": 0.5, "quantity": 120_000},
    {"name": "optimistic", "probability": 0.35, "quantity": 180_000},
    {"name": "aggressive", "probability": 0.15, "quantity": 250_000},
]
RAMADAN_SHARES = [
    {"sku": "cushion", "channel": "live", "share": 0.4},
    {"sku": "cushion", "channel": "shop", "share": 0.2},
    {"sku": "blush", "channel": "live", "share": 0.25},
    {"sku": "blush", "channel": "shop", "share": 0.15},
]


def request(uncertainty: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """Two SKUs, two channels, one warehouse with stock and a supplier; demand on days 2..6."""
    base: dict[str, Any] = {
        "name": "uncertainty",
        "horizon_days": 7,
        "warehouses": [{"id": "jakarta", "holding_cost": 0.01}],
        "suppliers": [{"id": "factory", "deliver_to": ["jakarta"], "lead_days": 1}],
        "skus": [
            {"id": "cushion", "unit_cost": 7.9, "price": 29},
            {"id": "blush", "unit_cost": 5.2, "price": 19},
        ],
        "stock": [
            {"sku": "cushion", "warehouse": "jakarta", "quantity": 50_000},
            {"sku": "blush", "warehouse": "jakarta", "quantity": 30_000},
        ],
        "channels": [
            {
                "id": "live",
                "promise_days": 3,
                "fulfilment": [{"warehouse": "jakarta", "delivery_days": 1}],
            },
            {
                "id": "shop",
                "promise_days": 5,
                "fulfilment": [{"warehouse": "jakarta", "delivery_days": 2}],
            },
        ],
        "uncertainty": uncertainty
        or {
            "campaign_tiers": {
                "tiers": RAMADAN_TIERS,
                "shares": RAMADAN_SHARES,
                "day": 2,
                "end_day": 6,
            }
        },
    }
    out = copy.deepcopy(base)
    out.update(copy.deepcopy(changes))
    return out


def distributions(*rows: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"distributions": list(rows), **settings}


NORMAL = {"sku": "cushion", "channel": "live", "kind": "normal", "mean": 50, "std": 8}
POISSON = {"sku": "blush", "channel": "shop", "kind": "poisson", "mean": 6}
EMPIRICAL = {"sku": "blush", "channel": "live", "kind": "empirical", "sample": [30, 10, 20, 60]}
SKU_TIERS = [
    {
        "sku": "cushion",
        "channel": "live",
        "tiers": [
            {"name": "low", "probability": 0.6, "quantity": 100},
            {"name": "high", "probability": 0.4, "quantity": 300},
        ],
    },
    {
        "sku": "blush",
        "channel": "shop",
        "day": 1,
        "end_day": 4,
        "tiers": [
            {"name": "low", "probability": 0.6, "quantity": 40},
            {"name": "high", "probability": 0.4, "quantity": 80},
        ],
    },
]


def errors(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(RequestError) as info:
        validate_request(raw)
    return {e.path: e.reason for e in info.value.errors}


def expand(raw: dict[str, Any]) -> tuple[PlanRequest, dict[str, Any] | None]:
    return expand_scenarios(validate_request(raw))


def demand_of(request: PlanRequest, sku: str, channel: str) -> list[float]:
    """Quantity of (sku, channel) in each scenario, in scenario order (0 when absent)."""
    return [
        math.fsum(d.quantity for d in s.demand if (d.sku, d.channel) == (sku, channel))
        for s in request.scenarios
    ]


# ---- validation ---------------------------------------------------------------------------------


def _campaign(raw: dict[str, Any]) -> dict[str, Any]:
    return raw["uncertainty"]["campaign_tiers"]


def _dist(i: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda raw: raw["uncertainty"]["distributions"][i]


Edit = Callable[[dict[str, Any]], None]
THREE = distributions(NORMAL, POISSON, EMPIRICAL)

# (name, uncertainty to start from, edit, path named, words in the reason)
BAD_INPUT: list[tuple[str, dict[str, Any] | None, Edit, str, str]] = [
    (
        "negative std",
        THREE,
        lambda raw: _dist(0)(raw).update(std=-8),
        "$.uncertainty.distributions[0].std",
        "greater than or equal to 0",
    ),
    (
        "negative mean",
        THREE,
        lambda raw: _dist(1)(raw).update(mean=-6),
        "$.uncertainty.distributions[1].mean",
        "greater than or equal to 0",
    ),
    (
        "normal without std",
        THREE,
        lambda raw: _dist(0)(raw).pop("std"),
        "$.uncertainty.distributions[0].std",
        "needs std",
    ),
    (
        "normal without mean",
        THREE,
        lambda raw: _dist(0)(raw).pop("mean"),
        "$.uncertainty.distributions[0].mean",
        "needs mean",
    ),
    (
        "normal with a sample",
        THREE,
        lambda raw: _dist(0)(raw).update(sample=[1, 2]),
        "$.uncertainty.distributions[0].sample",
        "only an empirical",
    ),
    (
        "poisson with std",
        THREE,
        lambda raw: _dist(1)(raw).update(std=2),
        "$.uncertainty.distributions[1].std",
        "no std",
    ),
    (
        "poisson without mean",
        THREE,
        lambda raw: _dist(1)(raw).pop("mean"),
        "$.uncertainty.distributions[1].mean",
        "needs mean",
    ),
    (
        "empty sample",
        THREE,
        lambda raw: _dist(2)(raw).update(sample=[]),
        "$.uncertainty.distributions[2].sample",
        "non-empty sample",
    ),
    (
        "empirical without sample",
        THREE,
        lambda raw: _dist(2)(raw).pop("sample"),
        "$.uncertainty.distributions[2].sample",
        "non-empty sample",
    ),
    (
        "negative past event",
        THREE,
        lambda raw: _dist(2)(raw).update(sample=[3, -1]),
        "$.uncertainty.distributions[2].sample[1]",
        "greater than or equal to 0",
    ),
    (
        "empirical with mean",
        THREE,
        lambda raw: _dist(2)(raw).update(mean=5),
        "$.uncertainty.distributions[2].mean",
        "from the sample",
    ),
    (
        "unknown kind",
        THREE,
        lambda raw: _dist(0)(raw).update(kind="lognormal"),
        "$.uncertainty.distributions[0].kind",
        "normal",
    ),
    (
        "unknown sku",
        THREE,
        lambda raw: _dist(1)(raw).update(sku="lipstick"),
        "$.uncertainty.distributions[1].sku",
        "unknown sku 'lipstick'",
    ),
    (
        "unknown channel",
        None,
        lambda raw: _campaign(raw)["shares"][3].update(channel="lazada"),
        "$.uncertainty.campaign_tiers.shares[3].channel",
        "unknown channel 'lazada'",
    ),
    (
        "day outside the horizon",
        THREE,
        lambda raw: _dist(1)(raw).update(day=7),
        "$.uncertainty.distributions[1].day",
        "outside the horizon",
    ),
    (
        "end_day outside the horizon",
        None,
        lambda raw: _campaign(raw).update(end_day=9),
        "$.uncertainty.campaign_tiers.end_day",
        "outside the horizon",
    ),
    (
        "end_day before day",
        THREE,
        lambda raw: _dist(2)(raw).update(day=4, end_day=3),
        "$.uncertainty.distributions[2].end_day",
        "before day",
    ),
    (
        "probability over 1",
        None,
        lambda raw: _campaign(raw)["tiers"][0].update(probability=1.5),
        "$.uncertainty.campaign_tiers.tiers[0].probability",
        "less than or equal to 1",
    ),
    (
        "tier probabilities not summing to 1",
        None,
        lambda raw: _campaign(raw)["tiers"][2].update(probability=0.25),
        "$.uncertainty.campaign_tiers.tiers",
        "sum to 1.1, not 1",
    ),
    (
        "duplicate tier name",
        None,
        lambda raw: _campaign(raw)["tiers"][2].update(name="conservative", probability=0.15),
        "$.uncertainty.campaign_tiers.tiers[2].name",
        "duplicate tier 'conservative'",
    ),
    (
        "shares not summing to 1",
        None,
        lambda raw: _campaign(raw)["shares"][0].update(share=0.3),
        "$.uncertainty.campaign_tiers.shares",
        "shares sum to 0.9, not 1",
    ),
    (
        "duplicate share",
        None,
        lambda raw: _campaign(raw)["shares"][1].update(channel="live"),
        "$.uncertainty.campaign_tiers.shares[1]",
        "duplicate sku x channel 'cushion' x 'live' (first at index 0)",
    ),
    (
        "unknown tier in sku_tiers",
        {"sku_tiers": SKU_TIERS},
        lambda raw: raw["uncertainty"]["sku_tiers"][1]["tiers"][1].update(name="viral"),
        "$.uncertainty.sku_tiers[1].tiers[1].name",
        "unknown tier 'viral'",
    ),
    (
        "a tier missing from a row",
        {"sku_tiers": SKU_TIERS},
        lambda raw: raw["uncertainty"]["sku_tiers"][1].update(
            tiers=[{"name": "low", "probability": 1, "quantity": 40}]
        ),
        "$.uncertainty.sku_tiers[1].tiers",
        "missing tier 'high'",
    ),
    (
        "a tier with another probability in another row",
        {"sku_tiers": SKU_TIERS},
        lambda raw: raw["uncertainty"]["sku_tiers"][1].update(
            tiers=[
                {"name": "low", "probability": 0.5, "quantity": 40},
                {"name": "high", "probability": 0.5, "quantity": 80},
            ]
        ),
        "$.uncertainty.sku_tiers[1].tiers[0].probability",
        "0.5 here but 0.6 in row 0",
    ),
    (
        "sku_tiers row probabilities not summing to 1",
        {"sku_tiers": SKU_TIERS},
        lambda raw: raw["uncertainty"]["sku_tiers"][0]["tiers"][0].update(probability=0.5),
        "$.uncertainty.sku_tiers[0].tiers",
        "sum to 0.9, not 1",
    ),
    (
        "duplicate sku_tiers row",
        {"sku_tiers": SKU_TIERS},
        lambda raw: raw["uncertainty"]["sku_tiers"][1].update(sku="cushion", channel="live"),
        "$.uncertainty.sku_tiers[1]",
        "duplicate sku x channel",
    ),
    (
        "no sku_tiers rows",
        THREE,
        lambda raw: raw.update(uncertainty={"sku_tiers": []}),
        "$.uncertainty.sku_tiers",
        "at least one",
    ),
    (
        "no distributions",
        THREE,
        lambda raw: raw.update(uncertainty={"distributions": []}),
        "$.uncertainty.distributions",
        "at least one",
    ),
    (
        "nothing given",
        THREE,
        lambda raw: raw.update(uncertainty={"method": "sampling"}),
        "$.uncertainty",
        "exactly one of",
    ),
    (
        "two sources",
        THREE,
        lambda raw: raw["uncertainty"].update(sku_tiers=SKU_TIERS),
        "$.uncertainty",
        "got sku_tiers and distributions",
    ),
    (
        "negative seed",
        THREE,
        lambda raw: raw["uncertainty"].update(seed=-1),
        "$.uncertainty.seed",
        "0 or more",
    ),
    (
        "scenarios too",
        None,
        lambda raw: raw.update(
            scenarios=[{"name": "base", "probability": 1, "demand": []}],
        ),
        "$.uncertainty",
        "not both",
    ),
    (
        "unknown SKU service tier",
        None,
        lambda raw: raw["skus"][1].update(tier="D"),
        "$.skus[1].tier",
        "'A', 'B' or 'C'",
    ),
]


@pytest.mark.parametrize(
    ("start", "edit", "path", "words"),
    [pytest.param(s, e, p, w, id=name) for name, s, e, p, w in BAD_INPUT],
)
def test_bad_uncertainty_is_rejected_naming_the_field(
    start: dict[str, Any] | None, edit: Edit, path: str, words: str
) -> None:
    raw = request(start)
    validate_request(raw)  # the unedited request is valid: the edit alone breaks it
    edit(raw)
    found = errors(raw)
    assert path in found, found
    assert words in found[path]


def test_every_problem_is_reported_at_once() -> None:
    raw = request(THREE)
    raw["uncertainty"]["distributions"][0].pop("std")
    raw["uncertainty"]["distributions"][1]["sku"] = "lipstick"
    raw["uncertainty"]["distributions"][2]["sample"] = []
    assert set(errors(raw)) == {
        "$.uncertainty.distributions[0].std",
        "$.uncertainty.distributions[1].sku",
        "$.uncertainty.distributions[2].sample",
    }


# ---- tiers --------------------------------------------------------------------------------------


def test_campaign_tiers_split_the_total_by_shares() -> None:
    expanded, meta = expand(request())
    assert meta == {
        "source": "campaign_tiers",
        "method": "tiers",
        "seed": None,
        "generated": 3,
        "scenarios": 3,
        "reduced": False,
        "reduction": None,
    }
    assert expanded.uncertainty is None
    assert [s.name for s in expanded.scenarios] == ["conservative", "optimistic", "aggressive"]
    assert [s.probability for s in expanded.scenarios] == pytest.approx([0.5, 0.35, 0.15])
    assert math.fsum(s.probability for s in expanded.scenarios) == 1.0
    expected = {
        ("cushion", "live"): [48_000, 72_000, 100_000],
        ("cushion", "shop"): [24_000, 36_000, 50_000],
        ("blush", "live"): [30_000, 45_000, 62_500],
        ("blush", "shop"): [18_000, 27_000, 37_500],
    }
    for (sku, channel), quantities in expected.items():
        assert demand_of(expanded, sku, channel) == pytest.approx(quantities, rel=1e-12)
    for s in expanded.scenarios:
        assert {(d.day, d.end_day) for d in s.demand} == {(2, 6)}
        assert math.fsum(d.quantity for d in s.demand) == pytest.approx(
            {"conservative": 120_000, "optimistic": 180_000, "aggressive": 250_000}[s.name]
        )


def test_sku_tiers_with_the_same_name_form_one_scenario() -> None:
    expanded, meta = expand(request({"sku_tiers": SKU_TIERS}))
    assert meta is not None and (meta["source"], meta["method"]) == ("sku_tiers", "tiers")
    assert [(s.name, s.probability) for s in expanded.scenarios] == [("low", 0.6), ("high", 0.4)]
    assert demand_of(expanded, "cushion", "live") == [100, 300]
    assert demand_of(expanded, "blush", "shop") == [40, 80]
    blush = [d for s in expanded.scenarios for d in s.demand if d.sku == "blush"]
    assert {(d.day, d.end_day) for d in blush} == {(1, 4)}


def test_explicit_scenarios_pass_through() -> None:
    raw = request(
        None,
        scenarios=[{"name": "base", "probability": 1, "demand": []}],
    )
    del raw["uncertainty"]
    req = validate_request(raw)
    assert expand_scenarios(req) == (req, None)


# ---- quantiles ----------------------------------------------------------------------------------


def test_normal_quantiles_keep_mean_and_spread() -> None:
    n = 200
    expanded, meta = expand(request(distributions(NORMAL, scenarios=n)))
    assert meta == {
        "source": "distributions",
        "method": "quantiles",
        "seed": None,
        "generated": n,
        "scenarios": n,
        "reduced": False,
        "reduction": None,
    }
    assert [s.name for s in expanded.scenarios] == [f"q{i:03d}" for i in range(n)]
    assert all(s.probability == pytest.approx(1 / n, rel=1e-12) for s in expanded.scenarios)
    assert math.fsum(s.probability for s in expanded.scenarios) == 1.0
    demand = np.array(demand_of(expanded, "cushion", "live"))
    assert demand.mean() == pytest.approx(50, abs=1e-9)  # symmetric levels: the mean is exact
    # midpoint quantiles cut the tails a little: std 7.974 at n = 200, 7.949 at n = 100
    assert demand.std() == pytest.approx(8, rel=0.005)
    assert np.all(np.diff(demand) > 0)


def test_quantile_scenarios_are_comonotone() -> None:
    expanded, _ = expand(request(distributions(NORMAL, POISSON, EMPIRICAL, scenarios=8)))
    for sku, channel in (("cushion", "live"), ("blush", "shop"), ("blush", "live")):
        assert np.all(np.diff(demand_of(expanded, sku, channel)) >= 0)


def test_poisson_quantiles_are_whole_units_with_the_pmf() -> None:
    n = 1000
    expanded, _ = expand(request(distributions(POISSON, scenarios=n)))
    demand = np.array(demand_of(expanded, "blush", "shop"))
    assert np.array_equal(demand, np.round(demand))
    # share of scenarios at or below 7 and 8 = Poisson(6) cdf rounded to 1 / n
    assert np.mean(demand <= 7) == pytest.approx(0.744, abs=1e-3)
    assert np.mean(demand <= 8) == pytest.approx(0.847, abs=1e-3)


def test_normal_quantiles_are_truncated_at_zero() -> None:
    wide = {**NORMAL, "mean": 5, "std": 10}
    expanded, _ = expand(request(distributions(wide, scenarios=10)))
    demand = demand_of(expanded, "cushion", "live")
    assert min(demand) == 0 and max(demand) > 0
    assert all(d.quantity > 0 for s in expanded.scenarios for d in s.demand)


def test_empirical_quantiles_follow_the_hazen_rule() -> None:
    # one scenario per past event: the scenarios are the sample itself
    expanded, _ = expand(request(distributions(EMPIRICAL, scenarios=4)))
    assert demand_of(expanded, "blush", "live") == [10, 20, 30, 60]
    # finer: the mean of the discretisation tends to the sample mean (30)
    expanded, _ = expand(request(distributions(EMPIRICAL, scenarios=400)))
    assert np.mean(demand_of(expanded, "blush", "live")) == pytest.approx(30, abs=0.01)


# ---- sampling and reduction ---------------------------------------------------------------------


def _sampled(n: int, max_scenarios: int, seed: int = 7) -> tuple[PlanRequest, dict[str, Any]]:
    expanded, meta = expand(
        request(
            distributions(
                NORMAL,
                POISSON,
                EMPIRICAL,
                method="sampling",
                scenarios=n,
                max_scenarios=max_scenarios,
                seed=seed,
            )
        )
    )
    assert meta is not None
    return expanded, meta


def test_sampling_is_reproducible_with_the_seed() -> None:
    first, meta = _sampled(50, 100)
    again, _ = _sampled(50, 100)
    other, _ = _sampled(50, 100, seed=8)
    assert first.scenarios == again.scenarios
    assert first.scenarios != other.scenarios
    assert meta == {
        "source": "distributions",
        "method": "sampling",
        "seed": 7,
        "generated": 50,
        "scenarios": 50,
        "reduced": False,
        "reduction": None,
    }
    assert [s.name for s in first.scenarios] == [f"s{i:03d}" for i in range(50)]
    assert math.fsum(s.probability for s in first.scenarios) == 1.0
    # the empirical draws are past events
    assert set(demand_of(first, "blush", "live")) <= {10, 20, 30, 60}


def test_sampling_reduces_to_max_scenarios_keeping_the_mean() -> None:
    drawn, _ = _sampled(600, 1000)
    reduced, meta = _sampled(600, 25)
    again, _ = _sampled(600, 25)
    assert meta == {
        "source": "distributions",
        "method": "sampling",
        "seed": 7,
        "generated": 600,
        "scenarios": 25,
        "reduced": True,
        "reduction": "k-means on demand vectors",
    }
    assert reduced.scenarios == again.scenarios
    assert len(reduced.scenarios) == 25
    probability = [s.probability for s in reduced.scenarios]
    assert math.fsum(probability) == 1.0
    # a cluster's probability is its share of the draws, its demand their mean
    assert all(round(p * 600) == pytest.approx(p * 600, abs=1e-6) for p in probability)
    for sku, channel in (("cushion", "live"), ("blush", "shop"), ("blush", "live")):
        mean_drawn = np.mean(demand_of(drawn, sku, channel))
        mean_reduced = np.dot(probability, demand_of(reduced, sku, channel))
        assert mean_reduced == pytest.approx(mean_drawn, rel=1e-9)
    totals = [math.fsum(d.quantity for d in s.demand) for s in reduced.scenarios]
    assert totals == sorted(totals)


def test_reduction_of_few_distinct_draws_is_exact() -> None:
    draws = np.random.default_rng(0).poisson(2.0, (500, 1)).astype(float)
    centres, probability = reduce_scenarios(draws, 50, seed=0)
    values, counts = np.unique(draws, return_counts=True)
    assert np.array_equal(centres[:, 0], values)
    assert np.allclose(probability, counts / 500)


def test_kmeans_is_deterministic_and_keeps_every_cluster() -> None:
    points = np.random.default_rng(3).normal(100, 20, (400, 3))
    centres, probability = reduce_scenarios(points, 40, seed=11)
    again = reduce_scenarios(points, 40, seed=11)
    assert np.array_equal(centres, again[0]) and np.array_equal(probability, again[1])
    assert len(centres) == 40 and np.all(probability > 0)
    assert probability.sum() == pytest.approx(1.0, abs=1e-12)
    assert probability @ centres == pytest.approx(points.mean(axis=0), rel=1e-9)


# ---- through the pipeline -----------------------------------------------------------------------


def test_plans_from_tiers_list_the_generated_scenarios() -> None:
    raw = request()
    plan = solve(raw)
    assert plan["status"] == "optimal"
    # the independent checker, given the expanded request, finds the plan consistent
    assert check_plan(expand(raw)[0], plan) == []
    assert [(s["name"], s["probability"]) for s in plan["scenarios"]] == [
        ("conservative", 0.5),
        ("optimistic", 0.35),
        ("aggressive", pytest.approx(0.15, abs=1e-15)),
    ]
    assert [s["demand"] for s in plan["scenarios"]] == pytest.approx([120_000, 180_000, 250_000])
    assert plan["uncertainty"]["source"] == "campaign_tiers"


def test_plans_from_sampled_distributions_list_the_reduced_scenarios() -> None:
    raw = request(
        distributions(NORMAL, POISSON, EMPIRICAL, method="sampling", scenarios=60, max_scenarios=6)
    )
    plan = solve(raw)
    assert plan["status"] == "optimal"
    assert check_plan(expand(raw)[0], plan) == []
    assert [s["name"] for s in plan["scenarios"]] == [f"s{i:03d}" for i in range(6)]
    assert math.fsum(s["probability"] for s in plan["scenarios"]) == pytest.approx(1, abs=1e-12)
    assert plan["uncertainty"] == {
        "source": "distributions",
        "method": "sampling",
        "seed": 0,
        "generated": 60,
        "scenarios": 6,
        "reduced": True,
        "reduction": "k-means on demand vectors",
    }


# ---- published newsvendor answers (Snyder & Shen, Fundamentals of Supply Chain Theory) ----------

# Published figures (stockpyl 1.0.2 tests; shared/bench/stockpyl_snyder_shen/expected_answers.json)
EXAMPLE_4_3 = {"S_opt": 56.603955927433887, "g_opt": 1.997605193176645}
EXAMPLE_4_7 = {"S_opt": 8, "g_opt": 3.570106945770946}


def newsvendor(demand: dict[str, Any], holding: float, stockout: float, n: int) -> dict[str, Any]:
    """One SKU, one warehouse, one channel, one day: the newsvendor as an ordinary plan request.

    Nothing on hand; the stock level S is a same-day order (lead 0) from a supplier at unit
    cost 0, so the plan's cost is h per unit left at the end of day 0 (the warehouse's holding
    cost; salvage 0) plus p per unit of demand lost (the SKU's lost-sale penalty):
    g(S) = E[h (S - D)+ + p (D - S)+]. Demand D is a distribution discretised into n quantile
    scenarios.
    """
    return {
        "name": "newsvendor",
        "horizon_days": 1,
        "warehouses": [{"id": "store", "holding_cost": holding}],
        "suppliers": [{"id": "vendor", "deliver_to": ["store"], "lead_days": 0}],
        "skus": [{"id": "item", "unit_cost": 0, "price": 0, "lost_sale_penalty": stockout}],
        "channels": [
            {
                "id": "buyers",
                "promise_days": 0,
                "fulfilment": [{"warehouse": "store", "delivery_days": 0}],
            }
        ],
        "uncertainty": {
            "distributions": [{"sku": "item", "channel": "buyers", **demand}],
            "method": "quantiles",
            "scenarios": n,
        },
    }


def stock_level(plan: dict[str, Any]) -> int:
    return sum(o["quantity"] for o in plan["orders"])


def test_newsvendor_example_4_3_normal() -> None:
    """Normal(50, 8), h = 0.18, p = 0.70: S* = 56.604, g(S*) = 1.99761.

    Orders are whole units, so the plan stocks 57 (or 56). That costs under 1% more: g is
    convex with g'(S*) = 0 and g''(S) = (h + p) f(S) <= (h + p) / (8 sqrt(2 pi)) = 0.0439, so
    g(S) - g(S*) <= 0.0439 / 2 * 0.604**2 = 0.008 (0.4%) for either neighbour (0.12% for 57).
    200 midpoint quantiles put the discretised cost within 0.05% of the true one near S*.
    """
    plan = solve(newsvendor({"kind": "normal", "mean": 50, "std": 8}, 0.18, 0.70, 200))
    assert plan["status"] == "optimal"
    assert len(plan["scenarios"]) == 200
    assert abs(stock_level(plan) - EXAMPLE_4_3["S_opt"]) <= 1
    assert plan["objective"] == pytest.approx(EXAMPLE_4_3["g_opt"], rel=0.01)
    assert plan["costs"]["purchase"] == 0
    assert plan["costs"]["holding"] + plan["costs"]["lost_sales"] == pytest.approx(
        plan["objective"], abs=1e-9
    )


def test_newsvendor_example_4_7_poisson() -> None:
    """Poisson(6), h = 1, p = 4: critical ratio p / (h + p) = 0.8; F(7) = 0.744 < 0.8 <= F(8) =
    0.847, so S* = 8 exactly. 1000 quantile scenarios carry the pmf rounded to 1/1000."""
    plan = solve(newsvendor({"kind": "poisson", "mean": 6}, 1.0, 4.0, 1000))
    assert plan["status"] == "optimal"
    assert stock_level(plan) == EXAMPLE_4_7["S_opt"]
    assert plan["objective"] == pytest.approx(EXAMPLE_4_7["g_opt"], rel=0.01)


def test_newsvendor_figures_match_the_bench_file() -> None:
    bench = Path(
        os.environ.get("PLANNER_BENCH_DIR")
        or Path(__file__).resolve().parents[1].parent / "shared" / "bench"
    )
    answers = bench / "stockpyl_snyder_shen" / "expected_answers.json"
    if not answers.is_file():
        pytest.skip(f"{answers} not found: set PLANNER_BENCH_DIR to the shared/bench folder")
    rows = json.loads(answers.read_text(encoding="utf-8"))["newsvendor"]
    by_instance = {(r["instance"], r["model"].split(",")[0]): r for r in rows if "S_opt" in r}
    for name, published in (("example_4_3", EXAMPLE_4_3), ("example_4_7", EXAMPLE_4_7)):
        row = by_instance[name, "newsvendor"]
        assert (row["S_opt"], row["g_opt"]) == (published["S_opt"], published["g_opt"])
