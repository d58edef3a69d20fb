"""The vectorised build is the Pyomo model: same matrix, same optimum, same plan.

For every request :func:`models.network_plan_arrays.supports` (the instances, synthetic sizes
and seeds, the hand-solved requests and variants turning on every core rule), the arrays are
compared with ``compile_pyomo(build_network_plan(...))`` after mapping columns and rows by
(family, index): same column set, bounds, integrality, costs and offset; same rows up to
scaling and sign. The hand-off is in fact identical, column and row order included (so HiGHS
gets the same input), which is asserted too. Then both are solved, and the pipeline's plans
compared by plan_hash.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyomo.environ as pyo
import pytest
from conftest import hand_solved_request, two_warehouse_request
from pyomo.common.errors import InfeasibleConstraintException

from models.data import NetworkData
from models.network_plan import build_network_plan, decision_index
from models.network_plan_arrays import build_network_arrays, supports
from planner.build import build_model, chosen_build
from planner.pipeline import run
from planner.prepare import network_data
from planner.schema import PreviousPlan
from planner.synthetic import synthetic_request
from planner.uncertainty import expand_scenarios
from planner.validation import validate_request
from solvers import SolveOptions, get_solver
from solvers.matrix import MatrixModel, compile_pyomo

INSTANCES = sorted((Path(__file__).resolve().parents[1] / "instances").glob("*.json"))
SOLVE = SolveOptions(time_limit=None)


def data_of(raw: dict[str, Any]) -> NetworkData:
    request, _ = expand_scenarios(validate_request(raw))
    return network_data(request)


@functools.cache
def instance(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def newsvendor_with_every_rule() -> dict[str, Any]:
    """Two SKUs, two warehouses, a supplier with a minimum order, a daily cap and a window,
    a capped warehouse, service levels of both kinds and safety stock."""
    return {
        "horizon_days": 4,
        "warehouses": [{"id": "W", "capacity": 60, "holding_cost": 0.1}, {"id": "V"}],
        "suppliers": [
            {
                "id": "f",
                "deliver_to": ["W", "V"],
                "lead_days": 1,
                "min_order": 5,
                "capacity_per_day": 40,
                "capacity_windows": [{"start_day": 0, "end_day": 1, "capacity": 50}],
            }
        ],
        "lanes": [{"from": "W", "to": "V", "lead_days": 1, "unit_cost": 0.5, "fixed_cost": 2}],
        "stock": [{"sku": "a", "warehouse": "W", "quantity": 6}],
        "skus": [
            {"id": "a", "unit_cost": 5, "price": 9, "tier": "A"},
            {"id": "c", "unit_cost": 5, "price": 7, "tier": "C"},
        ],
        "channels": [
            {
                "id": "shop",
                "promise_days": 2,
                "fulfilment": [
                    {"warehouse": "W", "delivery_days": 1},
                    {"warehouse": "V", "delivery_days": 2, "unit_cost": 0.3},
                ],
            }
        ],
        "scenarios": [
            {
                "name": name,
                "probability": p,
                "demand": [
                    {"sku": k, "channel": "shop", "day": d, "quantity": q}
                    for k in ("a", "c")
                    for d in (2, 3)
                ],
            }
            for name, p, q in (("low", 0.3, 4), ("mid", 0.4, 8), ("high", 0.3, 13))
        ],
        "policy": {
            "service_levels": {"A": {"fill_rate": 0.9}, "C": {"no_stockout_probability": 0.6}},
            "safety_stock": [{"warehouse": "W", "sku": "a", "days": 1}],
        },
    }


def with_pools_and_premiums(data: NetworkData) -> NetworkData:
    """Channel pools (12) and lost-sale premiums: rules the request format sets only with an
    event, set here on the data directly."""
    channels = data.channels
    pool = {c: ("live" if i % 2 == 0 else "rest") for i, c in enumerate(channels)}
    limits = {
        (k, w, g): 3.0 + i
        for i, (k, w, g) in enumerate(
            (k, w, g) for k in data.skus for w in data.warehouses for g in ("live", "rest")
        )
        if i % 3
    }
    premium = {(k, c): 1.5 for k in data.skus[::2] for c in channels[::2]}
    return dataclasses.replace(
        data, channel_pool=pool, pool_limit=limits, lost_sale_premium=premium
    )


def with_booked_days(raw: dict[str, Any]) -> dict[str, Any]:
    """Every other lane booked ahead on days 0 and 2: no fee on those days."""
    for lane in raw["lanes"][::2]:
        lane["booked_days"] = [0, 2]
    return raw


def cases() -> list[Any]:
    out = []
    for path in INSTANCES:
        out.append(pytest.param(lambda path=path: data_of(instance(path)), id=path.stem))
    for size in ((3, 2, 2, 1), (8, 3, 3, 2), (15, 4, 3, 3)):
        for seed in (0, 1, 2):
            out.append(
                pytest.param(
                    lambda size=size, seed=seed: data_of(synthetic_request(*size, seed=seed)),
                    id=f"synthetic-{'x'.join(map(str, size))}-seed{seed}",
                )
            )
    out += [
        pytest.param(lambda: data_of(hand_solved_request()), id="hand-solved"),
        pytest.param(lambda: data_of(two_warehouse_request()), id="two-warehouse"),
        pytest.param(
            lambda: data_of(two_warehouse_request(policy={"serve_all_demand": True})),
            id="serve-all",
        ),
        pytest.param(lambda: data_of(newsvendor_with_every_rule()), id="every-core-rule"),
        pytest.param(
            lambda: with_pools_and_premiums(data_of(synthetic_request(6, 3, 4, 2, seed=3))),
            id="pools-and-premiums",
        ),
        pytest.param(
            lambda: data_of(with_booked_days(synthetic_request(8, 3, 3, 2, seed=4))),
            id="booked-days",
        ),
    ]
    return out


def column_keys(matrix: MatrixModel) -> list[tuple[str, Any]]:
    return [(v.parent_component().local_name, v.index()) for v in matrix.columns]


def row_keys(model: pyo.ConcreteModel, matrix: MatrixModel) -> list[tuple[str, Any]]:
    by_name = {
        con.name: (con.parent_component().local_name, con.index())
        for con in model.component_data_objects(pyo.Constraint, active=True)
    }
    return [by_name[name] for name in matrix.row_names]


def normalised_rows(
    matrix: MatrixModel, rows: list[tuple[str, Any]], cols: list[tuple[str, Any]]
) -> dict[tuple[str, Any], tuple[dict, float, float]]:
    """Each row as {column key: coefficient}, lower, upper; scaled so that its coefficient of
    the smallest column key is 1 (a row times -1 swaps and negates its bounds)."""
    csr = matrix.A.tocsr()
    out = {}
    for i, key in enumerate(rows):
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        coef = {cols[j]: v for j, v in zip(csr.indices[lo:hi], csr.data[lo:hi], strict=True)}
        pivot = coef[min(coef, key=repr)]
        lower, upper = matrix.row_lower[i] / pivot, matrix.row_upper[i] / pivot
        if pivot < 0:
            lower, upper = upper, lower
        out[key] = ({k: v / pivot for k, v in coef.items()}, lower, upper)
    return out


def assert_same_model(data: NetworkData, whole_units: bool, fixed: dict | None = None) -> tuple:
    model = build_network_plan(data, whole_units=whole_units)
    for name, values in (fixed or {}).items():
        for index, value in values.items():
            getattr(model, name)[index].fix(value)
    reference = compile_pyomo(model)
    arrays = build_network_arrays(data, whole_units, fixed)
    matrix = arrays.matrix

    # columns: the same set, then the same bounds, integrality and costs column by column
    ref_cols = column_keys(reference)
    our_cols = arrays.column_keys()
    assert set(ref_cols) == set(our_cols)
    assert len(our_cols) == len(set(our_cols))
    position = {key: i for i, key in enumerate(our_cols)}
    perm = np.array([position[key] for key in ref_cols], dtype=np.int64)
    np.testing.assert_array_equal(reference.col_lower, matrix.col_lower[perm])
    np.testing.assert_array_equal(reference.col_upper, matrix.col_upper[perm])
    np.testing.assert_array_equal(reference.integer, matrix.integer[perm])
    np.testing.assert_allclose(reference.c, matrix.c[perm], rtol=1e-12, atol=1e-12)
    assert reference.offset == pytest.approx(matrix.offset, rel=1e-12, abs=1e-9)

    # rows: the same set, each the same up to scaling and sign
    ref_rows = row_keys(model, reference)
    our_rows = [
        (name, fam.keys()[i])
        for name, fam in arrays.rows.items()
        for i in np.argsort(fam.cols)
        if fam.cols[i] >= 0
    ]
    assert len(our_rows) == matrix.num_rows
    assert set(ref_rows) == set(our_rows)
    ref = normalised_rows(reference, ref_rows, ref_cols)
    ours = normalised_rows(matrix, our_rows, our_cols)
    for key, (coef, lower, upper) in ref.items():
        our_coef, our_lower, our_upper = ours[key]
        assert coef.keys() == our_coef.keys(), key
        for col, v in coef.items():
            assert our_coef[col] == pytest.approx(v, rel=1e-12), (key, col)
        assert our_lower == pytest.approx(lower, rel=1e-12, abs=1e-9), key
        assert our_upper == pytest.approx(upper, rel=1e-12, abs=1e-9), key

    # and in fact the very same hand-off: same order, same numbers
    assert our_cols == ref_cols and our_rows == ref_rows
    assert (reference.A != matrix.A).nnz == 0
    np.testing.assert_array_equal(reference.c, matrix.c)
    np.testing.assert_array_equal(reference.row_lower, matrix.row_lower)
    np.testing.assert_array_equal(reference.row_upper, matrix.row_upper)
    return reference, matrix


@pytest.mark.parametrize("make", cases())
@pytest.mark.parametrize("whole_units", [True, False], ids=["whole", "relaxed"])
def test_arrays_build_the_pyomo_model(make: Any, whole_units: bool) -> None:
    data = make()
    if not supports(data):
        pytest.skip("event rules: the Pyomo model only")
    reference, matrix = assert_same_model(data, whole_units)
    # both solve to the same objective: the LP relaxation always, the model itself when small
    # (the pipeline test below solves the instances)
    backend = get_solver("highs")
    pairs = [
        (dataclasses.replace(m, integer=np.zeros_like(m.integer)) for m in (reference, matrix))
    ]
    if matrix.num_cols <= 1_000:
        pairs.append(iter((reference, matrix)))
    for ref_matrix, our_matrix in pairs:
        a = backend.solve(ref_matrix, SOLVE)
        b = backend.solve(our_matrix, SOLVE)
        assert a.termination == b.termination
        if a.has_solution:
            assert b.objective == pytest.approx(a.objective, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("make", cases()[-7:-2])
def test_arrays_fix_variables_as_pyomo_does(make: Any) -> None:
    """Fixed binaries (the quick whole-unit repair) and a fixed first stage (keeping the
    previous plan): fixed columns leave the matrix, their values move into the bounds."""
    data = make()
    index = decision_index(data)
    ones = {"use": dict.fromkeys(index["use"], 1.0), "place": dict.fromkeys(index["place"], 0.0)}
    assert_same_model(data, True, ones)
    first = {"ship": dict.fromkeys(index["ship"], 0.0), "use": dict.fromkeys(index["use"], 0.0)}
    first["order"] = dict.fromkeys(index["order"], 2.0)
    first["place"] = dict.fromkeys(index["place"], 1.0)
    try:
        assert_same_model(data, True, first)
    except InfeasibleConstraintException:  # both must say so
        with pytest.raises(InfeasibleConstraintException):
            compile_pyomo(_fixed_pyomo(data, first))


def _fixed_pyomo(data: NetworkData, fixed: dict) -> pyo.ConcreteModel:
    model = build_network_plan(data, whole_units=True)
    for name, values in fixed.items():
        for index, value in values.items():
            getattr(model, name)[index].fix(value)
    return model


def test_a_broken_fixed_row_is_reported_like_pyomo() -> None:
    data = data_of(newsvendor_with_every_rule())
    index = decision_index(data)
    fixed = {"place": dict.fromkeys(index["place"], 1.0), "order": {}}
    fixed["order"] = dict.fromkeys(index["order"], 0.0)  # placed, but under the minimum
    with pytest.raises(InfeasibleConstraintException):
        compile_pyomo(_fixed_pyomo(data, fixed))
    with pytest.raises(InfeasibleConstraintException):
        build_network_arrays(data, True, fixed)


def test_event_rules_stay_with_pyomo(monkeypatch: pytest.MonkeyPatch) -> None:
    live = data_of(instance(next(p for p in INSTANCES if p.stem == "glowup_live_show")))
    assert not supports(live)
    assert chosen_build(live) == "pyomo"
    assert build_model(live, whole_units=False).kind == "pyomo"
    with pytest.raises(ValueError):
        build_network_arrays(live)
    plain = data_of(hand_solved_request())
    assert chosen_build(plain) == "arrays"
    monkeypatch.setenv("PLANNER_BUILD", "pyomo")
    assert chosen_build(plain) == "pyomo"


PLANS = [
    pytest.param(lambda path=path: instance(path), id=path.stem)
    for path in INSTANCES
    if supports(data_of(instance(path)))
] + [
    # relaxed, then binaries fixed, then the whole-unit search from a MIP start by key
    pytest.param(
        lambda: synthetic_request(4, 2, 2, 2, seed=5), id="synthetic-4x2x2x2-three-phases"
    ),
    pytest.param(hand_solved_request, id="hand-solved"),
    pytest.param(newsvendor_with_every_rule, id="every-core-rule"),
    pytest.param(lambda: with_booked_days(synthetic_request(4, 2, 2, 2, seed=5)), id="booked-days"),
]


@pytest.mark.parametrize("make", PLANS)
def test_pipeline_plans_are_the_same(make: Any) -> None:
    raw = make()
    options = SolveOptions(time_limit=120.0)
    by_pyomo = run(validate_request(raw), options, build="pyomo")
    by_arrays = run(validate_request(raw), options, build="arrays")
    assert {p["build"] for p in by_pyomo["solver"]["phases"]} == {"pyomo"}
    assert {p["build"] for p in by_arrays["solver"]["phases"]} == {"arrays"}
    assert by_arrays["status"] == by_pyomo["status"]
    assert by_arrays["objective"] == pytest.approx(by_pyomo["objective"], rel=1e-9)
    assert by_arrays["plan_hash"] == by_pyomo["plan_hash"]
    assert by_arrays["model"] == by_pyomo["model"]
    phases = [
        {k: v for k, v in p.items() if "seconds" not in k and k != "build"}
        for p in by_arrays["solver"]["phases"]
    ]
    assert phases == [
        {k: v for k, v in p.items() if "seconds" not in k and k != "build"}
        for p in by_pyomo["solver"]["phases"]
    ]
    # a re-plan from the plan just found keeps it, on either build
    request = validate_request(raw)
    again = request.model_copy(update={"previous_plan": PreviousPlan.model_validate(by_pyomo)})
    kept_pyomo = run(again, options, build="pyomo")
    kept_arrays = run(again, options, build="arrays")
    assert kept_arrays["plan_hash"] == kept_pyomo["plan_hash"]
    assert kept_arrays["changes"] == kept_pyomo["changes"]
