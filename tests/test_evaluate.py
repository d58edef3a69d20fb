"""Rule-of-thumb baseline and out-of-sample evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import solve, two_warehouse_request
from test_service_levels import newsvendor

from planner.baseline import (
    FirstStage,
    rule_of_thumb_first_stage,
    rule_of_thumb_targets,
    tiered_quantity,
)
from planner.cli import main
from planner.evaluate import evaluate, fresh_demand, replay
from planner.validation import validate_request


def test_tiered_quantity_is_100_70_30() -> None:
    # SEEDS.md: 100% of conservative 120k, 70% of optimistic 180k, 30% of aggressive 250k,
    # as tiers: 120k + 0.7 * (180k - 120k) + 0.3 * (250k - 180k) = 183k.
    assert tiered_quantity([250_000, 120_000, 180_000]) == pytest.approx(183_000)
    assert tiered_quantity([50]) == 50


def test_replaying_a_plan_on_its_own_scenarios_reproduces_its_objective() -> None:
    raw = newsvendor()
    plan = solve(raw)
    request = validate_request(raw)
    result = replay(request, FirstStage.of_plan(plan), list(request.scenarios))
    assert result["expected_cost"] == pytest.approx(plan["objective"])
    assert result["fill_rate"] == pytest.approx(plan["kpis"]["expected_fill_rate"])


def test_rule_of_thumb_targets_and_execution() -> None:
    # Newsvendor demand 10 / 20 (p = 1/2 each): tiers 10 + 0.7 * 10 = 17 per SKU, all at W
    # (the only warehouse), ordered from the supplier on day 0.
    request = validate_request(newsvendor())
    assert rule_of_thumb_targets(request) == {("a", "W"): 17, ("c", "W"): 17}
    first = rule_of_thumb_first_stage(request)
    assert sorted((o["sku"], o["quantity"]) for o in first.orders) == [("a", 17), ("c", 17)]


def test_rule_of_thumb_moves_surplus_to_warehouses_below_target() -> None:
    # Two-warehouse case: both A and B may serve once the promise is relaxed, target 6 / 2 = 3
    # each; A holds 10, so 3 go to B on the A -> B lane.
    raw = two_warehouse_request()
    raw["channels"][0]["promise_days"] = 6
    first = rule_of_thumb_first_stage(validate_request(raw))
    assert first.transfers == [{"sku": "x", "lane": "A-B-air", "ship_day": 0, "quantity": 3}]


def live_and_shop(live_demand: float) -> dict[str, Any]:
    raw = newsvendor()
    raw["channels"].append(
        {
            "id": "tiktok",
            "kind": "live",
            "promise_days": 2,
            "fulfilment": [{"warehouse": "W", "delivery_days": 1}],
        }
    )
    for scenario in raw["scenarios"]:
        scenario["demand"].append(
            {"sku": "a", "channel": "tiktok", "day": 0, "quantity": live_demand}
        )
    return raw


def test_evaluation_judges_both_plans_on_fresh_demand() -> None:
    raw = live_and_shop(30)
    request = validate_request(raw)
    plan = solve(raw)
    report = evaluate(request, plan, samples=60, seed=5, ws_samples=5)
    optimized, rule = report["optimized"], report["rule_of_thumb"]
    # The optimized plan is judged on draws it never saw and still beats current practice.
    assert optimized["expected_cost"] < rule["expected_cost"]
    assert report["saving_vs_rule_of_thumb"] == pytest.approx(
        rule["expected_cost"] - optimized["expected_cost"]
    )
    assert report["vss"] >= -1e-6
    assert report["evpi"] >= -1e-6  # wait-and-see uses proven bounds: a true lower bound
    for result in (optimized, rule):
        assert 0 <= result["fill_rate"] <= 1
        assert (
            result["spread"]["cost_p05"]
            <= result["expected_cost"]
            <= result["spread"]["cost_p95"] + 1e-6
        )


def test_fresh_demand_is_reproducible_and_differs_from_the_plan_scenarios() -> None:
    request = validate_request(newsvendor())
    first = fresh_demand(request, 20, seed=3, noise=0.3)
    again = fresh_demand(request, 20, seed=3, noise=0.3)
    assert [s.model_dump() for s in first] == [s.model_dump() for s in again]
    quantities = {round(row.quantity, 6) for s in first for row in s.demand}
    assert not quantities <= {10.0, 20.0}  # not the planning scenarios
    assert sum(s.probability for s in first) == pytest.approx(1.0, abs=1e-12)


def test_evaluate_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = newsvendor()
    request_path, plan_path = tmp_path / "r.json", tmp_path / "p.json"
    request_path.write_text(json.dumps(raw))
    plan_path.write_text(json.dumps(solve(raw)))
    code = main(
        [
            "evaluate",
            str(request_path),
            str(plan_path),
            "--samples",
            "30",
            "--ws-samples",
            "3",
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert {"optimized", "rule_of_thumb", "vss", "evpi"} <= set(report)
    assert {"expected_cost", "fill_rate"} <= set(report["optimized"])


def test_evaluate_cli_rejects_a_file_that_is_not_a_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request_path, plan_path = tmp_path / "r.json", tmp_path / "p.json"
    request_path.write_text(json.dumps(newsvendor()))
    plan_path.write_text('{"status": "infeasible"}')
    assert main(["evaluate", str(request_path), str(plan_path)]) == 2
    assert "not a plan" in capsys.readouterr().err
    assert main(["evaluate", str(request_path), str(plan_path), "--samples", "0"]) == 2
