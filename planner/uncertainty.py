"""Demand uncertainty as planners state it (tiers, distributions) -> weighted scenarios.

A request gives either explicit ``scenarios`` or ``uncertainty``; :func:`expand_scenarios`
turns the latter into explicit :class:`~planner.schema.Scenario` objects before planning, and
:func:`uncertainty_problems` is the validation of ``uncertainty`` (called by
:func:`planner.validation.validate_request`, every problem named by its JSON path).

Methods (deterministic: the same request always gives the same scenarios)

Tiers (``method = "tiers"``)
    One scenario per tier name, with the tier's probability. ``campaign_tiers``: the campaign
    total of the tier times each (sku, channel) share. ``sku_tiers``: the rows' tiers with the
    same name form one joint scenario (so every row must list the same names with the same
    probabilities). Demand of a row is spread evenly over its ``day..end_day``.

Quantiles (``method = "quantiles"``, distributions, n = ``uncertainty.scenarios``)
    Scenario i (named ``q000``, ``q001``...) puts every distribution at the same level
    u_i = (i + 0.5) / n (comonotone: all SKU x channel demands high or low together), with
    probability 1 / n. Normal: the normal quantile truncated at 0. Poisson: scipy's
    ``poisson.ppf`` (whole units). Empirical: the sample's quantile by the Hazen rule (numpy
    ``method="hazen"``: linear between the sorted values placed at levels (k - 0.5) / m,
    flat beyond the ends), so with n equal to the sample size the scenarios are exactly the
    sample, and the quantile function's mean is the sample mean. The count is used as given
    (no reduction): quantile scenarios are already the cheapest faithful summary.

Sampling (``method = "sampling"``, distributions, n = ``uncertainty.scenarios``)
    n independent draws of every distribution with ``numpy.random.default_rng(seed)``
    (in the order the distributions are listed: normal truncated at 0, Poisson, empirical by
    drawing past events with replacement), each draw a scenario ``s000``... of probability
    1 / n. If n exceeds ``max_scenarios`` the draws are reduced to ``max_scenarios`` by
    k-means on the demand vectors (one coordinate per distribution; k-means++ start with a
    generator seeded by ``seed``, then Lloyd iterations to a fixed point): each cluster becomes
    one scenario whose demand is the mean of its draws and whose probability is its share of
    the draws. Identical draws are merged first, so when there are no more distinct draws
    than ``max_scenarios`` the reduction is exact. Reduced scenarios are named ``s000``... in
    increasing order of total demand.

Probabilities of the generated scenarios sum to exactly 1: the last one is 1 minus the
(correctly rounded) sum of the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from scipy import stats

from planner.schema import (
    CampaignTiers,
    DemandDistribution,
    DemandRow,
    DiscretisationMethod,
    DistributionKind,
    PlanRequest,
    Scenario,
    SkuTiers,
    TierLevel,
    Uncertainty,
)
from planner.validation_types import FieldError

PROBABILITY_TOLERANCE = 1e-6
# numpy's Poisson sampler refuses means near 2**63; demand far below that is already absurd.
MAX_POISSON_MEAN = 1e12
KMEANS_MAX_ITERATIONS = 300
REDUCTION = "k-means on demand vectors"
_SOURCES = ("campaign_tiers", "sku_tiers", "distributions")


# ---- validation -------------------------------------------------------------------------------


def uncertainty_problems(request: PlanRequest) -> Iterable[FieldError]:
    """Problems in request.uncertainty, each with its JSON path."""
    u = request.uncertainty
    if u is None:
        return []
    return list(_problems(request, u))


def _problems(r: PlanRequest, u: Uncertainty) -> Iterable[FieldError]:
    base = "$.uncertainty"
    given = [name for name in _SOURCES if getattr(u, name) is not None]
    if len(given) != 1:
        got = f" (got {' and '.join(given)})" if given else ""
        yield FieldError(base, f"give exactly one of campaign_tiers, sku_tiers, distributions{got}")
    if u.seed < 0:
        yield FieldError(f"{base}.seed", "seed must be 0 or more")

    skus = {s.id for s in r.skus}
    channels = {c.id for c in r.channels}
    horizon = r.horizon_days

    def references(sku: str, channel: str, path: str) -> Iterable[FieldError]:
        if sku not in skus:
            yield FieldError(f"{path}.sku", f"unknown sku {sku!r}")
        if channel not in channels:
            yield FieldError(f"{path}.channel", f"unknown channel {channel!r}")

    def days(day: int, end_day: int | None, path: str) -> Iterable[FieldError]:
        if day >= horizon:
            yield FieldError(
                f"{path}.day", f"day {day} is outside the horizon (days 0..{horizon - 1})"
            )
        if end_day is not None:
            if end_day >= horizon:
                yield FieldError(
                    f"{path}.end_day",
                    f"day {end_day} is outside the horizon (days 0..{horizon - 1})",
                )
            if end_day < day:
                yield FieldError(f"{path}.end_day", "end_day is before day")

    def pairs(rows: Sequence[Any], path: str) -> Iterable[FieldError]:
        seen: dict[tuple[str, str], int] = {}
        for i, row in enumerate(rows):
            key = (row.sku, row.channel)
            if key in seen:
                yield FieldError(
                    f"{path}[{i}]",
                    f"duplicate sku x channel {row.sku!r} x {row.channel!r} "
                    f"(first at index {seen[key]})",
                )
            else:
                seen[key] = i

    if u.campaign_tiers is not None:
        yield from _campaign_problems(u.campaign_tiers, f"{base}.campaign_tiers", references)
        yield from pairs(u.campaign_tiers.shares, f"{base}.campaign_tiers.shares")
        yield from days(u.campaign_tiers.day, u.campaign_tiers.end_day, f"{base}.campaign_tiers")

    if u.sku_tiers is not None:
        path = f"{base}.sku_tiers"
        if not u.sku_tiers:
            yield FieldError(path, "give at least one SKU x channel row")
        for i, row in enumerate(u.sku_tiers):
            yield from references(row.sku, row.channel, f"{path}[{i}]")
            yield from _tier_list_problems(row.tiers, f"{path}[{i}].tiers")
            yield from days(row.day, row.end_day, f"{path}[{i}]")
        yield from pairs(u.sku_tiers, path)
        yield from _joint_tier_problems(u.sku_tiers, path)

    if u.distributions is not None:
        path = f"{base}.distributions"
        if not u.distributions:
            yield FieldError(path, "give at least one distribution")
        for i, d in enumerate(u.distributions):
            yield from references(d.sku, d.channel, f"{path}[{i}]")
            yield from _distribution_problems(d, f"{path}[{i}]")
            yield from days(d.day, d.end_day, f"{path}[{i}]")


def _tier_list_problems(tiers: Sequence[TierLevel], path: str) -> Iterable[FieldError]:
    seen: dict[str, int] = {}
    for j, tier in enumerate(tiers):
        if tier.name in seen:
            yield FieldError(
                f"{path}[{j}].name",
                f"duplicate tier {tier.name!r} (first at index {seen[tier.name]})",
            )
        else:
            seen[tier.name] = j
    total = math.fsum(t.probability for t in tiers)
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        yield FieldError(path, f"tier probabilities sum to {total:.6g}, not 1")


def _campaign_problems(
    c: CampaignTiers, path: str, references: Callable[[str, str, str], Iterable[FieldError]]
) -> Iterable[FieldError]:
    yield from _tier_list_problems(c.tiers, f"{path}.tiers")
    for i, share in enumerate(c.shares):
        yield from references(share.sku, share.channel, f"{path}.shares[{i}]")
    total = math.fsum(s.share for s in c.shares)
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        yield FieldError(f"{path}.shares", f"shares sum to {total:.6g}, not 1")


def _joint_tier_problems(rows: Sequence[SkuTiers], path: str) -> Iterable[FieldError]:
    """Tiers of the same name across rows form one scenario: every row lists the same names
    with the same probabilities as row 0."""
    if not rows:
        return
    first = {t.name: t.probability for t in rows[0].tiers}
    names = ", ".join(repr(n) for n in first)
    for i, row in enumerate(rows[1:], start=1):
        listed = set()
        for j, tier in enumerate(row.tiers):
            listed.add(tier.name)
            tier_path = f"{path}[{i}].tiers[{j}]"
            if tier.name not in first:
                yield FieldError(
                    f"{tier_path}.name",
                    f"unknown tier {tier.name!r}: row 0 has {names} "
                    "(tiers with the same name across rows form one scenario)",
                )
            elif abs(tier.probability - first[tier.name]) > PROBABILITY_TOLERANCE:
                yield FieldError(
                    f"{tier_path}.probability",
                    f"tier {tier.name!r} has probability {tier.probability:g} here but "
                    f"{first[tier.name]:g} in row 0: one tier is one scenario",
                )
        missing = [n for n in first if n not in listed]
        if missing:
            yield FieldError(
                f"{path}[{i}].tiers",
                f"missing tier {', '.join(repr(n) for n in missing)} that row 0 has",
            )


def _distribution_problems(d: DemandDistribution, path: str) -> Iterable[FieldError]:
    kind = d.kind.value
    if d.kind in (DistributionKind.normal, DistributionKind.poisson) and d.mean is None:
        yield FieldError(f"{path}.mean", f"a {kind} distribution needs mean")
    if d.kind is DistributionKind.normal and d.std is None:
        yield FieldError(f"{path}.std", "a normal distribution needs std")
    if d.kind is DistributionKind.poisson:
        if d.std is not None:
            yield FieldError(
                f"{path}.std", "a poisson distribution takes no std (its variance is its mean)"
            )
        if d.mean is not None and d.mean > MAX_POISSON_MEAN:
            yield FieldError(
                f"{path}.mean", f"a poisson mean above {MAX_POISSON_MEAN:g} is not supported"
            )
    if d.kind is not DistributionKind.empirical and d.sample is not None:
        yield FieldError(f"{path}.sample", "only an empirical distribution takes a sample")
    if d.kind is DistributionKind.empirical:
        if not d.sample:
            yield FieldError(
                f"{path}.sample",
                "an empirical distribution needs a non-empty sample of past events",
            )
        for name in ("mean", "std"):
            if getattr(d, name) is not None:
                yield FieldError(
                    f"{path}.{name}",
                    f"an empirical distribution takes no {name}: it comes from the sample",
                )


# ---- expansion --------------------------------------------------------------------------------


def expand_scenarios(request: PlanRequest) -> tuple[PlanRequest, dict[str, Any] | None]:
    """The request with explicit scenarios, and how they were made (None if given).

    ``request`` must have passed :func:`planner.validation.validate_request`.
    """
    u = request.uncertainty
    if u is None:
        return request, None
    if u.campaign_tiers is not None:
        scenarios = _campaign_scenarios(u.campaign_tiers)
        meta = _metadata("campaign_tiers", "tiers", None, len(scenarios), len(scenarios))
    elif u.sku_tiers is not None:
        scenarios = _sku_tier_scenarios(u.sku_tiers)
        meta = _metadata("sku_tiers", "tiers", None, len(scenarios), len(scenarios))
    elif u.distributions is not None:
        scenarios, meta = _distribution_scenarios(u)
    else:  # validation rejects this
        raise ValueError("uncertainty gives none of campaign_tiers, sku_tiers, distributions")
    expanded = request.model_copy(update={"scenarios": scenarios, "uncertainty": None})
    return expanded, meta


def _metadata(
    source: str, method: str, seed: int | None, generated: int, used: int
) -> dict[str, Any]:
    reduced = used < generated
    return {
        "source": source,
        "method": method,
        "seed": seed,
        "generated": generated,
        "scenarios": used,
        "reduced": reduced,
        "reduction": REDUCTION if reduced else None,
    }


def exact_probabilities(weights: Sequence[float]) -> list[float]:
    """Weights normalised to probabilities whose sum is exactly 1 (the last absorbs rounding)."""
    total = math.fsum(weights)
    out = [w / total for w in weights]
    out[-1] = 1.0 - math.fsum(out[:-1])
    return out


def _row(sku: str, channel: str, day: int, end_day: int | None, quantity: float) -> DemandRow:
    return DemandRow(sku=sku, channel=channel, day=day, end_day=end_day, quantity=quantity)


def _campaign_scenarios(c: CampaignTiers) -> list[Scenario]:
    probability = exact_probabilities([t.probability for t in c.tiers])
    return [
        Scenario(
            name=tier.name,
            probability=p,
            demand=[
                _row(s.sku, s.channel, c.day, c.end_day, tier.quantity * s.share)
                for s in c.shares
                if tier.quantity * s.share > 0
            ],
        )
        for tier, p in zip(c.tiers, probability, strict=True)
    ]


def _sku_tier_scenarios(rows: Sequence[SkuTiers]) -> list[Scenario]:
    names = [t.name for t in rows[0].tiers]
    probability = exact_probabilities([t.probability for t in rows[0].tiers])
    quantity = [{t.name: t.quantity for t in row.tiers} for row in rows]
    return [
        Scenario(
            name=name,
            probability=p,
            demand=[
                _row(row.sku, row.channel, row.day, row.end_day, q[name])
                for row, q in zip(rows, quantity, strict=True)
                if q[name] > 0
            ],
        )
        for name, p in zip(names, probability, strict=True)
    ]


def _distribution_scenarios(u: Uncertainty) -> tuple[list[Scenario], dict[str, Any]]:
    dists = u.distributions or []
    n = u.scenarios
    if u.method is DiscretisationMethod.quantiles:
        levels = (np.arange(n) + 0.5) / n
        columns = [_quantiles(d, levels) for d in dists]
        matrix = np.column_stack(columns) if columns else np.zeros((n, 0))
        weights = np.full(n, 1.0 / n)
        prefix, seed, used = "q", None, n
    else:
        rng = np.random.default_rng(u.seed)
        columns = [_draws(d, n, rng) for d in dists]
        matrix = np.column_stack(columns) if columns else np.zeros((n, 0))
        weights = np.full(n, 1.0 / n)
        if n > u.max_scenarios:
            matrix, weights = reduce_scenarios(matrix, u.max_scenarios, u.seed)
        prefix, seed, used = "s", u.seed, len(weights)
    probability = exact_probabilities(weights.tolist())
    width = max(3, len(str(used - 1)))
    scenarios = [
        Scenario(
            name=f"{prefix}{i:0{width}d}",
            probability=probability[i],
            demand=[
                _row(d.sku, d.channel, d.day, d.end_day, float(matrix[i, j]))
                for j, d in enumerate(dists)
                if matrix[i, j] > 0
            ],
        )
        for i in range(used)
    ]
    method = "quantiles" if u.method is DiscretisationMethod.quantiles else "sampling"
    return scenarios, _metadata("distributions", method, seed, n, used)


def _quantiles(d: DemandDistribution, levels: np.ndarray) -> np.ndarray:
    """The distribution's quantiles at the given levels (each in (0, 1))."""
    if d.kind is DistributionKind.normal:
        mean, std = float(d.mean or 0.0), float(d.std or 0.0)
        if std == 0:
            return np.full(len(levels), max(0.0, mean))
        return np.maximum(0.0, stats.norm.ppf(levels, loc=mean, scale=std))
    if d.kind is DistributionKind.poisson:
        mean = float(d.mean or 0.0)
        if mean == 0:
            return np.zeros(len(levels))
        return np.asarray(stats.poisson.ppf(levels, mean), dtype=float)
    sample = np.asarray(d.sample, dtype=float)
    return np.asarray(np.quantile(sample, levels, method="hazen"), dtype=float)


def _draws(d: DemandDistribution, n: int, rng: np.random.Generator) -> np.ndarray:
    if d.kind is DistributionKind.normal:
        return np.maximum(0.0, rng.normal(float(d.mean or 0.0), float(d.std or 0.0), n))
    if d.kind is DistributionKind.poisson:
        return rng.poisson(float(d.mean or 0.0), n).astype(float)
    return rng.choice(np.asarray(d.sample, dtype=float), size=n, replace=True)


# ---- reduction --------------------------------------------------------------------------------


def reduce_scenarios(points: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted k-means of equally likely demand vectors (rows of ``points``) to at most k.

    Returns (centres, probabilities): each centre is the mean of the rows in its cluster and its
    probability the cluster's share of the rows; sorted by total demand (then lexicographically).
    Deterministic: identical rows are merged, k-means++ starts from ``default_rng(seed)``, Lloyd
    iterations run until no row changes cluster.
    """
    unique, counts = np.unique(points, axis=0, return_counts=True)
    mass = counts / counts.sum()
    if len(unique) <= k:
        centres, probability = unique, mass
    else:
        labels = _kmeans(unique, mass, k, np.random.default_rng(seed))
        centres = np.zeros((k, points.shape[1]))
        probability = np.bincount(labels, weights=mass, minlength=k)
        for j in range(points.shape[1]):
            centres[:, j] = np.bincount(labels, weights=mass * unique[:, j], minlength=k)
        keep = probability > 0
        centres = centres[keep] / probability[keep, None]
        probability = probability[keep]
    order = np.lexsort((*centres.T[::-1], centres.sum(axis=1)))
    return centres[order], probability[order]


def _sq_distances(points: np.ndarray, centres: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Squared Euclidean distances, elementwise (no matrix-product rounding), in row chunks."""
    out = np.empty((len(points), len(centres)))
    for start in range(0, len(points), chunk):
        block = points[start : start + chunk, None, :] - centres[None, :, :]
        out[start : start + chunk] = np.einsum("ijk,ijk->ij", block, block)
    return out


def _kmeans(points: np.ndarray, mass: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Cluster labels of distinct weighted points (more than k of them) into k clusters."""
    n = len(points)
    # k-means++ start: each next centre drawn with probability ~ mass x squared distance
    chosen = [int(rng.choice(n, p=mass))]
    nearest = _sq_distances(points, points[chosen[-1] : chosen[-1] + 1])[:, 0]
    for _ in range(1, k):
        weight = mass * nearest
        chosen.append(int(rng.choice(n, p=weight / weight.sum())))
        fresh = _sq_distances(points, points[chosen[-1] : chosen[-1] + 1])[:, 0]
        nearest = np.minimum(nearest, fresh)
    centres = points[chosen].copy()
    labels = np.full(n, -1)
    for _ in range(KMEANS_MAX_ITERATIONS):
        distances = _sq_distances(points, centres)
        new = np.argmin(distances, axis=1)
        # an empty cluster takes the point worst served by its centre (from a cluster of 2+)
        counts = np.bincount(new, minlength=k)
        for j in np.flatnonzero(counts == 0):
            cost = mass * distances[np.arange(n), new]
            cost[counts[new] <= 1] = -1.0
            worst = int(np.argmax(cost))
            counts[new[worst]] -= 1
            counts[j] += 1
            new[worst] = j
        if np.array_equal(new, labels):
            break
        labels = new
        total = np.bincount(labels, weights=mass, minlength=k)
        for j in range(points.shape[1]):
            centres[:, j] = np.bincount(labels, weights=mass * points[:, j], minlength=k) / total
    return labels
